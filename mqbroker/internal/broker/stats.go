package broker

import (
	"sync"
	"time"
)

// rateWindow is how much history the live rates keep.
const rateWindow = 60 * time.Second

// rateSample is the traffic totals at one instant.
type rateSample struct {
	at      time.Time
	in, out int64
}

// rates keeps a sample of the send and consume totals about once a second
// (taken by housekeeping) for the last rateWindow, so the console can show
// live rates without per-message bookkeeping.
type rates struct {
	mu      sync.Mutex   // guards samples
	samples []rateSample // oldest first, at most rateWindow/time.Second+1
}

// add records the totals at time at and drops samples older than the window.
func (r *rates) add(at time.Time, in, out int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, rateSample{at, in, out})
	drop := 0
	for drop < len(r.samples)-1 && at.Sub(r.samples[drop].at) > rateWindow {
		drop++
	}
	if drop > 0 {
		r.samples = append(r.samples[:0], r.samples[drop:]...)
	}
}

// rate returns messages per second in and out over the last window, from
// the oldest sample inside the window to the current totals (in, out at
// now). It is 0 until a sample at least 100 ms old exists.
func (r *rates) rate(now time.Time, in, out int64, window time.Duration) (inRate, outRate float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.samples {
		if now.Sub(s.at) > window {
			continue
		}
		d := now.Sub(s.at).Seconds()
		if d < 0.1 {
			return 0, 0
		}
		return float64(in-s.in) / d, float64(out-s.out) / d
	}
	return 0, 0
}

// series returns the messages in and out between consecutive samples,
// oldest first.
func (r *rates) series() (in, out []int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in, out = make([]int64, 0, len(r.samples)), make([]int64, 0, len(r.samples))
	for i := 1; i < len(r.samples); i++ {
		in = append(in, r.samples[i].in-r.samples[i-1].in)
		out = append(out, r.samples[i].out-r.samples[i-1].out)
	}
	return in, out
}
