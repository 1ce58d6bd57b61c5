package app_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

const (
	payTimeout = 30 * time.Minute
	grace      = 5 * time.Minute
	sellAge    = 20 * time.Minute
)

// DeductedSells lists the mem inventory's sells still deducted in [after, before), one page of
// limit at a time (the cursor is the index of the next one, in order-number order).
func (m *memInventory) DeductedSells(_ context.Context, after, before time.Time, cursor string, limit int) ([]string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []string
	for sn := range m.sold {
		at := m.soldAt[sn]
		if at.Before(before) && !at.Before(after) {
			all = append(all, string(sn))
		}
	}
	sort.Strings(all)
	start := 0
	if cursor != "" {
		for i, sn := range all {
			if sn > cursor {
				start = i
				break
			}
			start = len(all)
		}
	}
	end := min(start+limit, len(all))
	next := ""
	if end < len(all) {
		next = all[end-1]
	}
	return all[start:end], next, nil
}

type countingReconciles struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countingReconciles) Reconciled(action string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[action]++
}

func (c *countingReconciles) of(action string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[action]
}

func newReconciler(t *testing.T, f *fixture, m *countingReconciles) *app.Reconciler {
	t.Helper()
	f.inv.mu.Lock()
	f.inv.clock = func() time.Time {
		f.nowMu.Lock()
		defer f.nowMu.Unlock()
		return f.now
	}
	f.inv.mu.Unlock()
	r, err := app.NewReconciler(f.svc, f.store, f.inv, m, app.ReconcileOptions{
		PayTimeout: payTimeout, Grace: grace, SellAge: sellAge, PageSize: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) status(t *testing.T, sn order.SN) order.Status {
	t.Helper()
	o, err := f.store.Order(context.Background(), sn)
	if err != nil {
		t.Fatal(err)
	}
	return o.Status
}

func (f *fixture) hasStep(t *testing.T, sn order.SN, step app.Step) bool {
	t.Helper()
	steps, err := f.svc.Timeline(context.Background(), string(sn))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if s.Step == step {
			return true
		}
	}
	return false
}

// TestReconciler_closesUnpaidOrdersPastDeadlinePlusGrace_once_evenWithTwoInstances: the
// timeout messages never arrive (their consumer gave up, or the send failed and no check-back
// came); three orders, one paid, in pages of two.
func TestReconciler_closesUnpaidOrdersPastDeadlinePlusGrace_once_evenWithTwoInstances(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		m := &countingReconciles{}
		r1, r2 := newReconciler(t, f, m), newReconciler(t, f, m)
		ctx := context.Background()
		var sns []order.SN
		for range 3 {
			got, err := f.svc.CreateOrder(ctx, orderOf(order.Line{GoodsID: 1, Num: 1}))
			if err != nil {
				t.Fatal(err)
			}
			sns = append(sns, got.Order.SN)
		}
		if _, err := f.svc.Pay(ctx, string(sns[1])); err != nil {
			t.Fatal(err)
		}
		f.advance(payTimeout + grace - time.Second)
		if rep, err := r1.Sweep(ctx); err != nil || rep != (app.ReconcileReport{}) {
			t.Fatalf("sweep before deadline + grace = %+v, %v; want nothing done", rep, err)
		}
		f.advance(2 * time.Second)
		var wg sync.WaitGroup
		reps := make([]app.ReconcileReport, 2)
		for i, r := range []*app.Reconciler{r1, r2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep, err := r.Sweep(ctx)
				if err != nil {
					t.Error(err)
				}
				reps[i] = rep
			}()
		}
		wg.Wait()
		if n := reps[0].Closed + reps[1].Closed; n != 2 || m.of(app.ReconcileCloseExpired) != 2 {
			t.Errorf("closed %d (metric %d), want the two unpaid orders closed once", n, m.of(app.ReconcileCloseExpired))
		}
		for i, want := range []order.Status{order.StatusTradeClosed, order.StatusTradeSuccess, order.StatusTradeClosed} {
			if got := f.status(t, sns[i]); got != want {
				t.Errorf("order %d: %s, want %s", i, got, want)
			}
		}
		if got := f.inv.stockOf(1); got != 9 {
			t.Errorf("stock %d, want 9 (only the paid order's piece sold)", got)
		}
		if !f.hasStep(t, sns[0], app.StepReconciled) || f.hasStep(t, sns[1], app.StepReconciled) {
			t.Error("the reconciled order's timeline must show it, the paid one's not")
		}
		if err := f.svc.HandleTimeout(ctx, sns[0]); err != nil || f.status(t, sns[0]) != order.StatusTradeClosed {
			t.Errorf("a late timeout message = %v; it must change nothing", err)
		}
		if _, err := f.svc.Pay(ctx, string(sns[2])); !errors.Is(err, order.ErrOrderClosed) {
			t.Errorf("paying a reconciled order = %v, want ErrOrderClosed", err)
		}
	})
}

