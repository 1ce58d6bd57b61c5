package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/mysqltest"
	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
	"github.com/shopsaga/shopsaga/order_srv/internal/sqlstore"
)

// These tests run the use cases on a real database, each on MariaDB and on SQLite. Inventory and the broker are replaced by
// small in-memory doubles with the same contracts (idempotent sell and reback per order
// number; a half message whose local transaction runs inside PublishHalf), so that every
// failure can be injected at an exact point. The full saga against the real inventory_srv and
// broker is tested in order_srv/saga_test.go.

func TestMain(m *testing.M) { mysqltest.Main(m) }

// memInventory is inventory_srv's contract in memory.
type memInventory struct {
	mu       sync.Mutex
	stock    map[int64]int64
	price    map[int64]int64
	sold     map[order.SN][]order.Line // deducted, not returned
	returned map[order.SN]bool         // returned or fenced
	rebacks  int
	// failAfterDeduct makes the next Sell deduct and then fail, like a timeout.
	failAfterDeduct error
	// inSell, when set, is called inside Sell before deducting (to pause a request).
	inSell func()
	// clock, when set, stamps every sell (soldAt), for the reconciler's list of deducted sells.
	clock  func() time.Time
	soldAt map[order.SN]time.Time
}

func newInventory() *memInventory {
	return &memInventory{
		stock: map[int64]int64{1: 10, 2: 10, 3: 10},
		price: map[int64]int64{1: 150, 2: 99, 3: 1000},
		sold:  map[order.SN][]order.Line{}, returned: map[order.SN]bool{},
	}
}

func (m *memInventory) Sell(_ context.Context, sn order.SN, lines []order.Line) ([]order.Item, error) {
	if m.inSell != nil {
		m.inSell()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.returned[sn] {
		return nil, fmt.Errorf("%w: order_already_returned", app.ErrSellRejected)
	}
	if _, ok := m.sold[sn]; !ok {
		for _, l := range lines {
			if _, ok := m.stock[l.GoodsID]; !ok {
				return nil, fmt.Errorf("%w: %d", app.ErrGoodsNotFound, l.GoodsID)
			}
			if m.stock[l.GoodsID] < int64(l.Num) {
				return nil, fmt.Errorf("%w: goods %d", app.ErrInsufficientStock, l.GoodsID)
			}
		}
		for _, l := range lines {
			m.stock[l.GoodsID] -= int64(l.Num)
		}
		m.sold[sn] = lines
		if m.clock != nil {
			if m.soldAt == nil {
				m.soldAt = map[order.SN]time.Time{}
			}
			m.soldAt[sn] = m.clock()
		}
	}
	if err := m.failAfterDeduct; err != nil {
		m.failAfterDeduct = nil
		return nil, err
	}
	items := make([]order.Item, len(lines))
	for i, l := range lines {
		items[i] = order.Item{GoodsID: l.GoodsID, Num: l.Num, PriceCents: m.price[l.GoodsID]}
	}
	return items, nil
}

func (m *memInventory) Reback(_ context.Context, sn order.SN) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rebacks++
	if lines, ok := m.sold[sn]; ok {
		for _, l := range lines {
			m.stock[l.GoodsID] += int64(l.Num)
		}
		delete(m.sold, sn)
	}
	m.returned[sn] = true
	return nil
}

func (m *memInventory) CheckGoods(_ context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.stock[id]; !ok {
		return fmt.Errorf("%w: %d", app.ErrGoodsNotFound, id)
	}
	return nil
}

func (m *memInventory) stockOf(id int64) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stock[id]
}

// memBroker plays the broker: PublishHalf runs the local transaction at once, as the client
// does, and applies its answer; DeliverReback hands the reback to inventory like its consumer.
type memBroker struct {
	inv *memInventory
	lt  app.LocalTransactions

	mu        sync.Mutex
	decisions map[order.SN]app.HalfOutcome
	owners    map[order.SN]app.HalfOwner // the owner each half message carries
	seen      map[order.SN]bool          // halves a test already picked (crashedSaga)
	timeouts  map[order.SN]int
	failSend  error // next ScheduleTimeout fails
}

func (b *memBroker) PublishHalf(_ context.Context, m app.RebackMessage) error {
	b.mu.Lock()
	b.decisions[m.OrderSN] = app.AskLater // stored, undecided
	b.owners[m.OrderSN] = m.Owner
	b.mu.Unlock()
	out := b.lt.ExecuteLocal(m.OrderSN)
	return b.decide(m.OrderSN, out)
}

