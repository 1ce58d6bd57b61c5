package app_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// countingMetrics is app.Metrics in memory: counts by name (and label).
type countingMetrics struct {
	mu sync.Mutex
	n  map[string]int
}

func (m *countingMetrics) inc(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == nil {
		m.n = map[string]int{}
	}
	m.n[key]++
}

func (m *countingMetrics) get(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[key]
}

func (m *countingMetrics) OrderCreated() { m.inc("created") }
func (m *countingMetrics) OrderRolledBack(r app.RollbackReason) {
	m.inc("rolled_back/" + string(r))
}
func (m *countingMetrics) OrderClosedByTimeout()         { m.inc("closed_by_timeout") }
func (m *countingMetrics) OrderPaid()                    { m.inc("paid") }
func (m *countingMetrics) CheckBack(out app.HalfOutcome) { m.inc("check_back/" + out.String()) }

// wantCounts checks the named counters (absent names must be zero).
func (f *fixture) wantCounts(t *testing.T, want map[string]int) {
	t.Helper()
	for _, k := range []string{"created", "closed_by_timeout", "paid",
		"check_back/deliver-reback", "check_back/discard-reback", "check_back/ask-later"} {
		if _, ok := want[k]; !ok {
			want[k] = 0
		}
	}
	for _, r := range app.RollbackReasons {
		if _, ok := want["rolled_back/"+string(r)]; !ok {
			want["rolled_back/"+string(r)] = 0
		}
	}
	for k, n := range want {
		if got := f.metrics.get(k); got != n {
			t.Errorf("metric %s = %d, want %d", k, got, n)
		}
	}
}

// wantSteps checks the timeline of sn, step by step, and that times never go backwards.
func (f *fixture) wantSteps(t *testing.T, sn order.SN, want ...app.Step) {
	t.Helper()
	steps, err := f.svc.Timeline(context.Background(), string(sn))
	if err != nil {
		t.Fatalf("timeline of %s: %v", sn, err)
	}
	got := make([]app.Step, len(steps))
	for i, st := range steps {
		got[i] = st.Step
		if st.At.IsZero() || i > 0 && st.At.Before(steps[i-1].At) {
			t.Errorf("step %d (%s) at %v, after %v", i, st.Step, st.At, steps[max(i-1, 0)].At)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("timeline of %s:\n got %v\nwant %v", sn, got, want)
	}
}

const (
	halfSent     = app.StepHalfSent
	deducted     = app.StepStockDeducted
	committed    = app.StepLocalCommitted
	failed       = app.StepLocalFailed
	decided      = app.StepHalfDecided
	asked        = app.StepCheckBackAsked
	answered     = app.StepCheckBackAnswered
	scheduled    = app.StepTimeoutScheduled
	fired        = app.StepTimeoutFired
	paid         = app.StepPaid
	closed       = app.StepClosed
	stockReturns = app.StepStockReturnRequested
)

func TestTimeline_happyPathAndPay(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		got, err := f.svc.CreateOrder(ctx, orderOf(order.Line{GoodsID: 1, Num: 2}))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // paying twice counts once and records one step
			if _, err := f.svc.Pay(ctx, string(got.Order.SN)); err != nil {
				t.Fatal(err)
			}
		}
		f.wantSteps(t, got.Order.SN, halfSent, deducted, committed, scheduled, decided, paid)
		steps, _ := f.svc.Timeline(ctx, string(got.Order.SN))
		if d := steps[len(steps)-1].Detail; d != "WAIT_BUYER_PAY → TRADE_SUCCESS" {
			t.Errorf("paid step detail %q", d)
		}
		if d := steps[4].Detail; d != "discard-reback — rollback: the reback message is discarded, the stock stays as it is" {
			t.Errorf("half decided detail %q", d)
		}
		f.wantCounts(t, map[string]int{"created": 1, "paid": 1})
	})
}

func TestTimeline_failLocalTx_recordsTheFailureAndTheReturn(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		cmd := orderOf(order.Line{GoodsID: 1, Num: 2})
		cmd.Fault = app.FaultFailLocalTx
		if _, err := f.svc.CreateOrder(context.Background(), cmd); !errors.Is(err, app.ErrUnavailable) {
			t.Fatalf("error = %v, want ErrUnavailable", err)
		}
		sn := f.onlySN(t)
		f.mustNotExist(t, sn) // no order row, but a timeline
		f.wantSteps(t, sn, halfSent, deducted, failed, decided, stockReturns)
		f.wantCounts(t, map[string]int{"rolled_back/local_tx_failed": 1})
	})
}

func TestTimeline_shortStock_isARollbackWithoutAReturn(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		if _, err := f.svc.CreateOrder(context.Background(), orderOf(order.Line{GoodsID: 1, Num: 11})); !errors.Is(err, app.ErrInsufficientStock) {
			t.Fatalf("error = %v", err)
		}
		f.wantSteps(t, f.onlySN(t), halfSent, failed, decided)
		f.wantCounts(t, map[string]int{"rolled_back/insufficient_stock": 1})
	})
}

