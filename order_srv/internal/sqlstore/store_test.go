package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/mysqltest"
	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
	"github.com/shopsaga/shopsaga/order_srv/internal/sqlstore"
)

func TestMain(m *testing.M) { mysqltest.Main(m) }

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// newStore opens the store on db, a fresh migrated database of either backend.
func newStore(t *testing.T, db sqltest.DB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{
		MySQLDSN: db.MySQLDSN, SQLitePath: db.SQLitePath, MaxOpenConns: 64, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// Already migrated by mysqltest/sqlitetest: applying again must find nothing to do.
	if err := s.Migrate(context.Background(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return s
}

func newOrder(t testing.TB, userID int64, items ...order.Item) order.Order {
	t.Helper()
	sn, err := order.NewSN(t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) == 0 {
		items = []order.Item{{GoodsID: 1, Num: 2, PriceCents: 150}, {GoodsID: 2, Num: 1, PriceCents: 99}}
	}
	o, err := order.New(sn, userID, order.Shipping{Address: "1 Main St", SignerName: "Ann", SignerMobile: "123"}, items, t0)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mustExist(t *testing.T, s *sqlstore.Store, sn order.SN, want bool) {
	t.Helper()
	_, err := s.Order(context.Background(), sn)
	switch {
	case want && err != nil:
		t.Fatalf("order %s: %v, want it to exist", sn, err)
	case !want && !errors.Is(err, order.ErrNotFound):
		t.Fatalf("order %s: error %v, want ErrNotFound", sn, err)
	}
}

func TestCommitOrder_writesTheOrderItsItemsAndTheCartRemoval(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		for _, g := range []int64{1, 2, 3} {
			if err := s.PutCartItem(ctx, order.CartItem{UserID: 7, GoodsID: g, Num: 1, Checked: true}, t0); err != nil {
				t.Fatal(err)
			}
		}
		o := newOrder(t, 7)
		if err := s.CommitOrder(ctx, o, app.CommitOptions{RemoveCartItems: []order.CartItem{
			{UserID: 7, GoodsID: 1, Num: 1, Checked: true}, {UserID: 7, GoodsID: 2, Num: 1, Checked: true}}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Order(ctx, o.SN)
		if err != nil {
			t.Fatal(err)
		}
		if got.SN != o.SN || got.UserID != 7 || got.Status != order.StatusWaitBuyerPay || got.TotalCents != 399 ||
			len(got.Items) != 2 || got.Items[0] != o.Items[0] || got.Items[1] != o.Items[1] ||
			got.Shipping != o.Shipping || !got.CreatedAt.Equal(t0) {
			t.Errorf("read back %+v, want %+v", got, o)
		}
		cart, err := s.CartItems(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(cart) != 1 || cart[0].GoodsID != 3 {
			t.Errorf("cart after order = %+v, want only goods 3", cart)
		}
	})
}

func TestCommitOrder_removesOnlyTheCartRowsAsOrdered_notALineChangedMeanwhile(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		ordered := []order.CartItem{
			{UserID: 7, GoodsID: 1, Num: 2, Checked: true}, // unchanged: removed
			{UserID: 7, GoodsID: 2, Num: 1, Checked: true}, // quantity changed meanwhile: stays
			{UserID: 7, GoodsID: 3, Num: 1, Checked: true}, // unchecked meanwhile: stays
		}
		now := []order.CartItem{ordered[0], {UserID: 7, GoodsID: 2, Num: 5, Checked: true}, {UserID: 7, GoodsID: 3, Num: 1, Checked: false}}
		for _, it := range now {
			if err := s.PutCartItem(ctx, it, t0); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CommitOrder(ctx, newOrder(t, 7), app.CommitOptions{RemoveCartItems: ordered}); err != nil {
			t.Fatal(err)
		}
		cart, err := s.CartItems(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(cart) != 2 || cart[0] != now[1] || cart[1] != now[2] {
			t.Errorf("cart after order = %+v, want %+v", cart, now[1:])
		}
	})
}

func TestResolveCheck_afterALocalCommit_findsTheOrder_everyTime(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		o := newOrder(t, 1)
		if err := s.CommitOrder(ctx, o, app.CommitOptions{}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			res, err := s.ResolveCheck(ctx, o.SN, t0)
			if err != nil || res != app.ResolvedCommitted {
				t.Fatalf("ResolveCheck = %v, %v; want ResolvedCommitted", res, err)
			}
		}
	})
}

func TestCommitOrder_afterACheckBack_isRefused_andWritesNothing(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		o := newOrder(t, 1)
		for range 2 {
			res, err := s.ResolveCheck(ctx, o.SN, t0)
			if err != nil || res != app.ResolvedAborted {
				t.Fatalf("ResolveCheck = %v, %v; want ResolvedAborted", res, err)
			}
		}
		if err := s.CommitOrder(ctx, o, app.CommitOptions{}); !errors.Is(err, app.ErrBarrierTaken) {
			t.Fatalf("CommitOrder after the check = %v, want ErrBarrierTaken", err)
		}
		mustExist(t, s, o.SN, false)
	})
}

func TestCommitOrder_failingBeforeCommit_leavesNothing_andTheCheckAborts(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		if err := s.PutCartItem(ctx, order.CartItem{UserID: 1, GoodsID: 1, Num: 1, Checked: true}, t0); err != nil {
			t.Fatal(err)
		}
		o := newOrder(t, 1)
		injected := errors.New("injected")
		err := s.CommitOrder(ctx, o, app.CommitOptions{RemoveCartItems: []order.CartItem{{UserID: 7, GoodsID: 1, Num: 1, Checked: true}}, BeforeCommit: func() error { return injected }})
		if !errors.Is(err, injected) {
			t.Fatalf("CommitOrder = %v, want the injected error", err)
		}
		mustExist(t, s, o.SN, false)
		if cart, err := s.CartItems(ctx, 1); err != nil || len(cart) != 1 {
			t.Errorf("cart = %+v, %v; want the item kept", cart, err)
		}
		if res, err := s.ResolveCheck(ctx, o.SN, t0); err != nil || res != app.ResolvedAborted {
			t.Fatalf("ResolveCheck = %v, %v; want ResolvedAborted", res, err)
		}
	})
}

