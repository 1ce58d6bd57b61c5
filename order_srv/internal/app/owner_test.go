package app_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
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
		if out := other.Check(context.Background(), sn, f.broker.ownerOf(sn)); out != app.AskLater {
			t.Fatalf("check at another instance during a live saga = %v, want ask-later (not a fence)", out)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("the slow but healthy order = %v, want it created", err)
		}
		if out := other.Check(context.Background(), sn, f.broker.ownerOf(sn)); out != app.DiscardReback {
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
		if out := other.Check(context.Background(), sn, f.broker.ownerOf(sn)); out != app.AskLater {
			t.Fatalf("check within the dead owner's deadline = %v, want ask-later", out)
		}
		f.advance(16 * time.Second) // past the default saga timeout (15 s)
		out := other.Check(context.Background(), sn, f.broker.ownerOf(sn))
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

// crashedSaga runs an order that crashes after deducting its stock (no order, barrier free)
// and returns its number.
func crashedSaga(t *testing.T, f *fixture) order.SN {
	t.Helper()
	f.broker.mu.Lock()
	before := len(f.broker.decisions)
	f.broker.mu.Unlock()
	cmd := orderOf(order.Line{GoodsID: 1, Num: 2})
	cmd.Fault = app.FaultCrashAfterDeduct
	crash(t, f, cmd)
	f.broker.mu.Lock()
	defer f.broker.mu.Unlock()
	if len(f.broker.decisions) != before+1 {
		t.Fatalf("%d half messages after one order, want %d", len(f.broker.decisions), before+1)
	}
	for sn, out := range f.broker.decisions {
		if out == app.AskLater && f.broker.owners[sn] != (app.HalfOwner{}) && !f.broker.seen[sn] {
			f.broker.seen[sn] = true
			return sn
		}
	}
	t.Fatal("no undecided half message for the crashed order")
	return ""
}

// TestCheck_ofAHalfCarryingALiveOwner_atAnotherInstance_asksLater_pastItsDeadlineOrWithoutOwner_fencesByBarrier
// is the contract of the owner travelling with the half message: the half names its instance and
// deadline (start + the saga timeout); a check-back on another instance answers ask-later while
// that owner is within its deadline, and decides by the barrier once it is past, when the half
// carries no owner (sent by an older version), or when it names the checking instance itself.
func TestCheck_ofAHalfCarryingALiveOwner_atAnotherInstance_asksLater_pastItsDeadlineOrWithoutOwner_fencesByBarrier(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.broker.seen = map[order.SN]bool{}
		other := secondInstance(t, f)
		ctx := context.Background()
		for _, tt := range []struct {
			name  string
			owner func(sent app.HalfOwner) app.HalfOwner
			want  app.HalfOutcome
		}{
			{"live owner elsewhere", func(sent app.HalfOwner) app.HalfOwner { return sent }, app.AskLater},
			{"owner at its deadline", func(sent app.HalfOwner) app.HalfOwner {
				return app.HalfOwner{Instance: sent.Instance, Deadline: f.now}
			}, app.DeliverReback},
			{"no owner (an older version's half)", func(app.HalfOwner) app.HalfOwner { return app.HalfOwner{} }, app.DeliverReback},
			{"owner is the checking instance", func(sent app.HalfOwner) app.HalfOwner {
				return app.HalfOwner{Instance: "second", Deadline: sent.Deadline}
			}, app.DeliverReback},
		} {
			t.Run(tt.name, func(t *testing.T) {
				sn := crashedSaga(t, f)
				sent := f.broker.ownerOf(sn)
				if sent.Instance == "" || sent.Instance == "second" || !sent.Deadline.Equal(f.now.Add(15*time.Second)) {
					t.Fatalf("the half carries owner %+v, want the first instance until now + 15 s (%v)", sent, f.now.Add(15*time.Second))
				}
				if out := other.Check(ctx, sn, tt.owner(sent)); out != tt.want {
					t.Fatalf("check = %v, want %v", out, tt.want)
				}
				res, settled, err := f.store.Settled(ctx, sn)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case tt.want == app.AskLater && settled:
					t.Errorf("asked later, but the barrier holds %v: the live saga was fenced", res)
				case tt.want == app.DeliverReback && (!settled || res != app.ResolvedAborted):
					t.Errorf("delivered the reback, but the barrier holds %v (found %v), want the check's fence", res, settled)
				}
			})
		}
	})
}

func TestNew_refusesAnInstanceNameTheHalfMessageCannotCarry(t *testing.T) {
	_, err := app.New(app.Deps{}, app.Options{Instance: "order\x01a"})
	if err == nil || !strings.Contains(err.Error(), "instance name") {
		t.Fatalf("New with a control character in the instance name = %v, want an error naming it", err)
	}
}

func TestReview_New_refusesAnOverlongInstanceName(t *testing.T) {
	if _, err := app.New(app.Deps{}, app.Options{Instance: strings.Repeat("a", app.MaxInstanceLen+1)}); err == nil || !strings.Contains(err.Error(), "instance name") {
		t.Fatalf("New with an instance name of %d bytes = %v, want an error naming it", app.MaxInstanceLen+1, err)
	}
	_, err := app.New(app.Deps{}, app.Options{Instance: strings.Repeat("a", app.MaxInstanceLen)})
	if err != nil && strings.Contains(err.Error(), "instance name") {
		t.Fatalf("New with an instance name of %d bytes refused it: %v", app.MaxInstanceLen, err)
	}
}
