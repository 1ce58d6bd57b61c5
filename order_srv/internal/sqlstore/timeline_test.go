package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
	"github.com/shopsaga/shopsaga/order_srv/internal/sqlstore"
)

func stepsOf(t *testing.T, s interface {
	Timeline(context.Context, order.SN) ([]app.SagaStep, error)
}, sn order.SN) []app.Step {
	t.Helper()
	steps, err := s.Timeline(context.Background(), sn)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]app.Step, len(steps))
	for i, st := range steps {
		out[i] = st.Step
	}
	return out
}

func TestTimeline_stepsOfATransactionCommitAndRollBackWithIt(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		o, failed := newOrder(t, 1), newOrder(t, 1)
		at := t0.Add(1234567 * time.Microsecond)
		if err := s.Record(ctx, o.SN, app.NewSagaStep(app.StepHalfSent, "goods 1 × 2", at)); err != nil {
			t.Fatal(err)
		}
		committed := app.NewSagaStep(app.StepLocalCommitted, "", t0.Add(2*time.Second))
		if err := s.CommitOrder(ctx, o, app.CommitOptions{Steps: []app.SagaStep{committed}}); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		if err := s.CommitOrder(ctx, failed, app.CommitOptions{Steps: []app.SagaStep{committed}, BeforeCommit: func() error { return boom }}); !errors.Is(err, boom) {
			t.Fatalf("failing commit = %v", err)
		}
		if _, err := s.UpdateOrder(ctx, o.SN, func(o *order.Order) error { return o.Pay(t0.Add(time.Minute)) }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateOrder(ctx, o.SN, func(o *order.Order) error { return o.Pay(t0.Add(2 * time.Minute)) }); err != nil {
			t.Fatal(err) // paid again: no status change, no step
		}
		if got, want := stepsOf(t, s, o.SN), []app.Step{app.StepHalfSent, app.StepLocalCommitted, app.StepPaid}; !slices.Equal(got, want) {
			t.Errorf("timeline = %v, want %v", got, want)
		}
		if got := stepsOf(t, s, failed.SN); len(got) != 0 {
			t.Errorf("rolled-back transaction left steps %v", got)
		}
		steps, err := s.Timeline(ctx, o.SN)
		if err != nil {
			t.Fatal(err)
		}
		if !steps[0].At.Equal(at) || steps[0].Detail != "goods 1 × 2" || steps[2].Detail != "WAIT_BUYER_PAY → TRADE_SUCCESS" || !steps[2].At.Equal(t0.Add(time.Minute)) {
			t.Errorf("steps = %+v", steps)
		}
		if err := s.Record(ctx, o.SN, app.SagaStep{Step: "made_up", At: t0}); err == nil {
			t.Error("recorded a step outside the closed set")
		}
	})
}

// The local transaction writes the steps noted before it (half_sent, stock_deducted) with
// local_committed, in one INSERT of the transaction: they commit with the order and roll back
// with it, and a duplicate barrier writes none of them.
func TestCommitOrder_theStepsBeforeTheCommit_areWrittenInTheTransaction(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		steps := []app.SagaStep{
			app.NewSagaStep(app.StepHalfSent, "goods 1 × 2", t0),
			app.NewSagaStep(app.StepStockDeducted, "goods 1 × 2", t0.Add(time.Millisecond)),
			app.NewSagaStep(app.StepLocalCommitted, "2 item(s)", t0.Add(2*time.Millisecond)),
		}
		want := []app.Step{app.StepHalfSent, app.StepStockDeducted, app.StepLocalCommitted}

		o := newOrder(t, 1)
		if err := s.CommitOrder(ctx, o, app.CommitOptions{Steps: steps}); err != nil {
			t.Fatal(err)
		}
		mustExist(t, s, o.SN, true)
		if got := stepsOf(t, s, o.SN); !slices.Equal(got, want) {
			t.Errorf("committed: timeline %v, want %v", got, want)
		}

		rolledBack := newOrder(t, 1)
		boom := errors.New("boom")
		if err := s.CommitOrder(ctx, rolledBack, app.CommitOptions{Steps: steps, BeforeCommit: func() error { return boom }}); !errors.Is(err, boom) {
			t.Fatalf("failing commit = %v", err)
		}
		if got := stepsOf(t, s, rolledBack.SN); len(got) != 0 {
			t.Errorf("rolled back: timeline %v, want none", got)
		}

		fenced := newOrder(t, 1)
		if res, err := s.ResolveCheck(ctx, fenced.SN, t0); err != nil || res != app.ResolvedAborted {
			t.Fatalf("ResolveCheck = %v, %v", res, err)
		}
		if err := s.CommitOrder(ctx, fenced, app.CommitOptions{Steps: steps}); !errors.Is(err, app.ErrBarrierTaken) {
			t.Fatalf("CommitOrder after the check = %v, want ErrBarrierTaken", err)
		}
		mustExist(t, s, fenced.SN, false)
		if got := stepsOf(t, s, fenced.SN); len(got) != 0 {
			t.Errorf("fenced: timeline %v, want none", got)
		}
	})
}

