package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// Reconcile actions, the label values of saga_reconciled_total{action}.
const (
	// ReconcileCloseExpired: an unpaid order past its deadline plus the grace was closed (and
	// its stock returned) — its timeout message never came or could not be handled.
	ReconcileCloseExpired = "close_expired"
	// ReconcileReturnOrphanSell: inventory held a sell with no committed order, older than any
	// saga and check-back could still settle; the barrier was claimed and the stock returned.
	ReconcileReturnOrphanSell = "return_orphan_sell"
	// ReconcileReturnClosedSell: inventory still held the sell of a closed order; it was
	// returned.
	ReconcileReturnClosedSell = "return_closed_sell"
)

// ReconcileActions lists the actions, for metrics that create every series up front.
var ReconcileActions = []string{ReconcileCloseExpired, ReconcileReturnOrphanSell, ReconcileReturnClosedSell}

// ReconcileStore is what the reconciler reads from the order database. Safe for concurrent use.
type ReconcileStore interface {
	// UnpaidCreatedBefore returns up to limit orders waiting for payment that were created
	// before before, with an id above cursor, by id, and the id of the last one.
	UnpaidCreatedBefore(ctx context.Context, before time.Time, cursor int64, limit int) ([]order.SN, int64, error)
	// OrderStatuses returns the status of those of sns that are orders.
	OrderStatuses(ctx context.Context, sns []order.SN) (map[order.SN]order.Status, error)
}

// DeductedSells is inventory's list of sells still deducted. Safe for concurrent use.
type DeductedSells interface {
	// DeductedSells returns a page of the order numbers inventory holds stock for, deducted in
	// [after, before), and the cursor of the next page ("" on the last).
	DeductedSells(ctx context.Context, after, before time.Time, cursor string, limit int) ([]string, string, error)
}

// ReconcileOptions tune a Reconciler. Zero values take the defaults.
type ReconcileOptions struct {
	// Interval between two sweeps (default 1 min).
	Interval time.Duration
	// PayTimeout is how long an order waits for payment (the delay of its timeout message);
	// Grace is added before the reconciler closes it (default 5 min). PayTimeout is required.
	PayTimeout time.Duration
	Grace      time.Duration
	// SellAge is the age after which a sell with no order is settled: it must exceed the saga
	// timeout plus the broker's whole check-back budget (tx timeout + check max × interval;
	// 6 s + 15 × 1 min on both brokers by default), so a saga the broker can still settle is
	// left to it (default 20 min).
	SellAge time.Duration
	// Lookback bounds how far back the sells are compared (default 24 h): it must exceed the
	// longest outage of the order database the reconciler is expected to heal.
	Lookback time.Duration
	// PageSize is the number of orders or sells read at once (default 200).
	PageSize int
}

func (o *ReconcileOptions) setDefaults() {
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Minute
	}
	if o.SellAge <= 0 {
		o.SellAge = 20 * time.Minute
	}
	if o.Lookback <= 0 {
		o.Lookback = 24 * time.Hour
	}
	if o.PageSize <= 0 {
		o.PageSize = 200
	}
}

// ReconcileReport counts what one sweep did.
type ReconcileReport struct {
	Closed          int // unpaid orders closed past their deadline
	OrphansReturned int // sells with no order whose stock was returned
	ClosedReturned  int // sells of closed orders returned
}

// ReconcileMetrics counts the reconciler's actions (saga_reconciled_total{action}).
type ReconcileMetrics interface {
	Reconciled(action string)
}

// Reconciler is the saga's reconciler of last resort: every Interval it closes the unpaid
// orders past their deadline plus a grace, and settles the sells inventory still holds with no
// committed order. It only ever acts through the compare-and-sets the saga already uses — the
// order's status (as the timeout consumer) and the check-back barrier (as a check-back) — so it
// never contradicts a local transaction, and several instances may run it at once (their
// duplicate stock returns are no-ops in inventory). Safe for concurrent use.
type Reconciler struct {
	svc     *Service
	store   ReconcileStore
	sells   DeductedSells
	metrics ReconcileMetrics // may be nil
	opts    ReconcileOptions
}

// NewReconciler returns a Reconciler acting through svc. metrics may be nil.
func NewReconciler(svc *Service, store ReconcileStore, sells DeductedSells, metrics ReconcileMetrics, opts ReconcileOptions) (*Reconciler, error) {
	var errs []error
	if svc == nil || store == nil || sells == nil {
		errs = append(errs, errors.New("app: reconciler needs the service, the order store and inventory's sells"))
	}
	if opts.PayTimeout <= 0 {
		errs = append(errs, errors.New("app: reconciler needs the pay timeout"))
	}
	opts.setDefaults()
	if opts.SellAge <= svc.opts.SagaTimeout {
		errs = append(errs, fmt.Errorf("app: reconciler sell age %v must exceed the saga timeout %v plus the broker's check budget", opts.SellAge, svc.opts.SagaTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Reconciler{svc: svc, store: store, sells: sells, metrics: metrics, opts: opts}, nil
}

// Run sweeps every Interval until ctx ends; a failed sweep is logged and retried at the next
// tick. It returns nil when ctx ends.
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		rep, err := r.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			r.svc.d.Log.Warn("reconcile sweep incomplete; next one in an interval", "err", err, "report", rep)
		} else if rep != (ReconcileReport{}) {
			r.svc.d.Log.Info("reconciled sagas", "closed", rep.Closed, "orphan_sells_returned", rep.OrphansReturned, "closed_sells_returned", rep.ClosedReturned)
		}
	}
}

