package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Result is what a run measured and what its checks found. Its fields are final once Run has
// returned.
type Result struct {
	Elapsed     time.Duration // of the load phase, without the set-up and the settle phase
	Sent        int64         // order requests answered or lost (not cut off by the context)
	Created     int64         // 201
	OutOfStock  int64         // 409 insufficient_stock
	Failed      int64         // any other HTTP answer
	Errors      int64         // no answer
	P50, P99    time.Duration // latency quantiles of the answered order requests
	Max         time.Duration // the largest latency
	Interrupted bool          // the context ended during the load: the invariant was not checked
	InvariantOK bool          // the stock invariant held within Config.Settle
	Invariant   string        // the invariant's outcome in words: "ok (settled in 205ms)", "FAILED on 2 SKU(s) …"

	cfg Config
	t   *tally
	inv invariantResult
}

// OrdersPerSecond is the rate of order requests sent during the load phase.
func (r *Result) OrdersPerSecond() float64 { return r.perSecond(r.Sent) }

func (r *Result) perSecond(n int64) float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(n) / r.Elapsed.Seconds()
}

// Run validates cfg, sets up the goods, runs the load (writing prog's live line, unless prog is
// nil) and waits for the stock invariant. It returns a nil Result only when cfg is invalid or
// the goods could not be set up. Otherwise it returns the Result and, when the run failed its
// checks, an error: interrupted by ctx, the invariant did not hold, or transport errors
// exceeded cfg.MaxErrorRatio.
func Run(ctx context.Context, cfg Config, prog *Progress) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config:\n%w", err)
	}
	a := newAPI(cfg)
	defer a.close()
	if err := setupGoods(ctx, cfg, a); err != nil {
		return nil, err
	}

	t := newTally()
	began := time.Now()
	base := newUserBase()
	l := &loader{cfg: cfg, api: a, t: t, userBase: base, note: runNote(base)}
	if cfg.Duration > 0 {
		l.deadline = began.Add(cfg.Duration)
	}
	stopProgress := prog.start(t, began)
	var wg sync.WaitGroup
	for i := range cfg.Concurrency {
		wg.Go(func() { l.worker(ctx, i) })
	}
	wg.Wait()
	r := &Result{cfg: cfg, t: t, Elapsed: time.Since(began)}
	stopProgress()

	if ctx.Err() != nil {
		r.Interrupted = true
		r.Invariant = "not checked: interrupted"
	} else {
		r.inv = settle(ctx, cfg, a, t, l.note)
		r.InvariantOK, r.Invariant = r.inv.ok, r.inv.String()
	}
	r.Sent, r.Created, r.OutOfStock = t.sent.Load(), t.created.Load(), t.outOfStock.Load()
	r.Failed, r.Errors = t.failed.Load(), t.errors.Load()
	r.P50, r.P99, r.Max = t.latency.quantile(0.50), t.latency.quantile(0.99), t.latency.maximum()
	return r, r.verdict(ctx)
}

// setupGoods creates the SKUs, or resets their stock.
func setupGoods(ctx context.Context, cfg Config, a *api) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Concurrency)
	for i := range cfg.SKUs {
		g.Go(func() error { return a.putGoods(gctx, cfg.sku(i), cfg.PriceCents, cfg.Stock) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("set up the goods at %s: %w", cfg.InventoryURL, err)
	}
	return nil
}

// verdict is the run's error: interrupted, invariant failed, or too many transport errors.
func (r *Result) verdict(ctx context.Context) error {
	var errs []error
	if r.Interrupted {
		errs = append(errs, fmt.Errorf("interrupted before the end of the load: %w", context.Cause(ctx)))
	} else if !r.inv.ok {
		errs = append(errs, fmt.Errorf("stock invariant: %s", r.inv))
	}
	if n := r.Errors; n > 0 && float64(n) > r.cfg.MaxErrorRatio*float64(r.Sent) {
		errs = append(errs, fmt.Errorf("%d of %d order requests got no answer (above --max-error-ratio %v)", n, r.Sent, r.cfg.MaxErrorRatio))
	}
	return errors.Join(errs...)
}
