package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// sendFunc sends one message and waits for its acknowledgement.
type sendFunc func(ctx context.Context) error

// loadResult is what measure observed inside its measurement window.
type loadResult struct {
	samples  []time.Duration // latencies of the sends that started and finished inside the window
	errs     int             // failed sends (anywhere, warm-up included)
	firstErr error           // the first failure
	window   time.Duration   // length of the measurement window
	// total counts every successful send, warm-up and edges included: the
	// sends a target's CPU time over the whole call is divided by.
	total int
}

func (r loadResult) count() int       { return len(r.samples) }
func (r loadResult) rate() float64    { return float64(len(r.samples)) / r.window.Seconds() }
func (r loadResult) latency() latency { return summarize(slices.Clone(r.samples)) }

// measure runs every send function in its own goroutine, back to back, for
// warmup+dur. Only sends that start and finish inside [warmup, warmup+dur)
// count, so connection set-up and route lookups stay out of the numbers.
func measure(ctx context.Context, sends []sendFunc, warmup, dur time.Duration) loadResult {
	start := time.Now()
	from, to := start.Add(warmup), start.Add(warmup+dur)
	ctx, cancel := context.WithDeadline(ctx, to.Add(5*time.Second))
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // guards errs, firstErr, all
		errs     int
		firstErr error
		all      []time.Duration
		total    int
	)
	for _, send := range sends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<14)
			var nerr, nok int
			var ferr error
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(to) {
					break
				}
				err := send(ctx)
				t1 := time.Now()
				if err != nil {
					nerr++
					if ferr == nil {
						ferr = err
					}
					// Do not spin on a dead target.
					select {
					case <-ctx.Done():
					case <-time.After(10 * time.Millisecond):
					}
					continue
				}
				nok++
				if !t0.Before(from) && t1.Before(to) {
					lat = append(lat, t1.Sub(t0))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			all = append(all, lat...)
			errs += nerr
			total += nok
			if firstErr == nil {
				firstErr = ferr
			}
		}()
	}
	wg.Wait()
	return loadResult{samples: all, errs: errs, firstErr: firstErr, window: dur, total: total}
}

// latency summarises a set of durations.
type latency struct {
	n             int
	p50, p99, max time.Duration
}

// summarize sorts d in place and returns its nearest-rank percentiles.
func summarize(d []time.Duration) latency {
	if len(d) == 0 {
		return latency{}
	}
	slices.Sort(d)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(d)))) - 1
		return d[max(0, min(i, len(d)-1))]
	}
	return latency{n: len(d), p50: rank(0.50), p99: rank(0.99), max: d[len(d)-1]}
}

func (l latency) String() string {
	if l.n == 0 {
		return "n/a"
	}
	return fmt.Sprintf("p50 %s p99 %s max %s (n=%d)", ms(l.p50), ms(l.p99), ms(l.max), l.n)
}

// ms formats a duration in milliseconds with two decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