// checkBack runs the broker's check-back of a half message still undecided.
func (b *memBroker) checkBack(sn order.SN) app.HalfOutcome {
	out := b.lt.Check(context.Background(), sn, b.ownerOf(sn))
	if err := b.decide(sn, out); err != nil {
		panic(err)
	}
	return out
}

func (b *memBroker) decide(sn order.SN, out app.HalfOutcome) error {
	b.mu.Lock()
	b.decisions[sn] = out
	b.mu.Unlock()
	if out == app.DeliverReback {
		return b.inv.Reback(context.Background(), sn)
	}
	return nil
}

func (b *memBroker) ScheduleTimeout(_ context.Context, sn order.SN) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.failSend; err != nil {
		b.failSend = nil
		return err
	}
	b.timeouts[sn]++
	return nil
}

func (b *memBroker) decision(sn order.SN) app.HalfOutcome {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.decisions[sn]
}

// ownerOf returns the owner the half message of sn carries, as a check-back hands it over.
func (b *memBroker) ownerOf(sn order.SN) app.HalfOwner {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.owners[sn]
}

func (b *memBroker) timeoutsOf(sn order.SN) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.timeouts[sn]
}

// crashed is what the test Crash function panics with.
type crashed struct{ point string }

type fixture struct {
	svc     *app.Service
	store   *sqlstore.Store
	inv     *memInventory
	broker  *memBroker
	metrics *countingMetrics
	now     time.Time
	nowMu   sync.Mutex
}

func (f *fixture) advance(d time.Duration) {
	f.nowMu.Lock()
	defer f.nowMu.Unlock()
	f.now = f.now.Add(d)
}

// newFixture runs the use cases on db, a fresh migrated database of either backend.
// Options change the dependencies before the service is built (e.g. to wrap the saga store).
func newFixture(t *testing.T, db sqltest.DB, options ...func(*app.Deps)) *fixture {
	t.Helper()
	return newFixtureWith(t, db, app.Options{}, options...)
}

// newFixtureWith is newFixture with the service's options.
func newFixtureWith(t *testing.T, db sqltest.DB, opts app.Options, options ...func(*app.Deps)) *fixture {
	t.Helper()
	store, err := sqlstore.Open(context.Background(), sqlstore.Options{
		MySQLDSN: db.MySQLDSN, SQLitePath: db.SQLitePath, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{store: store, inv: newInventory(), metrics: &countingMetrics{}, now: time.Now().UTC()}
	f.broker = &memBroker{inv: f.inv, decisions: map[order.SN]app.HalfOutcome{}, owners: map[order.SN]app.HalfOwner{}, timeouts: map[order.SN]int{}}
	deps := app.Deps{
		Orders: store, Carts: store, Saga: store, Idempotency: store, Timeline: store,
		Stock: f.inv, Goods: f.inv, Halves: f.broker, Timeouts: f.broker, Metrics: f.metrics,
		Log: slog.New(slog.DiscardHandler),
		Now: func() time.Time {
			f.nowMu.Lock()
			defer f.nowMu.Unlock()
			return f.now
		},
		Crash:  func(point string) { panic(crashed{point}) },
		Owners: store,
	}
	for _, o := range options {
		o(&deps)
	}
	svc, err := app.New(deps, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.broker.lt = svc
	f.svc = svc
	return f
}

func orderOf(lines ...order.Line) app.CreateOrder {
	return app.CreateOrder{
		UserID:   1,
		Shipping: order.Shipping{Address: "1 Main St", SignerName: "Ann", SignerMobile: "123"},
		Lines:    lines,
	}
}

func (f *fixture) mustNotExist(t *testing.T, sn order.SN) {
	t.Helper()
	if _, err := f.store.Order(context.Background(), sn); !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("order %s: %v, want none", sn, err)
	}
}

// onlySN returns the one order number a half message was sent for.
func (f *fixture) onlySN(t *testing.T) order.SN {
	t.Helper()
	f.broker.mu.Lock()
	defer f.broker.mu.Unlock()
	var sns []order.SN
	for sn := range f.broker.decisions {
		sns = append(sns, sn)
	}
	if len(sns) != 1 {
		t.Fatalf("half messages for %v, want one", sns)
	}
	return sns[0]
}

func TestCreateOrder_sellsCommitsAndSchedulesTheTimeout(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		got, err := f.svc.CreateOrder(context.Background(), orderOf(order.Line{GoodsID: 1, Num: 2}, order.Line{GoodsID: 2, Num: 1}))
		if err != nil {
			t.Fatal(err)
		}
		o := got.Order
		if o.Status != order.StatusWaitBuyerPay || o.TotalCents != 2*150+99 || got.Replayed {
			t.Errorf("created %+v", got)
		}
		stored, err := f.store.Order(context.Background(), o.SN)
		if err != nil || stored.TotalCents != o.TotalCents || len(stored.Items) != 2 {
			t.Fatalf("stored %+v, %v", stored, err)
		}
		if d := f.broker.decision(o.SN); d != app.DiscardReback {
			t.Errorf("half message %v, want discard-reback", d)
		}
		if n := f.broker.timeoutsOf(o.SN); n != 1 {
			t.Errorf("%d timeouts scheduled, want 1", n)
		}
		if s := f.inv.stockOf(1); s != 8 {
			t.Errorf("stock of goods 1 = %d, want 8", s)
		}
		// A late check-back (e.g. the END_TRANSACTION was lost) agrees and re-sends the timeout.
		if out := f.broker.checkBack(o.SN); out != app.DiscardReback || f.broker.timeoutsOf(o.SN) != 2 {
			t.Errorf("check-back = %v with %d timeouts", out, f.broker.timeoutsOf(o.SN))
		}
	})
}