// checkWaiting reports whether the check-back barrier insert is waiting (see CheckWaiting).
func checkWaiting(t *testing.T, waiting func(context.Context) (bool, error)) bool {
	t.Helper()
	ok, err := waiting(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestResolveCheck_racingALocalTransactionInFlight_waitsForIt_andAgrees pauses a local
// transaction between its barrier insert and its COMMIT, runs a check-back meanwhile, and
// checks that the check waits for the transaction and then answers what it did.
func TestResolveCheck_racingALocalTransactionInFlight_waitsForIt_andAgrees(t *testing.T) {
	for _, d := range sqltest.Backends {
		t.Run(string(d), func(t *testing.T) {
			for _, commit := range []bool{true, false} {
				t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
					s := newStore(t, sqltest.New(t, d, sqltest.Order))
					ctx := context.Background()
					o := newOrder(t, 1)
					paused, release := make(chan struct{}), make(chan struct{})
					var releaseOnce sync.Once
					releaseLocal := func() { releaseOnce.Do(func() { close(release) }) }
					t.Cleanup(releaseLocal) // a failing test must not leave the transaction open
					rolledBack := errors.New("local transaction fails")
					localDone := make(chan error, 1)
					go func() {
						localDone <- s.CommitOrder(ctx, o, app.CommitOptions{BeforeCommit: func() error {
							close(paused)
							<-release
							if !commit {
								return rolledBack
							}
							return nil
						}})
					}()
					<-paused

					type answer struct {
						res app.Resolution
						err error
					}
					checkDone := make(chan answer, 1)
					waiting := sqlstore.CheckWaiting(s)
					go func() {
						res, err := s.ResolveCheck(ctx, o.SN, t0)
						checkDone <- answer{res, err}
					}()
					// The check must be blocked on the barrier row (its INSERT is running), not answered.
					deadline := time.Now().Add(10 * time.Second)
					for !checkWaiting(t, waiting) {
						select {
						case a := <-checkDone:
							t.Fatalf("check answered %v, %v while the local transaction was in flight", a.res, a.err)
						default:
						}
						if time.Now().After(deadline) {
							t.Fatalf("the check never waited for the barrier row lock: %s", sqlstore.DescribeTrx(context.Background(), s))
						}
						time.Sleep(5 * time.Millisecond)
					}
					releaseLocal()

					localErr := <-localDone
					a := <-checkDone
					if a.err != nil {
						t.Fatalf("check: %v", a.err)
					}
					if commit {
						if localErr != nil || a.res != app.ResolvedCommitted {
							t.Fatalf("local = %v, check = %v; want nil, ResolvedCommitted", localErr, a.res)
						}
					} else if !errors.Is(localErr, rolledBack) || a.res != app.ResolvedAborted {
						t.Fatalf("local = %v, check = %v; want the failure, ResolvedAborted", localErr, a.res)
					}
					mustExist(t, s, o.SN, commit)
					// Whatever happened, a later check and a later local transaction agree with it.
					if res, err := s.ResolveCheck(ctx, o.SN, t0); err != nil || res != a.res {
						t.Fatalf("second check = %v, %v; want %v", res, err, a.res)
					}
					if err := s.CommitOrder(ctx, o, app.CommitOptions{}); !errors.Is(err, app.ErrBarrierTaken) {
						t.Fatalf("a second local transaction = %v, want ErrBarrierTaken", err)
					}
				})
			}
		})
	}
}