// On MySQL the local transaction's INSERTs go in one multi-statement round trip: a failure of
// its last INSERT (a step's detail too long for the column; SQLite does not enforce the length)
// is still reported, and rolls back the barrier, the order and its items with it — in one round
// trip with START and COMMIT (no BeforeCommit), and in three (a BeforeCommit).
func TestCommitOrder_onMySQL_aFailingLaterStatement_rollsBackTheWholeTransaction(t *testing.T) {
	db := sqltest.New(t, sqldb.MySQL, sqltest.Order)
	s := newStore(t, db)
	ctx := context.Background()
	for _, before := range []func() error{nil, func() error { return nil }} {
		o := newOrder(t, 1)
		long := app.SagaStep{Step: app.StepLocalCommitted, Detail: strings.Repeat("x", 600), At: t0}
		err := s.CommitOrder(ctx, o, app.CommitOptions{Steps: []app.SagaStep{long}, BeforeCommit: before})
		if err == nil || errors.Is(err, app.ErrBarrierTaken) {
			t.Fatalf("CommitOrder with an oversized step (BeforeCommit %v) = %v, want an error", before != nil, err)
		}
		mustExist(t, s, o.SN, false)
		if res, err := s.ResolveCheck(ctx, o.SN, t0); err != nil || res != app.ResolvedAborted {
			t.Fatalf("ResolveCheck = %v, %v; want ResolvedAborted (the barrier rolled back)", res, err)
		}
	}
}

// Local transactions with nothing to do before COMMIT (one round trip on MySQL) race check-backs
// of their orders: each pair agrees — committed and found, or fenced and refused.
func TestCommitOrder_oneRoundTrip_racingCheckBacks_agrees(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		const n = 100
		type result struct {
			sn       order.SN
			localErr error
			check    app.Resolution
			checkErr error
		}
		results := make([]result, n)
		var wg sync.WaitGroup
		for i := range n {
			o := newOrder(t, int64(i+1))
			results[i].sn = o.SN
			wg.Go(func() {
				if i%2 == 0 {
					time.Sleep(time.Duration(i%7) * time.Millisecond) // stagger which comes first
				}
				results[i].localErr = s.CommitOrder(ctx, o, app.CommitOptions{Steps: []app.SagaStep{app.NewSagaStep(app.StepLocalCommitted, "", t0)}})
			})
			wg.Go(func() {
				if i%2 == 1 {
					time.Sleep(time.Duration(i%7) * time.Millisecond)
				}
				results[i].check, results[i].checkErr = s.ResolveCheck(ctx, o.SN, t0)
			})
		}
		wg.Wait()
		var committed, fenced int
		for i, r := range results {
			switch {
			case r.checkErr != nil:
				t.Errorf("order %d: ResolveCheck: %v", i, r.checkErr)
			case r.localErr == nil && r.check == app.ResolvedCommitted:
				committed++
				mustExist(t, s, r.sn, true)
			case errors.Is(r.localErr, app.ErrBarrierTaken) && r.check == app.ResolvedAborted:
				fenced++
				mustExist(t, s, r.sn, false)
				if got := stepsOf(t, s, r.sn); len(got) != 0 {
					t.Errorf("order %d fenced but has steps %v", i, got)
				}
			default:
				t.Errorf("order %d: local transaction %v, check-back %v: they disagree", i, r.localErr, r.check)
			}
		}
		t.Logf("%d committed first, %d fenced first", committed, fenced)
	})
}

