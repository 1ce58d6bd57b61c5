//go:build !race

package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/inventory"
	"github.com/shopsaga/shopsaga/order_srv/internal/mq"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
	"github.com/shopsaga/shopsaga/order_srv/internal/sqlstore"
)

// pausingSaga holds every local transaction between its last write and its COMMIT — after the
// barrier insert — until released, then commits or fails it.
type pausingSaga struct {
	app.SagaStore
	paused  chan order.SN
	release chan error // nil: commit
}

func (p *pausingSaga) CommitOrder(ctx context.Context, o order.Order, opts app.CommitOptions) error {
	opts.BeforeCommit = func() error {
		p.paused <- o.SN
		return <-p.release
	}
	return p.SagaStore.CommitOrder(ctx, o, opts)
}

// watchedChecks runs local transactions on one Service and answers check-backs with another
// (as if the broker had picked another order_srv instance of the group: the instance running
// the order would just ask the broker to check again later), reporting each check as it starts
// and ends.
type watchedChecks struct {
	app.LocalTransactions                       // runs ExecuteLocal
	other                 app.LocalTransactions // answers Check
	started               chan order.SN
	mu                    sync.Mutex
	answers               map[order.SN]app.HalfOutcome
}

func (w *watchedChecks) Check(ctx context.Context, sn order.SN, owner app.HalfOwner) app.HalfOutcome {
	w.started <- sn
	out := w.other.Check(ctx, sn, owner)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.answers[sn] = out
	return out
}

func (w *watchedChecks) answer(sn order.SN) (app.HalfOutcome, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out, ok := w.answers[sn]
	return out, ok
}

// TestSaga_checkBackRacingALocalTransaction_waitsAndAgrees holds a local transaction open (its
// barrier row claimed, not committed) until the real broker checks back, then lets it commit or
// fail: the check-back must wait for it and answer what it did, and the stock must end
// accordingly.
func TestSaga_checkBackRacingALocalTransaction_waitsAndAgrees(t *testing.T) {
	for _, d := range sqltest.Backends {
		t.Run(string(d), func(t *testing.T) { testCheckBackRacingALocalTransaction(t, d) })
	}
}

func testCheckBackRacingALocalTransaction(t *testing.T, d sqldb.Dialect) {
	s := newSystemOn(t, d)
	s.putGoods(1, 100, 10)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	mq.ConfigureClient(log)

	store, err := sqlstore.Open(ctx, sqlstore.Options{MySQLDSN: s.orderDB.MySQLDSN, SQLitePath: s.orderDB.SQLitePath, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	tokens, err := auth.NewServiceTokenSource(testAuthSecret, "order_srv") // inventory wants scope service
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.New(s.inv.url, 5*time.Second, inventory.WithToken(tokens))
	if err != nil {
		t.Fatal(err)
	}
	cfg := mq.Config{Namesrv: []string{s.broker.NamesrvAddr()}, RebackTopic: "order_reback", TimeoutTopic: "order_timeout",
		TxGroup: "order_srv_tx", ProducerGroup: "order_srv", TimeoutGroup: "order_srv_timeout", PayTimeoutLevel: 18, Log: log}
	halves, err := mq.NewTxPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	timeouts, err := mq.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	saga := &pausingSaga{SagaStore: store, paused: make(chan order.SN), release: make(chan error)}
	deps := app.Deps{Orders: store, Carts: store, Saga: saga, Idempotency: store, Timeline: store, Stock: inv, Goods: inv,
		Halves: halves, Timeouts: timeouts, Log: log, Crash: func(string) {}}
	svc, err := app.New(deps, app.Options{SagaTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	deps.Saga = store
	otherInstance, err := app.New(deps, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := timeouts.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = timeouts.Shutdown() })
	checks := &watchedChecks{LocalTransactions: svc, other: otherInstance, started: make(chan order.SN, 16), answers: map[order.SN]app.HalfOutcome{}}
	if err := halves.Start(ctx, checks); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = halves.Shutdown() })

	for _, tt := range []struct {
		name      string
		localErr  error
		wantCheck app.HalfOutcome
	}{
		{"local commits", nil, app.DiscardReback},
		{"local fails", errors.New("local transaction fails"), app.DeliverReback},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := s.stock(1)
			type result struct {
				created app.Created
				err     error
			}
			done := make(chan result, 1)
			go func() {
				c, err := svc.CreateOrder(ctx, app.CreateOrder{UserID: 7, Lines: []order.Line{{GoodsID: 1, Num: 2}},
					Shipping: order.Shipping{Address: "a", SignerName: "n", SignerMobile: "1"}})
				done <- result{c, err}
			}()
			sn := <-saga.paused
			// The half message is undecided while the transaction is held: the broker checks back.
			select {
			case got := <-checks.started:
				if got != sn {
					t.Fatalf("check-back for %s, want %s", got, sn)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("no check-back while the local transaction was held")
			}
			if out, ok := checks.answer(sn); ok {
				t.Fatalf("the check-back answered %v while the local transaction was in flight", out)
			}
			if out := svc.Check(context.Background(), sn, app.HalfOwner{}); out != app.AskLater {
				t.Fatalf("the instance running the order answered its check-back %v, want ask-later", out)
			}
			saga.release <- tt.localErr
			res := <-done
			eventually(t, 30*time.Second, "the check-back's answer", func() bool { _, ok := checks.answer(sn); return ok })
			out, _ := checks.answer(sn)
			if out != tt.wantCheck {
				t.Fatalf("check-back answered %v, want %v", out, tt.wantCheck)
			}
			_, getErr := store.Order(ctx, sn)
			if tt.localErr == nil {
				if res.err != nil || getErr != nil || s.stock(1) != before-2 {
					t.Fatalf("committed: create %v, order %v, stock %d", res.err, getErr, s.stock(1))
				}
				return
			}
			if res.err == nil || !errors.Is(getErr, order.ErrNotFound) {
				t.Fatalf("failed: create %v, order %v", res.err, getErr)
			}
			eventually(t, 30*time.Second, "the stock to come back", func() bool { return s.stock(1) == before })
		})
	}
	if st, _ := call(t, "GET", s.inv.url+"/readyz", nil); st != http.StatusOK {
		t.Errorf("inventory not ready at the end: %d", st)
	}
}