// TestResolveCheck_racingLocalTransactions_atRandom_neverContradictsThem runs many local
// transactions and checks for the same orders concurrently with random pauses.
func TestResolveCheck_racingLocalTransactions_atRandom_neverContradictsThem(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		seed := time.Now().UnixNano()
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewPCG(uint64(seed), 0))
		const n = 60
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
			pause := time.Duration(rng.IntN(20)) * time.Millisecond
			checkDelay := time.Duration(rng.IntN(20)) * time.Millisecond
			wg.Add(2)
			go func() {
				defer wg.Done()
				results[i].localErr = s.CommitOrder(ctx, o, app.CommitOptions{BeforeCommit: func() error {
					time.Sleep(pause) // a slow transaction, holding the barrier row
					return nil
				}})
			}()
			go func() {
				defer wg.Done()
				time.Sleep(checkDelay)
				results[i].check, results[i].checkErr = s.ResolveCheck(ctx, o.SN, t0)
			}()
		}
		wg.Wait()
		var committed, aborted int
		for _, r := range results {
			if r.checkErr != nil {
				t.Fatalf("%s: check: %v", r.sn, r.checkErr)
			}
			switch {
			case r.localErr == nil && r.check == app.ResolvedCommitted:
				committed++
				mustExist(t, s, r.sn, true)
			case errors.Is(r.localErr, app.ErrBarrierTaken) && r.check == app.ResolvedAborted:
				aborted++
				mustExist(t, s, r.sn, false)
			default:
				t.Errorf("%s: local = %v but check = %v", r.sn, r.localErr, r.check)
			}
		}
		t.Logf("%d committed first, %d checked first", committed, aborted)
	})
}