func TestTimeline_crashAfterDeduct_theCheckBackStepsComeFromAnotherProcess(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		cmd := orderOf(order.Line{GoodsID: 1, Num: 2})
		cmd.Fault = app.FaultCrashAfterDeduct
		crash(t, f, cmd)
		sn := f.onlySN(t)
		f.wantSteps(t, sn, halfSent, deducted)

		// The check-back reaches the process started after the crash: another Service on the
		// same database, knowing nothing of the order.
		next, err := app.New(app.Deps{
			Orders: f.store, Carts: f.store, Saga: f.store, Idempotency: f.store, Timeline: f.store,
			Stock: f.inv, Goods: f.inv, Halves: f.broker, Timeouts: f.broker, Metrics: f.metrics,
			Log: slog.New(slog.DiscardHandler), Crash: func(string) {},
		}, app.Options{})
		if err != nil {
			t.Fatal(err)
		}
		f.broker.lt = next
		if out := f.broker.checkBack(sn); out != app.DeliverReback {
			t.Fatalf("check-back = %v", out)
		}
		f.wantSteps(t, sn, halfSent, deducted, asked, answered, stockReturns)
		f.wantCounts(t, map[string]int{"check_back/deliver-reback": 1, "rolled_back/check_back": 1})
	})
}

func TestTimeline_timeoutClosesOnce_andRecordsEveryDelivery(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		got, err := f.svc.CreateOrder(ctx, orderOf(order.Line{GoodsID: 1, Num: 2}))
		if err != nil {
			t.Fatal(err)
		}
		sn := got.Order.SN
		for range 2 { // a duplicate delivery
			if err := f.svc.HandleTimeout(ctx, sn); err != nil {
				t.Fatal(err)
			}
		}
		f.wantSteps(t, sn, halfSent, deducted, committed, scheduled, decided,
			fired, closed, stockReturns, fired, stockReturns)
		f.wantCounts(t, map[string]int{"created": 1, "closed_by_timeout": 1})
	})
}

func TestTimeline_unknownOrder_isNotFound_andABadNumberInvalid(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		if _, err := f.svc.Timeline(context.Background(), "20260101000000000000000000000000"); !errors.Is(err, order.ErrNotFound) {
			t.Errorf("unknown order: %v, want ErrNotFound", err)
		}
		if _, err := f.svc.Timeline(context.Background(), "12x"); !errors.Is(err, order.ErrInvalid) {
			t.Errorf("bad number: %v, want ErrInvalid", err)
		}
	})
}

// countingTimeline counts the timeline writes the saga waits for (Record) and those it does
// not (Append).
type countingTimeline struct {
	inner            app.Timeline
	records, appends atomic.Int64
}

func (c *countingTimeline) Timeline(ctx context.Context, sn order.SN) ([]app.SagaStep, error) {
	return c.inner.Timeline(ctx, sn)
}

func (c *countingTimeline) Record(ctx context.Context, sn order.SN, steps ...app.SagaStep) error {
	c.records.Add(1)
	return c.inner.Record(ctx, sn, steps...)
}

func (c *countingTimeline) Append(ctx context.Context, sn order.SN, steps ...app.SagaStep) error {
	c.appends.Add(1)
	return c.inner.Append(ctx, sn, steps...)
}

// A created order waits for no timeline write of its own: half_sent and stock_deducted commit
// with the order, and the answer's steps are appended — yet a read right after the answer sees
// them all. A failed local transaction records what it noted with local_failed, as before.
func TestTimeline_happyPath_waitsForNoTimelineWrite_andReadsItsOwnSteps(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		ct := &countingTimeline{}
		f := newFixture(t, db, func(d *app.Deps) { ct.inner, d.Timeline = d.Timeline, ct })
		got, err := f.svc.CreateOrder(context.Background(), orderOf(order.Line{GoodsID: 1, Num: 2}))
		if err != nil {
			t.Fatal(err)
		}
		if r, a := ct.records.Load(), ct.appends.Load(); r != 0 || a != 1 {
			t.Errorf("created order: %d waited-for and %d appended timeline writes, want 0 and 1", r, a)
		}
		f.wantSteps(t, got.Order.SN, halfSent, deducted, committed, scheduled, decided)

		ct.records.Store(0)
		ct.appends.Store(0)
		cmd := orderOf(order.Line{GoodsID: 1, Num: 2})
		cmd.Fault = app.FaultFailLocalTx
		if _, err := f.svc.CreateOrder(context.Background(), cmd); !errors.Is(err, app.ErrUnavailable) {
			t.Fatalf("error = %v, want ErrUnavailable", err)
		}
		if r, a := ct.records.Load(), ct.appends.Load(); r != 1 || a != 1 {
			t.Errorf("failed order: %d waited-for and %d appended timeline writes, want 1 and 1", r, a)
		}
	})
}