// Sweep runs both passes once, at the service's clock, and reports what it did. It goes on
// after a failure on one order and returns every error joined.
func (r *Reconciler) Sweep(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	now := r.svc.d.Now()
	err1 := r.closeExpired(ctx, now, &rep)
	err2 := r.settleSells(ctx, now, &rep)
	var err3 error
	if o := r.svc.d.Owners; o != nil {
		// An owner record only matters until its deadline; keep an hour for people reading them.
		_, err3 = o.ForgetOwners(ctx, now.Add(-time.Hour))
	}
	return rep, errors.Join(err1, err2, err3)
}

func (r *Reconciler) count(action string) {
	if r.metrics != nil {
		r.metrics.Reconciled(action)
	}
}

// closeExpired closes the orders still waiting for payment past deadline + grace.
func (r *Reconciler) closeExpired(ctx context.Context, now time.Time, rep *ReconcileReport) error {
	before := now.Add(-r.opts.PayTimeout - r.opts.Grace)
	var errs []error
	var cursor int64
	for {
		sns, last, err := r.store.UnpaidCreatedBefore(ctx, before, cursor, r.opts.PageSize)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("list expired orders: %w", err))...)
		}
		for _, sn := range sns {
			closed, err := r.svc.closeUnpaid(ctx, sn, "the reconciler")
			if closed {
				rep.Closed++
				r.count(ReconcileCloseExpired)
				r.svc.d.Metrics.OrderClosedByTimeout()
				r.svc.record(ctx, sn, StepReconciled, fmt.Sprintf("closed: unpaid %v after its payment deadline (grace %v), no timeout had closed it", now.Sub(before), r.opts.Grace))
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
		if len(sns) < r.opts.PageSize {
			return errors.Join(errs...)
		}
		cursor = last
	}
}

// settleSells compares inventory's deducted sells older than SellAge with the orders: a sell
// with no order is settled as a check-back would settle it, a closed order's sell is returned.
func (r *Reconciler) settleSells(ctx context.Context, now time.Time, rep *ReconcileReport) error {
	before := now.Add(-r.opts.SellAge)
	after := before.Add(-r.opts.Lookback)
	var errs []error
	cursor := ""
	for {
		page, next, err := r.sells.DeductedSells(ctx, after, before, cursor, r.opts.PageSize)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("list deducted sells: %w", err))...)
		}
		sns := make([]order.SN, 0, len(page))
		for _, raw := range page {
			sn, err := order.ParseSN(raw)
			if err != nil {
				continue // not an order number of ours (e.g. a sell made by hand): not ours to settle
			}
			sns = append(sns, sn)
		}
		statuses, err := r.store.OrderStatuses(ctx, sns)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("read order statuses: %w", err))...)
		}
		for _, sn := range sns {
			if err := r.settleSell(ctx, sn, statuses, rep); err != nil {
				errs = append(errs, err)
			}
		}
		if next == "" {
			return errors.Join(errs...)
		}
		cursor = next
	}
}

func (r *Reconciler) settleSell(ctx context.Context, sn order.SN, statuses map[order.SN]order.Status, rep *ReconcileReport) error {
	st, exists := statuses[sn]
	switch {
	case exists && st == order.StatusTradeClosed:
		if err := r.svc.d.Stock.Reback(ctx, sn); err != nil {
			return fmt.Errorf("return stock of closed order %s: %w", sn, err)
		}
		rep.ClosedReturned++
		r.count(ReconcileReturnClosedSell)
		r.svc.record(ctx, sn, StepReconciled, "the order is closed but inventory still held its stock: returned")
		return nil
	case exists:
		return nil // waiting for payment or paid: the stock stays sold
	}
	// No order: claim the barrier exactly as a check-back does. If a local transaction holds or
	// committed it, that wins and the order exists after all.
	res, err := r.svc.d.Saga.ResolveCheck(ctx, sn, r.svc.d.Now())
	if err != nil {
		return fmt.Errorf("settle sell %s: %w", sn, err)
	}
	if res == ResolvedCommitted {
		return nil
	}
	if err := r.svc.d.Stock.Reback(ctx, sn); err != nil {
		return fmt.Errorf("return stock of order %s that was never created: %w", sn, err)
	}
	rep.OrphansReturned++
	r.count(ReconcileReturnOrphanSell)
	r.svc.record(ctx, sn, StepReconciled, "inventory held stock for an order that was never committed and no check-back settled it: barrier claimed as a check-back, stock returned")
	r.svc.record(ctx, sn, StepStockReturnRequested, "the reconciler asked inventory to return the stock (applied at most once)")
	return nil
}
