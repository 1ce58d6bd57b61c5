package app_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// secondInstance is another order_srv on the fixture's database, inventory, broker and clock.
func secondInstance(t *testing.T, f *fixture) *app.Service {
	t.Helper()
	other, err := app.New(app.Deps{
		Orders: f.store, Carts: f.store, Saga: f.store, Idempotency: f.store, Timeline: f.store, Owners: f.store,
		Stock: f.inv, Goods: f.inv, Halves: f.broker, Timeouts: f.broker,
		Log: slog.New(slog.DiscardHandler), Crash: func(string) {},
		Now: func() time.Time {
			f.nowMu.Lock()
			defer f.nowMu.Unlock()
			return f.now
		},
	}, app.Options{Instance: "second"})
	if err != nil {
		t.Fatal(err)
	}
	return other
}

func TestCheck_atAnotherInstance_leavesALiveSagaAlone_andAgreesOnceItCommitted(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		other := secondInstance(t, f)
		entered, release := make(chan struct{}), make(chan struct{})
		f.inv.inSell = func() {
			close(entered)
			<-release
		}
		done := make(chan error, 1)
		go func() {
			_, err := f.svc.CreateOrder(context.Background(), orderOf(order.Line{GoodsID: 1, Num: 2}))
			done <- err
		}()
		<-entered
		sn := f.onlySN(t)
		if out := other.Check(context.Background(), sn); out != app.AskLater {
			t.Fatalf("check at another instance during a live saga = %v, want ask-later (not a fence)", out)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("the slow but healthy order = %v, want it created", err)
		}
		if out := other.Check(context.Background(), sn); out != app.DiscardReback {
			t.Errorf("check after the commit = %v, want discard-reback", out)
		}
		if f.inv.stockOf(1) != 8 {
			t.Errorf("stock = %d, want 8", f.inv.stockOf(1))
		}
	})
}

// TestCheck_atAnotherInstance_afterTheOwnerDied_decidesOncePastItsDeadline: the owner crashed
// after the deduction; the survivor answers the check-backs.
func TestCheck_atAnotherInstance_afterTheOwnerDied_decidesOncePastItsDeadline(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		other := secondInstance(t, f)
		cmd := orderOf(order.Line{GoodsID: 1, Num: 2})
		cmd.Fault = app.FaultCrashAfterDeduct
		crash(t, f, cmd)
		sn := f.onlySN(t)
		if out := other.Check(context.Background(), sn); out != app.AskLater {
			t.Fatalf("check within the dead owner's deadline = %v, want ask-later", out)
		}
		f.advance(16 * time.Second) // past the default saga timeout (15 s)
		out := other.Check(context.Background(), sn)
		if out != app.DeliverReback {
			t.Fatalf("check past the deadline = %v, want deliver-reback", out)
		}
		if err := f.broker.decide(sn, out); err != nil { // the broker delivers the reback
			t.Fatal(err)
		}
		if f.inv.stockOf(1) != 10 {
			t.Errorf("stock = %d, want 10", f.inv.stockOf(1))
		}
		// The barrier is claimed: the dead owner's transaction could never commit now.
		o, err := order.New(sn, 1, cmd.Shipping, []order.Item{{GoodsID: 1, Num: 2, PriceCents: 150}}, f.now)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.CommitOrder(context.Background(), o, app.CommitOptions{}); !errors.Is(err, app.ErrBarrierTaken) {
			t.Errorf("late commit = %v, want ErrBarrierTaken", err)
		}
	})
}