func TestUpdateOrder_paysOrCloses_withACompareAndSet(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		o := newOrder(t, 1)
		if err := s.CommitOrder(ctx, o, app.CommitOptions{}); err != nil {
			t.Fatal(err)
		}
		paid, err := s.UpdateOrder(ctx, o.SN, func(o *order.Order) error { return o.Pay(t0.Add(time.Minute)) })
		if err != nil || paid.Status != order.StatusTradeSuccess || paid.PaidAt == nil {
			t.Fatalf("pay = %+v, %v", paid, err)
		}
		_, err = s.UpdateOrder(ctx, o.SN, func(o *order.Order) error { return o.Close(t0.Add(time.Hour)) })
		if !errors.Is(err, order.ErrOrderPaid) {
			t.Fatalf("close a paid order = %v, want ErrOrderPaid", err)
		}
		got, err := s.Order(ctx, o.SN)
		if err != nil || got.Status != order.StatusTradeSuccess || !got.PaidAt.Equal(t0.Add(time.Minute)) || got.ClosedAt != nil {
			t.Fatalf("after refused close: %+v, %v", got, err)
		}
		if _, err := s.UpdateOrder(ctx, "20260101000000000000000000000000", func(*order.Order) error { return nil }); !errors.Is(err, order.ErrNotFound) {
			t.Fatalf("update a missing order = %v, want ErrNotFound", err)
		}
	})
}

func TestUpdateOrder_concurrentPayAndClose_exactlyOneWins(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		for range 20 {
			o := newOrder(t, 1)
			if err := s.CommitOrder(ctx, o, app.CommitOptions{}); err != nil {
				t.Fatal(err)
			}
			var payErr, closeErr error
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, payErr = s.UpdateOrder(ctx, o.SN, func(o *order.Order) error { return o.Pay(t0) })
			}()
			go func() {
				defer wg.Done()
				_, closeErr = s.UpdateOrder(ctx, o.SN, func(o *order.Order) error { return o.Close(t0) })
			}()
			wg.Wait()
			got, err := s.Order(ctx, o.SN)
			if err != nil {
				t.Fatal(err)
			}
			switch got.Status {
			case order.StatusTradeSuccess:
				if payErr != nil || !errors.Is(closeErr, order.ErrOrderPaid) {
					t.Fatalf("paid, but pay = %v, close = %v", payErr, closeErr)
				}
			case order.StatusTradeClosed:
				if closeErr != nil || !errors.Is(payErr, order.ErrOrderClosed) {
					t.Fatalf("closed, but pay = %v, close = %v", payErr, closeErr)
				}
			default:
				t.Fatalf("status %s after pay and close", got.Status)
			}
		}
	})
}

func TestOrdersOfUser_newestFirst_paged(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		var sns []order.SN
		for range 5 {
			o := newOrder(t, 3)
			if err := s.CommitOrder(ctx, o, app.CommitOptions{}); err != nil {
				t.Fatal(err)
			}
			sns = append(sns, o.SN)
		}
		if err := s.CommitOrder(ctx, newOrder(t, 4), app.CommitOptions{}); err != nil {
			t.Fatal(err)
		}
		page1, total, err := s.OrdersOfUser(ctx, 3, app.Page{Number: 1, Size: 2})
		if err != nil || total != 5 || len(page1) != 2 || page1[0].SN != sns[4] || page1[1].SN != sns[3] || len(page1[0].Items) != 2 {
			t.Fatalf("page 1 = %v (total %d), %v", page1, total, err)
		}
		page3, _, err := s.OrdersOfUser(ctx, 3, app.Page{Number: 3, Size: 2})
		if err != nil || len(page3) != 1 || page3[0].SN != sns[0] {
			t.Fatalf("page 3 = %v, %v", page3, err)
		}
		none, total, err := s.OrdersOfUser(ctx, 99, app.Page{Number: 1, Size: 2})
		if err != nil || total != 0 || len(none) != 0 {
			t.Fatalf("other user = %v (total %d), %v", none, total, err)
		}
	})
}