// TestReconciler_returnsASellWithNoOrder_afterTheCheckBudget_andFencesALateCommit: a crash after
// the deduction whose check-backs all failed (the order database was down for their whole
// budget) left stock deducted with no order.
func TestReconciler_returnsASellWithNoOrder_afterTheCheckBudget_andFencesALateCommit(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		m := &countingReconciles{}
		r := newReconciler(t, f, m)
		ctx := context.Background()
		cmd := orderOf(order.Line{GoodsID: 2, Num: 3})
		cmd.Fault = app.FaultCrashAfterDeduct
		crash(t, f, cmd)
		orphan := f.onlySN(t)
		kept, err := f.svc.CreateOrder(ctx, orderOf(order.Line{GoodsID: 2, Num: 1}))
		if err != nil {
			t.Fatal(err)
		}
		if f.inv.stockOf(2) != 6 {
			t.Fatalf("stock %d, want 6", f.inv.stockOf(2))
		}
		f.advance(sellAge - time.Second)
		if rep, err := r.Sweep(ctx); err != nil || rep.OrphansReturned != 0 {
			t.Fatalf("sweep within the check budget = %+v, %v; it must leave the saga to the broker", rep, err)
		}
		f.advance(2 * time.Second)
		rep, err := r.Sweep(ctx)
		if err != nil || rep.OrphansReturned != 1 || m.of(app.ReconcileReturnOrphanSell) != 1 {
			t.Fatalf("sweep = %+v, %v; want the orphan returned", rep, err)
		}
		if got := f.inv.stockOf(2); got != 9 {
			t.Errorf("stock %d, want 9 (the orphan's 3 back, the order's 1 sold)", got)
		}
		if f.status(t, kept.Order.SN) != order.StatusWaitBuyerPay {
			t.Error("the committed order must be left alone")
		}
		if !f.hasStep(t, orphan, app.StepReconciled) {
			t.Error("the orphan's timeline must show the reconciler")
		}
		// The barrier is claimed: a local transaction that woke up now cannot commit, and a
		// last check-back agrees with the reconciler.
		o, err := order.New(orphan, 1, cmd.Shipping, []order.Item{{GoodsID: 2, Num: 3, PriceCents: 99}}, f.now)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.CommitOrder(ctx, o, app.CommitOptions{}); !errors.Is(err, app.ErrBarrierTaken) {
			t.Errorf("late commit = %v, want ErrBarrierTaken", err)
		}
		if out := f.broker.checkBack(orphan); out != app.DeliverReback || f.inv.stockOf(2) != 9 {
			t.Errorf("late check-back = %v, stock %d; want deliver-reback and no second return", out, f.inv.stockOf(2))
		}
		if rep, err := r.Sweep(ctx); err != nil || rep != (app.ReconcileReport{}) {
			t.Errorf("second sweep = %+v, %v; want nothing left to do", rep, err)
		}
	})
}

// TestReconciler_returnsTheSellOfAClosedOrder_thatInventoryStillHolds: the order was closed but
// its stock return never happened (the timeout consumer's return kept failing, say).
func TestReconciler_returnsTheSellOfAClosedOrder_thatInventoryStillHolds(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		m := &countingReconciles{}
		r := newReconciler(t, f, m)
		ctx := context.Background()
		got, err := f.svc.CreateOrder(ctx, orderOf(order.Line{GoodsID: 3, Num: 4}))
		if err != nil {
			t.Fatal(err)
		}
		sn := got.Order.SN
		if _, err := f.store.UpdateOrder(ctx, sn, func(o *order.Order) error { return o.Close(f.now) }); err != nil {
			t.Fatal(err)
		}
		f.advance(sellAge + time.Second)
		rep, err := r.Sweep(ctx)
		if err != nil || rep.ClosedReturned != 1 || m.of(app.ReconcileReturnClosedSell) != 1 {
			t.Fatalf("sweep = %+v, %v; want the closed order's sell returned", rep, err)
		}
		if f.inv.stockOf(3) != 10 || !f.hasStep(t, sn, app.StepReconciled) {
			t.Errorf("stock %d, want 10, and a reconciled step", f.inv.stockOf(3))
		}
	})
}
