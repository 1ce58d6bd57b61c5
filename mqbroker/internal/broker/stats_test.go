package broker

import (
	"slices"
	"testing"
	"time"
)

func TestRates_measureFromTheOldestSampleInTheWindow_andForgetOlderOnes(t *testing.T) {
	t.Parallel()
	var r rates
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if in, out := r.rate(t0, 5, 5, 10*time.Second); in != 0 || out != 0 {
		t.Fatalf("rate without samples = %v, %v; want 0, 0", in, out)
	}
	// 100 in and 50 out per second for 70 seconds.
	for s := 0; s <= 70; s++ {
		r.add(t0.Add(time.Duration(s)*time.Second), int64(100*s), int64(50*s))
	}
	now := t0.Add(70*time.Second + 500*time.Millisecond)
	in, out := r.rate(now, 7050, 3525, 10*time.Second)
	if in != 100 || out != 50 {
		t.Errorf("10 s rate = %v in, %v out; want 100, 50", in, out)
	}
	in60, _ := r.rate(now, 7050, 3525, rateWindow)
	if in60 != 100 {
		t.Errorf("60 s rate = %v, want 100", in60)
	}
	ins, outs := r.series()
	if len(ins) != 60 || len(outs) != 60 {
		t.Fatalf("series keeps %d/%d deltas, want 60 (one window)", len(ins), len(outs))
	}
	if !slices.Equal(slices.Compact(ins), []int64{100}) || !slices.Equal(slices.Compact(outs), []int64{50}) {
		t.Errorf("series %v / %v, want all 100 / 50", ins, outs)
	}
	// A burst after a quiet minute shows in the short rate at once.
	r2 := rates{}
	r2.add(t0, 0, 0)
	if in, _ := r2.rate(t0.Add(2*time.Second), 40, 0, 10*time.Second); in != 20 {
		t.Errorf("burst rate = %v, want 20", in)
	}
}