func TestCreateOrder_shortStock_leavesNothingBehind(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		_, err := f.svc.CreateOrder(context.Background(), orderOf(order.Line{GoodsID: 1, Num: 2}, order.Line{GoodsID: 2, Num: 11}))
		if !errors.Is(err, app.ErrInsufficientStock) {
			t.Fatalf("error = %v, want ErrInsufficientStock", err)
		}
		sn := f.onlySN(t)
		f.mustNotExist(t, sn)
		if d := f.broker.decision(sn); d != app.DiscardReback || f.broker.timeoutsOf(sn) != 0 {
			t.Errorf("half %v, %d timeouts", d, f.broker.timeoutsOf(sn))
		}
		if f.inv.stockOf(1) != 10 || f.inv.stockOf(2) != 10 {
			t.Error("stock changed")
		}
	})
}

func TestCreateOrder_unknownSellOutcome_returnsTheStock(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.inv.failAfterDeduct = errors.New("read tcp: i/o timeout")
		_, err := f.svc.CreateOrder(context.Background(), orderOf(order.Line{GoodsID: 1, Num: 2}))
		if !errors.Is(err, app.ErrUnavailable) {
			t.Fatalf("error = %v, want ErrUnavailable", err)
		}
		sn := f.onlySN(t)
		f.mustNotExist(t, sn)
		if d := f.broker.decision(sn); d != app.DeliverReback || f.inv.stockOf(1) != 10 {
			t.Errorf("half %v, stock %d; want the reback delivered and the stock back", d, f.inv.stockOf(1))
		}
	})
}

func TestCreateOrder_failLocalTx_returnsTheStock_andTheCheckAgrees(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		cmd := orderOf(order.Line{GoodsID: 1, Num: 2})
		cmd.Fault = app.FaultFailLocalTx
		if _, err := f.svc.CreateOrder(context.Background(), cmd); !errors.Is(err, app.ErrUnavailable) {
			t.Fatalf("error = %v, want ErrUnavailable", err)
		}
		sn := f.onlySN(t)
		f.mustNotExist(t, sn)
		if d := f.broker.decision(sn); d != app.DeliverReback || f.inv.stockOf(1) != 10 {
			t.Errorf("half %v, stock %d", d, f.inv.stockOf(1))
		}
		if out := f.broker.checkBack(sn); out != app.DeliverReback {
			t.Errorf("check-back = %v, want deliver-reback", out)
		}
	})
}

func crash(t *testing.T, f *fixture, cmd app.CreateOrder) (point string) {
	t.Helper()
	defer func() {
		r := recover()
		c, ok := r.(crashed)
		if !ok {
			panic(r)
		}
		point = c.point
	}()
	_, err := f.svc.CreateOrder(context.Background(), cmd)
	t.Fatalf("CreateOrder returned %v instead of crashing", err)
	return ""
}

