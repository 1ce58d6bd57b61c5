package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Errors of the order limits.
var (
	// ErrTooManyUnpaid: the user holds LimitOptions.MaxUnpaid unpaid orders already.
	ErrTooManyUnpaid = errors.New("app: too many unpaid orders")
)

// RateLimitedError: the user created orders faster than the rate allows; retry after RetryAfter.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("app: too many orders in a short time; retry in %v", e.RetryAfter.Round(time.Second))
}

// UnpaidCounter counts a user's orders waiting for payment. Safe for concurrent use.
type UnpaidCounter interface {
	UnpaidOrders(ctx context.Context, userID int64) (int64, error)
}

// LimitOptions tune Limits.
type LimitOptions struct {
	RatePerUser float64 // orders per second per user; 0 = no rate limit
	Burst       int     // orders a user may create at once
	MaxUnpaid   int     // unpaid orders one user may hold; 0 = no limit
	// MaxUsers bounds the users whose token buckets are kept (the least recently seen are
	// dropped beyond it; a dropped bucket restarts full). Default 100 000.
	MaxUsers int
}

// Limits keeps one user from hoarding a shop's stock: a token bucket of order creations per
// user, and a cap on the unpaid orders a user holds. Safe for concurrent use.
//
// The unpaid cap is checked before the order is made, so concurrent requests of one user may
// pass it together: the rate limit bounds by how much.
type Limits struct {
	opts   LimitOptions
	unpaid UnpaidCounter
	now    func() time.Time

	mu      sync.Mutex // guards buckets
	buckets map[int64]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewLimits returns the Limits of opts; unpaid may be nil when MaxUnpaid is 0.
func NewLimits(opts LimitOptions, unpaid UnpaidCounter) (*Limits, error) {
	if opts.MaxUnpaid > 0 && unpaid == nil {
		return nil, errors.New("app: limits: MaxUnpaid needs an UnpaidCounter")
	}
	if opts.MaxUsers <= 0 {
		opts.MaxUsers = 100_000
	}
	if opts.Burst < 1 {
		opts.Burst = 1
	}
	return &Limits{opts: opts, unpaid: unpaid, now: time.Now, buckets: map[int64]*bucket{}}, nil
}

// AllowOrder reports whether user uid may create an order now: nil, a *RateLimitedError or
// ErrTooManyUnpaid (a database error is wrapped in ErrUnavailable).
func (l *Limits) AllowOrder(ctx context.Context, uid int64) error {
	if l == nil {
		return nil
	}
	if l.opts.RatePerUser > 0 {
		if wait := l.reserve(uid); wait > 0 {
			return &RateLimitedError{RetryAfter: wait}
		}
	}
	if l.opts.MaxUnpaid > 0 {
		n, err := l.unpaid.UnpaidOrders(ctx, uid)
		if err != nil {
			return fmt.Errorf("%w: count unpaid orders: %w", ErrUnavailable, err)
		}
		if n >= int64(l.opts.MaxUnpaid) {
			return fmt.Errorf("%w: user %d holds %d unpaid orders, the most allowed; pay or wait for one to close", ErrTooManyUnpaid, uid, n)
		}
	}
	return nil
}

// reserve takes a token of uid's bucket, or returns how long until one is there.
func (l *Limits) reserve(uid int64) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[uid]
	if !ok {
		if len(l.buckets) >= l.opts.MaxUsers {
			l.evictLocked()
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.opts.RatePerUser), l.opts.Burst)}
		l.buckets[uid] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request costs no token
		return max(d, time.Second)
	}
	return 0
}

// evictLocked drops the buckets that are full again (their users were idle long enough), or,
// if none is, the oldest half.
func (l *Limits) evictLocked() {
	now := l.now()
	refill := time.Duration(float64(l.opts.Burst) / l.opts.RatePerUser * float64(time.Second))
	for uid, b := range l.buckets {
		if now.Sub(b.seen) >= refill {
			delete(l.buckets, uid)
		}
	}
	if len(l.buckets) < l.opts.MaxUsers {
		return
	}
	var mean time.Duration
	for _, b := range l.buckets {
		mean += now.Sub(b.seen) / time.Duration(len(l.buckets))
	}
	cut := now.Add(-mean) // seen no later than the mean age
	for uid, b := range l.buckets {
		if !b.seen.After(cut) {
			delete(l.buckets, uid)
		}
	}
}
