package txn

import (
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	cfg := Config{Timeout: 6 * time.Second, Interval: 60 * time.Second, MaxChecks: 15}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		h    Half
		now  time.Time
		want Decision
	}{
		{"young half waits for the timeout", Half{Stored: t0}, t0.Add(5 * time.Second), Decision{Wait, t0.Add(6 * time.Second)}},
		{"half at the timeout is checked", Half{Stored: t0}, t0.Add(6 * time.Second), Decision{Action: Check}},
		{"immunity overrides the timeout", Half{Stored: t0, Immunity: 20 * time.Second}, t0.Add(10 * time.Second), Decision{Wait, t0.Add(20 * time.Second)}},
		{"checked half waits an interval", Half{Stored: t0, Checks: 1, LastCheck: t0.Add(6 * time.Second)}, t0.Add(30 * time.Second), Decision{Wait, t0.Add(66 * time.Second)}},
		{"checked half is checked again after the interval", Half{Stored: t0, Checks: 3, LastCheck: t0}, t0.Add(60 * time.Second), Decision{Action: Check}},
		{"half checked MaxChecks times is discarded", Half{Stored: t0, Checks: 15, LastCheck: t0}, t0.Add(60 * time.Second), Decision{Action: Discard}},
		{"half checked MaxChecks times still waits out the interval", Half{Stored: t0, Checks: 15, LastCheck: t0}, t0.Add(59 * time.Second), Decision{Wait, t0.Add(60 * time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Decide(tt.h, tt.now, cfg); got != tt.want {
				t.Fatalf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}