func TestCreateOrder_crashAfterDeduct_theCheckReturnsTheStock(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		cmd := orderOf(order.Line{GoodsID: 1, Num: 2})
		cmd.Fault = app.FaultCrashAfterDeduct
		if p := crash(t, f, cmd); p != string(app.FaultCrashAfterDeduct) {
			t.Fatalf("crashed at %q", p)
		}
		sn := f.onlySN(t)
		if f.inv.stockOf(1) != 8 {
			t.Fatalf("stock = %d before the check, want it deducted", f.inv.stockOf(1))
		}
		if out := f.broker.checkBack(sn); out != app.DeliverReback || f.inv.stockOf(1) != 10 {
			t.Errorf("check-back = %v, stock %d; want deliver-reback and the stock back", out, f.inv.stockOf(1))
		}
		f.mustNotExist(t, sn)
	})
}

func TestCreateOrder_crashAfterCommit_theCheckKeepsTheOrder_andSchedulesItsTimeout(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		cmd := orderOf(order.Line{GoodsID: 1, Num: 2})
		cmd.Fault = app.FaultCrashAfterCommit
		crash(t, f, cmd)
		sn := f.onlySN(t)
		if _, err := f.store.Order(context.Background(), sn); err != nil {
			t.Fatalf("order after crash-after-commit: %v", err)
		}
		if f.broker.timeoutsOf(sn) != 0 {
			t.Fatal("timeout sent before the crash point")
		}
		if out := f.broker.checkBack(sn); out != app.DiscardReback || f.broker.timeoutsOf(sn) != 1 || f.inv.stockOf(1) != 8 {
			t.Errorf("check-back = %v, %d timeouts, stock %d", out, f.broker.timeoutsOf(sn), f.inv.stockOf(1))
		}
	})
}

func TestCreateOrder_timeoutNotSent_leavesItToTheCheck(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.broker.failSend = errors.New("broker busy")
		got, err := f.svc.CreateOrder(context.Background(), orderOf(order.Line{GoodsID: 1, Num: 1}))
		if err != nil {
			t.Fatalf("the order exists, so the request succeeds: %v", err)
		}
		sn := got.Order.SN
		if d := f.broker.decision(sn); d != app.AskLater || f.broker.timeoutsOf(sn) != 0 {
			t.Fatalf("half %v with %d timeouts, want ask-later", d, f.broker.timeoutsOf(sn))
		}
		if out := f.broker.checkBack(sn); out != app.DiscardReback || f.broker.timeoutsOf(sn) != 1 {
			t.Errorf("check-back = %v, %d timeouts", out, f.broker.timeoutsOf(sn))
		}
	})
}

func TestCreateOrder_fromCart_ordersTheCheckedItems_andEmptiesThem(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		for _, c := range []struct {
			goods   int64
			num     int32
			checked bool
		}{{1, 2, true}, {2, 1, false}, {3, 3, true}} {
			if _, err := f.svc.PutCartItem(ctx, 1, c.goods, c.num, c.checked); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.svc.PutCartItem(ctx, 1, 99, 1, true); !errors.Is(err, app.ErrGoodsNotFound) {
			t.Errorf("put unknown goods = %v", err)
		}
		cmd := orderOf()
		cmd.FromCart = true
		got, err := f.svc.CreateOrder(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if it := got.Order.Items; len(it) != 2 || it[0].GoodsID != 1 || it[1].GoodsID != 3 || got.Order.TotalCents != 2*150+3*1000 {
			t.Errorf("ordered %+v", got.Order)
		}
		cart, err := f.svc.CartItems(ctx, 1)
		if err != nil || len(cart) != 1 || cart[0].GoodsID != 2 {
			t.Errorf("cart after ordering = %+v, %v", cart, err)
		}
		if _, err := f.svc.CreateOrder(ctx, cmd); !errors.Is(err, app.ErrCartEmpty) {
			t.Errorf("second order from cart = %v, want ErrCartEmpty", err)
		}
		bad := cmd
		bad.Lines = []order.Line{{GoodsID: 1, Num: 1}}
		if _, err := f.svc.CreateOrder(ctx, bad); !errors.Is(err, order.ErrInvalid) {
			t.Errorf("items and from_cart = %v, want ErrInvalid", err)
		}
	})
}

