package reback

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/internal/mysqltest"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/sqlstore"
	"github.com/shopsaga/shopsaga/migrations"
)

func TestMain(m *testing.M) {
	mqclient.Setup(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	mysqltest.Main(m)
}

var discard = slog.New(slog.DiscardHandler)

// fixture is the real inventory on a fresh database, with goods 1 (stock 10) and order "o-1"
// sold 3 of them, seen through a recorder of Reback calls.
type fixture struct {
	svc *inventory.Service
	rec *recorder
	dsn string // with a 1 s lock wait timeout, so a held lock is a quick database failure
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dsn := mysqltest.New(t, migrations.Inventory) + "&innodb_lock_wait_timeout=1"
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{MySQLDSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := inventory.NewService(st, discard)
	ctx := context.Background()
	if _, err := svc.PutGoods(ctx, inventory.Goods{ID: 1, Name: "Tea", PriceCents: 100, Stock: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Sell(ctx, inventory.SellRequest{OrderSN: "o-1", Items: []inventory.Item{{GoodsID: 1, Num: 3}}}); err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, rec: &recorder{inner: svc}, dsn: dsn}
}

func (f *fixture) stock(t *testing.T) int64 {
	t.Helper()
	g, err := f.svc.Goods(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return g.Stock
}

// lockOrder holds a row lock on o-1's record until the returned function is called, so that a
// reback of o-1 fails with a lock wait timeout: a real database failure.
func (f *fixture) lockOrder(t *testing.T) (release func()) {
	t.Helper()
	db, err := sql.Open("mysql", f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("SELECT * FROM stock_sell_details WHERE order_sn = 'o-1' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = tx.Rollback()
			_ = db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// recorder passes Reback calls on to the real inventory and records what they answered.
type recorder struct {
	inner Rebacker

	mu       sync.Mutex
	outcomes []inventory.RebackOutcome // guarded by mu
	failures int                       // guarded by mu
}

func (r *recorder) Reback(ctx context.Context, orderSN string) (inventory.RebackOutcome, error) {
	out, err := r.inner.Reback(ctx, orderSN)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failures++
	} else {
		r.outcomes = append(r.outcomes, out)
	}
	return out, err
}

func (r *recorder) snapshot() (outcomes []inventory.RebackOutcome, failures int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.outcomes), r.failures
}

func message(body, keys string) *primitive.MessageExt {
	m := &primitive.MessageExt{Message: primitive.Message{Topic: "order_reback", Body: []byte(body)}, MsgId: "test"}
	if keys != "" {
		m.WithKeys([]string{keys})
	}
	return m
}

func TestHandle_returnsStockOnce_whenAMessageArrivesFiveTimes(t *testing.T) {
	f := newFixture(t)
	c := New(Config{Topic: "order_reback", Group: "g"}, f.rec, discard)
	msg := message(`{"order_sn":"o-1","items":[{"goods_id":1,"num":3}]}`, "o-1")
	for i := range 5 {
		if res, err := c.handle(context.Background(), msg); res != consumer.ConsumeSuccess || err != nil {
			t.Fatalf("delivery %d: %v, %v; want success", i, res, err)
		}
	}
	outcomes, _ := f.rec.snapshot()
	want := []inventory.RebackOutcome{inventory.Returned, inventory.AlreadyReturned, inventory.AlreadyReturned,
		inventory.AlreadyReturned, inventory.AlreadyReturned}
	if !slices.Equal(outcomes, want) {
		t.Errorf("outcomes %v, want %v", outcomes, want)
	}
	if got := f.stock(t); got != 10 {
		t.Errorf("stock %d, want 10", got)
	}
}

func TestHandle_takesItemsFromTheRecord_notFromTheMessage(t *testing.T) {
	f := newFixture(t)
	c := New(Config{}, f.rec, discard)
	msg := message(`{"order_sn":"o-1","items":[{"goods_id":1,"num":1000}]}`, "")
	if res, _ := c.handle(context.Background(), msg); res != consumer.ConsumeSuccess {
		t.Fatalf("handle: %v", res)
	}
	if got := f.stock(t); got != 10 {
		t.Errorf("stock %d, want 10 (the 3 recorded, not the 1000 claimed)", got)
	}
}

func TestHandle_acknowledgesAnUnknownOrder(t *testing.T) {
	f := newFixture(t)
	c := New(Config{}, f.rec, discard)
	if res, _ := c.handle(context.Background(), message(`{"order_sn":"never-sold"}`, "never-sold")); res != consumer.ConsumeSuccess {
		t.Fatalf("handle: %v, want success", res)
	}
	if outcomes, _ := f.rec.snapshot(); !slices.Equal(outcomes, []inventory.RebackOutcome{inventory.NotSold}) {
		t.Errorf("outcomes %v, want [not_sold]", outcomes)
	}
}

func TestHandle_findsTheOrderNumber(t *testing.T) {
	f := newFixture(t)
	c := New(Config{}, f.rec, discard)
	tests := []struct {
		body, keys string
		adds       []inventory.RebackOutcome // what Reback answered for this message
	}{
		{`not json`, "o-1", []inventory.RebackOutcome{inventory.Returned}}, // the key stands in for the body
		{`{"items":[]}`, "o-1 other-key", []inventory.RebackOutcome{inventory.AlreadyReturned}},
		{`not json`, "", nil},               // nothing usable: logged and acknowledged
		{`{"order_sn":"bad sn!"}`, "", nil}, // refused by the inventory: logged and acknowledged
	}
	var want []inventory.RebackOutcome
	for _, tt := range tests {
		want = append(want, tt.adds...)
		res, err := c.handle(context.Background(), message(tt.body, tt.keys))
		if res != consumer.ConsumeSuccess || err != nil {
			t.Errorf("%q/%q: %v, %v; want success", tt.body, tt.keys, res, err)
		}
		if got, _ := f.rec.snapshot(); !slices.Equal(got, want) {
			t.Errorf("%q/%q: outcomes so far %v, want %v", tt.body, tt.keys, got, want)
		}
	}
	if got := f.stock(t); got != 10 {
		t.Errorf("stock %d, want 10", got)
	}
}

func TestHandle_asksForRedelivery_whenTheDatabaseFails(t *testing.T) {
	f := newFixture(t)
	c := New(Config{}, f.rec, discard)
	release := f.lockOrder(t)
	msg := message(`{"order_sn":"o-1"}`, "o-1")
	if res, _ := c.handle(context.Background(), msg); res != consumer.ConsumeRetryLater {
		t.Fatalf("handle during a lock wait timeout: %v, want retry later", res)
	}
	if got := f.stock(t); got != 7 {
		t.Errorf("stock %d after a failed reback, want 7", got)
	}
	release()
	if res, _ := c.handle(context.Background(), msg); res != consumer.ConsumeSuccess {
		t.Fatalf("redelivery: %v, want success", res)
	}
	if got := f.stock(t); got != 10 {
		t.Errorf("stock %d, want 10", got)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
