package load

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHistogram_quantilesAreWithinABucket(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	h := newHistogram()
	var all []time.Duration
	for range 20000 {
		// Log-uniform from 1 µs to about 10 s.
		d := time.Duration(float64(time.Microsecond) * math.Pow(10, rng.Float64()*7))
		h.record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		exact := all[int(float64(len(all))*q+0.999999)-1]
		got := h.quantile(q)
		// The bucket's top is at or above the value and at most 1/64 (+1 µs) above it.
		if got < exact.Truncate(time.Microsecond) || float64(got-exact) > float64(exact)/64+float64(time.Microsecond) {
			t.Errorf("p%v = %v, exact %v", q*100, got, exact)
		}
	}
	if h.maximum() != all[len(all)-1] || h.count() != int64(len(all)) {
		t.Errorf("max %v count %d, want %v %d", h.maximum(), h.count(), all[len(all)-1], len(all))
	}
	if newHistogram().quantile(0.5) != 0 {
		t.Error("an empty histogram has a p50")
	}
}

func TestBucketOf_isTheInverseOfBucketTop(t *testing.T) {
	t.Parallel()
	for i := range len(newHistogram().counts) {
		top := bucketTop(i)
		if bucketOf(top) != i || (i > 0 && bucketOf(bucketTop(i-1)+1) != i) {
			t.Fatalf("bucket %d: top %d maps to %d", i, top, bucketOf(top))
		}
	}
}

func TestProgress_tty_rewritesOneLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := NewProgress(&buf, ProgressTTY)
	tl := newTally()
	tl.sent.Add(10)
	tl.created.Add(7)
	tl.outOfStock.Add(3)
	tl.latency.record(5 * time.Millisecond)
	p.write(tl, 2*time.Second, false)
	p.write(tl, 2500*time.Millisecond, true)
	got := buf.String()
	if strings.Count(got, "\r") != 2 || strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
		t.Errorf("tty output %q: want two \\r-rewrites and one final newline", got)
	}
	for _, want := range []string{"2.0s", "5.0 orders/s", "created 7", "out of stock 3", "failed 0", "p99 5ms"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress %q lacks %q", got, want)
		}
	}
	buf.Reset()
	NewProgress(&buf, ProgressLines).write(tl, time.Second, false)
	if got := buf.String(); strings.Contains(got, "\r") || strings.Count(got, "\n") != 1 {
		t.Errorf("lines output %q: want one plain line", got)
	}
}
