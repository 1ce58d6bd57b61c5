package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// unsettledCommit plays a database that fails the COMMIT (outcome unknown) and then the barrier
// read that would settle it, once each; the transaction is rolled back underneath, so a later
// check-back finds nothing and returns the stock. COMMIT failures cannot be produced on demand
// with a real database, so this is the one place the saga store is wrapped.
type unsettledCommit struct {
	app.SagaStore
	mu      sync.Mutex
	commits int
	checks  int
}

var errCommitLost = errors.New("connection lost during COMMIT")

func (u *unsettledCommit) CommitOrder(ctx context.Context, o order.Order, opts app.CommitOptions) error {
	u.mu.Lock()
	u.commits++
	first := u.commits == 1
	u.mu.Unlock()
	if !first {
		return u.SagaStore.CommitOrder(ctx, o, opts)
	}
	opts.BeforeCommit = func() error { return errCommitLost }
	if err := u.SagaStore.CommitOrder(ctx, o, opts); !errors.Is(err, errCommitLost) {
		return err
	}
	return app.ErrCommitUnknown
}

func (u *unsettledCommit) ResolveCheck(ctx context.Context, sn order.SN, now time.Time) (app.Resolution, error) {
	u.mu.Lock()
	u.checks++
	first := u.checks == 1
	u.mu.Unlock()
	if first {
		return 0, errors.New("database unreachable")
	}
	return u.SagaStore.ResolveCheck(ctx, sn, now)
}

func TestCreateOrder_commitOutcomeUnsettled_isOutcomeUnknown_notUnavailable_andKeepsTheKey(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db, func(d *app.Deps) { d.Saga = &unsettledCommit{SagaStore: d.Saga} })
		ctx := context.Background()
		cmd := orderOf(order.Line{GoodsID: 1, Num: 2})
		cmd.IdempotencyKey = "unsettled"
		_, err := f.svc.CreateOrder(ctx, cmd)
		if !errors.Is(err, app.ErrOutcomeUnknown) || errors.Is(err, app.ErrUnavailable) {
			t.Fatalf("CreateOrder = %v, want ErrOutcomeUnknown (and not ErrUnavailable, which says nothing was left behind)", err)
		}
		sn := f.onlySN(t)
		if got := f.broker.decision(sn); got != app.AskLater {
			t.Fatalf("half message answered %v, want it left to the check-back", got)
		}
		if _, err := f.svc.CreateOrder(ctx, cmd); !errors.Is(err, app.ErrRequestInProgress) {
			t.Errorf("retry with the same key = %v, want ErrRequestInProgress (the key must stay bound)", err)
		}
		if out := f.broker.checkBack(sn); out != app.DeliverReback {
			t.Fatalf("check-back = %v, want deliver-reback (nothing was committed)", out)
		}
		if got := f.inv.stockOf(1); got != 10 {
			t.Errorf("stock = %d after the check-back, want 10", got)
		}
		f.mustNotExist(t, sn)
	})
}

func TestCreateOrder_fromCart_aLineChangedWhileOrdering_staysInTheCart(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		for _, g := range []int64{1, 2} {
			if _, err := f.svc.PutCartItem(ctx, 1, g, 2, true); err != nil {
				t.Fatal(err)
			}
		}
		var once sync.Once
		f.inv.inSell = func() {
			once.Do(func() {
				// The user raises goods 2 from 2 to 5 while the order of 2 is being made.
				if _, err := f.svc.PutCartItem(ctx, 1, 2, 5, true); err != nil {
					t.Error(err)
				}
			})
		}
		cmd := orderOf()
		cmd.FromCart = true
		got, err := f.svc.CreateOrder(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if it := got.Order.Items; len(it) != 2 || it[1].GoodsID != 2 || it[1].Num != 2 {
			t.Fatalf("ordered %+v, want 2 of goods 2 as read", it)
		}
		cart, err := f.svc.CartItems(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(cart) != 1 || cart[0].GoodsID != 2 || cart[0].Num != 5 {
			t.Errorf("cart after ordering = %+v, want only goods 2 with the user's new quantity 5", cart)
		}
	})
}

// cutByTheDeadline plays a local transaction whose COMMIT round trip is cut by the saga's
// deadline: it waits for ctx to end, the transaction rolls back underneath, and the outcome is
// unknown to the caller.
type cutByTheDeadline struct{ app.SagaStore }

func (c cutByTheDeadline) CommitOrder(ctx context.Context, o order.Order, opts app.CommitOptions) error {
	opts.BeforeCommit = func() error { <-ctx.Done(); return ctx.Err() }
	if err := c.SagaStore.CommitOrder(ctx, o, opts); err == nil {
		return errors.New("the commit was not cut")
	}
	return app.ErrCommitUnknown
}

// A commit cut by the saga's deadline is settled through the barrier at once — on a context of
// its own, not the expired one — so the stock comes back now instead of at the check-back.
func TestReview_commitCutByTheSagaDeadline_isSettledAtOnce(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixtureWith(t, db, app.Options{SagaTimeout: 300 * time.Millisecond},
			func(d *app.Deps) { d.Saga = cutByTheDeadline{SagaStore: d.Saga} })
		_, err := f.svc.CreateOrder(context.Background(), orderOf(order.Line{GoodsID: 1, Num: 2}))
		if !errors.Is(err, app.ErrUnavailable) || errors.Is(err, app.ErrOutcomeUnknown) {
			t.Fatalf("CreateOrder = %v, want ErrUnavailable (settled: nothing left behind)", err)
		}
		sn := f.onlySN(t)
		if got := f.broker.decision(sn); got != app.DeliverReback {
			t.Fatalf("half message answered %v, want deliver-reback at once", got)
		}
		if got := f.inv.stockOf(1); got != 10 {
			t.Errorf("stock = %d, want 10 (returned)", got)
		}
		f.mustNotExist(t, sn)
	})
}