// Append returns before the steps are stored, but every read after it sees them, in the order
// they were appended or recorded (steps taken at the same time keep that order), and a
// transaction that writes a step (pay) stores it after them.
func TestAppend_isReadYourWrites_andKeepsTheOrderWithRecordAndTransactions(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		o := newOrder(t, 1)
		if err := s.CommitOrder(ctx, o, app.CommitOptions{Steps: []app.SagaStep{app.NewSagaStep(app.StepLocalCommitted, "", t0)}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, o.SN, app.NewSagaStep(app.StepTimeoutScheduled, "", t0), app.NewSagaStep(app.StepHalfDecided, "", t0)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateOrder(ctx, o.SN, func(o *order.Order) error { return o.Pay(t0.Add(time.Minute)) }); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, o.SN, app.NewSagaStep(app.StepCheckBackAsked, "", t0.Add(2*time.Minute))); err != nil {
			t.Fatal(err)
		}
		if err := s.Record(ctx, o.SN, app.NewSagaStep(app.StepCheckBackAnswered, "", t0.Add(2*time.Minute))); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, o.SN, app.NewSagaStep(app.StepTimeoutFired, "", t0.Add(2*time.Minute))); err != nil {
			t.Fatal(err)
		}
		want := []app.Step{app.StepLocalCommitted, app.StepTimeoutScheduled, app.StepHalfDecided, app.StepPaid,
			app.StepCheckBackAsked, app.StepCheckBackAnswered, app.StepTimeoutFired}
		if got := stepsOf(t, s, o.SN); !slices.Equal(got, want) {
			t.Errorf("timeline %v, want %v", got, want)
		}
		if err := s.Append(ctx, o.SN, app.SagaStep{Step: "made_up", At: t0}); err == nil {
			t.Error("appended a step outside the closed set")
		}

		// Many at once, each reading its own order right after appending.
		const orders = 32
		var wg sync.WaitGroup
		errs := make(chan error, orders)
		for i := range orders {
			wg.Go(func() {
				sn := newOrder(t, int64(i+1)).SN
				steps := []app.SagaStep{app.NewSagaStep(app.StepHalfSent, "", t0), app.NewSagaStep(app.StepHalfDecided, "", t0)}
				if err := s.Append(ctx, sn, steps...); err != nil {
					errs <- err
					return
				}
				got, err := s.Timeline(ctx, sn)
				if err != nil || len(got) != 2 || got[0].Step != app.StepHalfSent || got[1].Step != app.StepHalfDecided {
					errs <- fmt.Errorf("order %d read right after Append: %+v, %v", i, got, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// Close stores every step still queued before it closes the pool; Append fails afterwards.
func TestClose_storesTheQueuedSteps_first(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		ctx := context.Background()
		first, err := sqlstore.Open(ctx, sqlstore.Options{MySQLDSN: db.MySQLDSN, SQLitePath: db.SQLitePath, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		const orders = 50
		sns := make([]order.SN, orders)
		for i := range sns {
			sns[i] = newOrder(t, int64(i+1)).SN
			if err := first.Append(ctx, sns[i], app.NewSagaStep(app.StepHalfDecided, "", t0), app.NewSagaStep(app.StepStockReturnRequested, "", t0)); err != nil {
				t.Fatal(err)
			}
		}
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		if err := first.Append(ctx, sns[0], app.NewSagaStep(app.StepHalfDecided, "", t0)); err == nil {
			t.Error("Append after Close succeeded")
		}
		next := newStore(t, db)
		for i, sn := range sns {
			if got := stepsOf(t, next, sn); !slices.Equal(got, []app.Step{app.StepHalfDecided, app.StepStockReturnRequested}) {
				t.Errorf("order %d after Close: timeline %v", i, got)
			}
		}
	})
}

// Instance A's step taken before a payment on instance B, but stored after it (A's writer had it
// queued when the 201 went out and B was paid right away), still comes before the payment on
// the timeline either instance reads: steps are ordered by when they were taken.
func TestReview_timeline_payOnAnotherInstanceRightAfterCreate_keepsOrder(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		a, b := newStore(t, db), newStore(t, db)
		ctx := context.Background()
		o := newOrder(t, 1)
		if err := a.CommitOrder(ctx, o, app.CommitOptions{Steps: []app.SagaStep{app.NewSagaStep(app.StepLocalCommitted, "", t0)}}); err != nil {
			t.Fatal(err)
		}
		decided := app.NewSagaStep(app.StepHalfDecided, "", t0.Add(time.Millisecond)) // taken before the payment…
		if _, err := b.UpdateOrder(ctx, o.SN, func(o *order.Order) error { return o.Pay(t0.Add(2 * time.Millisecond)) }); err != nil {
			t.Fatal(err)
		}
		if err := a.Append(ctx, o.SN, decided); err != nil { // …stored after it
			t.Fatal(err)
		}
		want := []app.Step{app.StepLocalCommitted, app.StepHalfDecided, app.StepPaid}
		// A first: its read waits for its queued step, which B then sees stored.
		for _, read := range []struct {
			name string
			s    *sqlstore.Store
		}{{"A", a}, {"B", b}} {
			if got := stepsOf(t, read.s, o.SN); !slices.Equal(got, want) {
				t.Errorf("timeline read on %s = %v, want %v", read.name, got, want)
			}
		}
	})
}