func TestCreateOrder_idempotencyKey_replaysTheFirstAnswer(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		cmd := orderOf(order.Line{GoodsID: 1, Num: 2})
		cmd.IdempotencyKey = "key-1"
		first, err := f.svc.CreateOrder(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		again, err := f.svc.CreateOrder(ctx, cmd)
		if err != nil || !again.Replayed || again.Order.SN != first.Order.SN {
			t.Fatalf("retry = %+v, %v; want the first order replayed", again, err)
		}
		if f.inv.stockOf(1) != 8 {
			t.Errorf("stock = %d: the retry sold again", f.inv.stockOf(1))
		}
		other := cmd
		other.Lines = []order.Line{{GoodsID: 1, Num: 3}}
		if _, err := f.svc.CreateOrder(ctx, other); !errors.Is(err, app.ErrIdempotencyKeyReused) {
			t.Errorf("same key, other request = %v", err)
		}
		otherUser := cmd
		otherUser.UserID = 2
		if got, err := f.svc.CreateOrder(ctx, otherUser); err != nil || got.Replayed {
			t.Errorf("same key, other user = %+v, %v; keys are per user", got, err)
		}

		short := orderOf(order.Line{GoodsID: 2, Num: 50})
		short.IdempotencyKey = "key-2"
		for range 2 {
			if _, err := f.svc.CreateOrder(ctx, short); !errors.Is(err, app.ErrInsufficientStock) {
				t.Fatalf("short stock (first or replayed) = %v", err)
			}
		}
		f.inv.mu.Lock()
		f.inv.stock[2] = 100
		f.inv.mu.Unlock()
		if _, err := f.svc.CreateOrder(ctx, short); !errors.Is(err, app.ErrInsufficientStock) {
			t.Errorf("a stored answer changed after a restock: %v", err)
		}

		unavailable := orderOf(order.Line{GoodsID: 3, Num: 1})
		unavailable.IdempotencyKey = "key-3"
		f.inv.failAfterDeduct = errors.New("timeout")
		if _, err := f.svc.CreateOrder(ctx, unavailable); !errors.Is(err, app.ErrUnavailable) {
			t.Fatalf("first try = %v", err)
		}
		if got, err := f.svc.CreateOrder(ctx, unavailable); err != nil || got.Replayed {
			t.Errorf("a retry after a 503 must run again: %+v, %v", got, err)
		}
	})
}

func TestCreateOrder_idempotencyKey_concurrentRetry_isInProgress_thenStaleOnesAreTakenOver(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		cmd := orderOf(order.Line{GoodsID: 1, Num: 1})
		cmd.IdempotencyKey = "key-1"

		entered, release := make(chan struct{}), make(chan struct{})
		var calls atomic.Int32
		f.inv.inSell = func() {
			if calls.Add(1) == 1 { // pause the first attempt only
				close(entered)
				<-release
			}
		}
		first := make(chan error, 1)
		go func() {
			_, err := f.svc.CreateOrder(ctx, cmd)
			first <- err
		}()
		<-entered
		if _, err := f.svc.CreateOrder(ctx, cmd); !errors.Is(err, app.ErrRequestInProgress) {
			t.Errorf("concurrent retry = %v, want ErrRequestInProgress", err)
		}
		// The first attempt is still in flight when its key goes stale: the retry fences it
		// through the barrier and takes over; the first then cannot commit.
		f.advance(time.Minute)
		second, err := f.svc.CreateOrder(ctx, cmd)
		if err != nil || second.Replayed {
			t.Fatalf("retry of a stale attempt = %+v, %v", second, err)
		}
		close(release)
		if err := <-first; !errors.Is(err, app.ErrUnavailable) {
			t.Errorf("the fenced first attempt = %v, want ErrUnavailable", err)
		}
		orders, total, err := f.svc.OrdersOfUser(ctx, 1, app.Page{Number: 1, Size: 10})
		if err != nil || total != 1 || orders[0].SN != second.Order.SN {
			t.Fatalf("orders = %v (total %d), %v; want only the retry's", orders, total, err)
		}
		if f.inv.stockOf(1) != 9 {
			t.Errorf("stock = %d, want 9: the fenced attempt's stock returned", f.inv.stockOf(1))
		}
		if again, err := f.svc.CreateOrder(ctx, cmd); err != nil || !again.Replayed || again.Order.SN != second.Order.SN {
			t.Errorf("a later retry = %+v, %v", again, err)
		}
	})
}

