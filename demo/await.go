package main

import (
	"context"
	"fmt"
	"time"
)

// pollEvery is how often a condition is polled.
const pollEvery = 100 * time.Millisecond

// await polls cond until it reports done, fails, or timeout passes (an error naming what was
// awaited, and the last value seen). A failing request inside cond should be reported as
// done = false with a nil error when it may pass later, so that a transient failure is retried.
func await[T any](ctx context.Context, timeout time.Duration, what string, cond func(ctx context.Context) (T, bool, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		v, done, err := cond(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return v, fmt.Errorf("waited %v for %s, in vain: %w", timeout, what, err)
		case err != nil:
			return v, err
		case done:
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("waited %v for %s, in vain (last seen: %+v)", timeout, what, v)
		case <-tick.C:
		}
	}
}
