package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progressMode says how the progress line is written.
type progressMode string

const (
	progressAuto  progressMode = "auto"  // tty when stderr is a terminal, else lines
	progressTTY   progressMode = "tty"   // one line rewritten with \r every ttyEvery
	progressLines progressMode = "lines" // one new line every linesEvery
	progressOff   progressMode = "off"
)

const (
	ttyEvery   = 500 * time.Millisecond
	linesEvery = 5 * time.Second
)

// progress writes the live progress line of a run.
type progress struct {
	w     io.Writer
	mode  progressMode // never auto
	every time.Duration
}

// newProgress writes to f; auto becomes tty when f is a terminal.
func newProgress(f *os.File, mode progressMode) *progress {
	if mode == progressAuto {
		mode = progressLines
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			mode = progressTTY
		}
	}
	return newProgressTo(f, mode)
}

func newProgressTo(w io.Writer, mode progressMode) *progress {
	every := linesEvery
	if mode == progressTTY {
		every = ttyEvery
	}
	return &progress{w: w, mode: mode, every: every}
}

// start writes t's progress every p.every until the returned stop is called, which writes the
// last line and returns once nothing more will be written.
func (p *progress) start(t *tally, began time.Time) (stop func()) {
	if p.mode == progressOff {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(p.every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				p.write(t, time.Since(began), true)
				return
			case <-tick.C:
				p.write(t, time.Since(began), false)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

func (p *progress) write(t *tally, elapsed time.Duration, last bool) {
	line := progressLine(t, elapsed)
	switch {
	case p.mode == progressTTY && last:
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", line)
	case p.mode == progressTTY:
		fmt.Fprintf(p.w, "\r%s\x1b[K", line) // \x1b[K clears the rest of a longer previous line
	default:
		fmt.Fprintln(p.w, line)
	}
}

// progressLine is one progress report: elapsed time, rate, outcomes so far and the p99.
func progressLine(t *tally, elapsed time.Duration) string {
	sent := t.sent.Load()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(sent) / elapsed.Seconds()
	}
	return fmt.Sprintf("%6.1fs %8.1f orders/s  created %d  out of stock %d  failed %d  errors %d  p99 %s",
		elapsed.Seconds(), rate, t.created.Load(), t.outOfStock.Load(), t.failed.Load(), t.errors.Load(),
		formatLatency(t.latency.quantile(0.99)))
}

// formatLatency rounds d for reading: 3 significant digits, in µs, ms or s.
func formatLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Second:
		return fmt.Sprintf("%.3gs", d.Seconds())
	default:
		return fmt.Sprintf("%.0fs", d.Seconds())
	}
}