func TestHandleTimeout_closesAnUnpaidOrderOnce_returnsItsStock_andLeavesPaidOnesAlone(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		unpaid, err := f.svc.CreateOrder(ctx, orderOf(order.Line{GoodsID: 1, Num: 3}))
		if err != nil {
			t.Fatal(err)
		}
		paid, err := f.svc.CreateOrder(ctx, orderOf(order.Line{GoodsID: 2, Num: 4}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Pay(ctx, string(paid.Order.SN)); err != nil {
			t.Fatal(err)
		}
		for range 2 { // duplicate delivery
			for _, sn := range []order.SN{unpaid.Order.SN, paid.Order.SN} {
				if err := f.svc.HandleTimeout(ctx, sn); err != nil {
					t.Fatal(err)
				}
			}
		}
		o, err := f.svc.Order(ctx, string(unpaid.Order.SN))
		if err != nil || o.Status != order.StatusTradeClosed || o.ClosedAt == nil {
			t.Fatalf("unpaid after timeout = %+v, %v", o, err)
		}
		if f.inv.stockOf(1) != 10 || f.inv.stockOf(2) != 6 {
			t.Errorf("stock = %d, %d; want 10 (returned once) and 6 (paid)", f.inv.stockOf(1), f.inv.stockOf(2))
		}
		if p, err := f.svc.Order(ctx, string(paid.Order.SN)); err != nil || p.Status != order.StatusTradeSuccess {
			t.Errorf("paid after timeout = %+v, %v", p, err)
		}
		if _, err := f.svc.Pay(ctx, string(unpaid.Order.SN)); !errors.Is(err, order.ErrOrderClosed) {
			t.Errorf("pay a closed order = %v, want ErrOrderClosed", err)
		}
		if err := f.svc.HandleTimeout(ctx, "20260101000000000000000000000000"); err != nil {
			t.Errorf("timeout of an unknown order = %v, want it acknowledged", err)
		}
	})
}

func TestQueries_validateTheirInput(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		for name, err := range map[string]error{
			"bad sn":     func() error { _, err := f.svc.Order(ctx, "123"); return err }(),
			"bad pay sn": func() error { _, err := f.svc.Pay(ctx, "x"); return err }(),
			"bad user":   func() error { _, _, err := f.svc.OrdersOfUser(ctx, 0, app.Page{Number: 1, Size: 1}); return err }(),
			"big page":   func() error { _, _, err := f.svc.OrdersOfUser(ctx, 1, app.Page{Number: 1, Size: 1000}); return err }(),
			"bad cart":   f.svc.DeleteCartItem(ctx, 1, 0),
		} {
			if !errors.Is(err, order.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
		if _, err := f.svc.Order(ctx, "20260101000000000000000000000000"); !errors.Is(err, order.ErrNotFound) {
			t.Errorf("unknown order = %v", err)
		}
	})
}

// TestCheck_ofAnOrderInFlight_asksLaterHere_butAnotherInstanceFencesIt: while CreateOrder runs,
// the check-back of its own process does not decide; one arriving at another instance (sharing
// the database) claims the barrier, and the slow order then fails and returns its stock.
func TestCheck_ofAnOrderInFlight_asksLaterHere_butAnotherInstanceFencesIt(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		other, err := app.New(app.Deps{
			Orders: f.store, Carts: f.store, Saga: f.store, Idempotency: f.store, Timeline: f.store,
			Stock: f.inv, Goods: f.inv, Halves: f.broker, Timeouts: f.broker,
			Log: slog.New(slog.DiscardHandler), Crash: func(string) {},
		}, app.Options{})
		if err != nil {
			t.Fatal(err)
		}
		entered, release := make(chan struct{}), make(chan struct{})
		f.inv.inSell = func() {
			close(entered)
			<-release
		}
		done := make(chan error, 1)
		go func() {
			_, err := f.svc.CreateOrder(ctx, orderOf(order.Line{GoodsID: 1, Num: 2}))
			done <- err
		}()
		<-entered
		sn := f.onlySN(t)
		if out := f.svc.Check(context.Background(), sn, f.broker.ownerOf(sn)); out != app.AskLater {
			t.Fatalf("check in the same process = %v, want ask-later", out)
		}
		if out := other.Check(context.Background(), sn, f.broker.ownerOf(sn)); out != app.DeliverReback {
			t.Fatalf("check at another instance = %v, want deliver-reback", out)
		}
		close(release)
		if err := <-done; !errors.Is(err, app.ErrUnavailable) {
			t.Fatalf("the fenced order = %v, want ErrUnavailable", err)
		}
		f.mustNotExist(t, sn)
		// The check's reback came before the sell; inventory then refused to sell (fenced), so the
		// stock never moved.
		if f.inv.stockOf(1) != 10 {
			t.Errorf("stock = %d, want 10", f.inv.stockOf(1))
		}
	})
}
