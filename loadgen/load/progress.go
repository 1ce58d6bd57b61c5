package load

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// ProgressMode says how the progress line is written.
type ProgressMode string

// The progress modes.
const (
	ProgressAuto  ProgressMode = "auto"  // tty when the writer is a terminal, else lines
	ProgressTTY   ProgressMode = "tty"   // one line rewritten with \r every 500 ms
	ProgressLines ProgressMode = "lines" // one new line every 5 s
	ProgressOff   ProgressMode = "off"
)

// Valid reports whether m is one of the modes.
func (m ProgressMode) Valid() bool {
	switch m {
	case ProgressAuto, ProgressTTY, ProgressLines, ProgressOff:
		return true
	}
	return false
}

const (
	ttyEvery   = 500 * time.Millisecond
	linesEvery = 5 * time.Second
)

// Progress writes the live progress line of a run to a writer. A nil *Progress writes nothing.
type Progress struct {
	w     io.Writer
	mode  ProgressMode // never auto
	every time.Duration
}

// NewProgress writes to w in mode; auto becomes tty when w is a terminal, else lines.
func NewProgress(w io.Writer, mode ProgressMode) *Progress {
	if mode == ProgressAuto {
		mode = ProgressLines
		if IsTerminal(w) {
			mode = ProgressTTY
		}
	}
	every := linesEvery
	if mode == ProgressTTY {
		every = ttyEvery
	}
	return &Progress{w: w, mode: mode, every: every}
}

// IsTerminal reports whether w is a file that is a terminal (a character device).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// start writes t's progress every p.every until the returned stop is called, which writes the
// last line and returns once nothing more will be written.
func (p *Progress) start(t *tally, began time.Time) (stop func()) {
	if p == nil || p.mode == ProgressOff {
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

func (p *Progress) write(t *tally, elapsed time.Duration, last bool) {
	line := progressLine(t, elapsed)
	switch {
	case p.mode == ProgressTTY && last:
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", line)
	case p.mode == ProgressTTY:
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