func TestCart_putReplaces_deleteIsIdempotent(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		put := func(g int64, n int32, checked bool) {
			t.Helper()
			if err := s.PutCartItem(ctx, order.CartItem{UserID: 1, GoodsID: g, Num: n, Checked: checked}, t0); err != nil {
				t.Fatal(err)
			}
		}
		put(2, 1, true)
		put(1, 5, false)
		put(2, 3, false)
		got, err := s.CartItems(ctx, 1)
		want := []order.CartItem{{UserID: 1, GoodsID: 1, Num: 5}, {UserID: 1, GoodsID: 2, Num: 3}}
		if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("cart = %+v, %v; want %+v", got, err, want)
		}
		for range 2 {
			if err := s.DeleteCartItem(ctx, 1, 2); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.CartItems(ctx, 1); err != nil || len(got) != 1 {
			t.Fatalf("cart after delete = %+v, %v", got, err)
		}
	})
}

func TestIdempotencyKeys_claimFinishReleaseAndTakeOver(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		k := app.IdempotencyKey{UserID: 1, Key: "k-1"}
		a, b := newOrder(t, 1).SN, newOrder(t, 1).SN

		rec, claimed, err := s.ClaimKey(ctx, k, "h", a, t0)
		if err != nil || !claimed || rec.OrderSN != a {
			t.Fatalf("first claim = %+v, %v, %v", rec, claimed, err)
		}
		rec, claimed, err = s.ClaimKey(ctx, k, "h2", b, t0.Add(time.Second))
		if err != nil || claimed || rec.OrderSN != a || rec.RequestHash != "h" || rec.Outcome != "" || !rec.CreatedAt.Equal(t0) {
			t.Fatalf("second claim = %+v, %v, %v; want the first record", rec, claimed, err)
		}
		if ok, err := s.TakeOverKey(ctx, k, b, b, t0); err != nil || ok {
			t.Fatalf("take over from the wrong attempt = %v, %v", ok, err)
		}
		if ok, err := s.TakeOverKey(ctx, k, a, b, t0.Add(time.Minute)); err != nil || !ok {
			t.Fatalf("take over = %v, %v", ok, err)
		}
		// The old attempt can no longer finish or release the key.
		if err := s.FinishKey(ctx, k, a, app.OutcomeInsufficientStock, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseKey(ctx, k, a); err != nil {
			t.Fatal(err)
		}
		rec, _, err = s.ClaimKey(ctx, k, "h", a, t0)
		if err != nil || rec.OrderSN != b || rec.Outcome != "" {
			t.Fatalf("after stale finish/release: %+v, %v", rec, err)
		}
		// The key is finished by the order's local transaction, atomically with the order.
		o := newOrder(t, 1)
		o.SN = b
		if err := s.CommitOrder(ctx, o, app.CommitOptions{Idempotency: &k}); err != nil {
			t.Fatal(err)
		}
		rec, _, err = s.ClaimKey(ctx, k, "h", a, t0)
		if err != nil || rec.OrderSN != b || rec.Outcome != app.OutcomeCreated {
			t.Fatalf("after commit: %+v, %v", rec, err)
		}
		// A local transaction whose key was taken over writes nothing.
		k2 := app.IdempotencyKey{UserID: 1, Key: "k-2"}
		c := newOrder(t, 1)
		if _, _, err := s.ClaimKey(ctx, k2, "h", "20260101000000000000000000000001", t0); err != nil {
			t.Fatal(err)
		}
		if err := s.CommitOrder(ctx, c, app.CommitOptions{Idempotency: &k2}); err == nil {
			t.Fatal("CommitOrder with a key bound to another attempt succeeded")
		}
		mustExist(t, s, c.SN, false)
		// Release forgets an unfinished key.
		if err := s.ReleaseKey(ctx, k2, "20260101000000000000000000000001"); err != nil {
			t.Fatal(err)
		}
		if _, claimed, err := s.ClaimKey(ctx, k2, "h", c.SN, t0); err != nil || !claimed {
			t.Fatalf("claim after release = %v, %v", claimed, err)
		}
	})
}
