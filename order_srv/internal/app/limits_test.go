package app

import (
	"context"
	"errors"
	"testing"
	"time"
)

type unpaidCount int64

func (u unpaidCount) UnpaidOrders(context.Context, int64) (int64, error) { return int64(u), nil }

func TestLimits_rateLimitPerUser_tokenBucket(t *testing.T) {
	t.Parallel()
	l, err := NewLimits(LimitOptions{RatePerUser: 1, Burst: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	ctx := context.Background()
	for i := range 2 {
		if err := l.AllowOrder(ctx, 1); err != nil {
			t.Fatalf("order %d within the burst: %v", i, err)
		}
	}
	var rl *RateLimitedError
	if err := l.AllowOrder(ctx, 1); !errors.As(err, &rl) || rl.RetryAfter < time.Second {
		t.Fatalf("third order at once: %v", err)
	}
	if err := l.AllowOrder(ctx, 2); err != nil {
		t.Fatalf("another user is not limited by user 1: %v", err)
	}
	now = now.Add(time.Second)
	if err := l.AllowOrder(ctx, 1); err != nil {
		t.Fatalf("a second later a token is back: %v", err)
	}
}

func TestLimits_maxUnpaid(t *testing.T) {
	t.Parallel()
	l, err := NewLimits(LimitOptions{MaxUnpaid: 3}, unpaidCount(3))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AllowOrder(context.Background(), 1); !errors.Is(err, ErrTooManyUnpaid) {
		t.Fatalf("at the cap: %v", err)
	}
	l, _ = NewLimits(LimitOptions{MaxUnpaid: 3}, unpaidCount(2))
	if err := l.AllowOrder(context.Background(), 1); err != nil {
		t.Fatalf("below the cap: %v", err)
	}
	if _, err := NewLimits(LimitOptions{MaxUnpaid: 1}, nil); err == nil {
		t.Error("MaxUnpaid without a counter accepted")
	}
	var none *Limits
	if err := none.AllowOrder(context.Background(), 1); err != nil {
		t.Errorf("nil Limits: %v", err)
	}
}

func TestLimits_bucketsAreBounded(t *testing.T) {
	t.Parallel()
	l, _ := NewLimits(LimitOptions{RatePerUser: 1, Burst: 1, MaxUsers: 10}, nil)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for uid := range int64(1000) {
		now = now.Add(time.Millisecond)
		_ = l.AllowOrder(context.Background(), uid+1)
		if len(l.buckets) > 10 {
			t.Fatalf("%d buckets kept, MaxUsers is 10", len(l.buckets))
		}
	}
}
