package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// report is everything the summary shows.
type report struct {
	cfg         config
	t           *tally
	elapsed     time.Duration // of the load phase
	interrupted bool          // ctx ended during the load: no invariant
	inv         invariantResult
}

// generate sets up the goods, runs the load, waits for the invariant and writes the summary.
func generate(ctx context.Context, cfg config, stdout io.Writer, prog *progress) error {
	a := newAPI(cfg)
	defer a.close()
	if err := setupGoods(ctx, cfg, a); err != nil {
		return err
	}

	t := newTally()
	began := time.Now()
	base := newUserBase()
	l := &loader{cfg: cfg, api: a, t: t, userBase: base, note: runNote(base)}
	if cfg.duration > 0 {
		l.deadline = began.Add(cfg.duration)
	}
	stopProgress := prog.start(t, began)
	var wg sync.WaitGroup
	for i := range cfg.concurrency {
		wg.Go(func() { l.worker(ctx, i) })
	}
	wg.Wait()
	r := report{cfg: cfg, t: t, elapsed: time.Since(began)}
	stopProgress()

	if ctx.Err() != nil {
		r.interrupted = true
	} else {
		r.inv = settle(ctx, cfg, a, t, l.note)
	}
	if err := writeSummary(stdout, r); err != nil {
		return fmt.Errorf("write the summary: %w", err)
	}
	return r.verdict(ctx)
}

// setupGoods creates the SKUs, or resets their stock.
func setupGoods(ctx context.Context, cfg config, a *api) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.concurrency)
	for i := range cfg.skus {
		g.Go(func() error { return a.putGoods(gctx, cfg.sku(i), cfg.priceCents, cfg.stock) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("set up the goods at %s: %w", cfg.inventoryURL, err)
	}
	return nil
}

// verdict is the run's error: interrupted, invariant failed, or too many transport errors.
func (r report) verdict(ctx context.Context) error {
	var errs []error
	if r.interrupted {
		errs = append(errs, fmt.Errorf("interrupted before the end of the load: %w", context.Cause(ctx)))
	} else if !r.inv.ok {
		errs = append(errs, fmt.Errorf("stock invariant: %s", r.inv))
	}
	if sent, n := r.t.sent.Load(), r.t.errors.Load(); n > 0 && float64(n) > r.cfg.maxErrorRatio*float64(sent) {
		errs = append(errs, fmt.Errorf("%d of %d order requests got no answer (above --max-error-ratio %v)", n, sent, r.cfg.maxErrorRatio))
	}
	return errors.Join(errs...)
}
