package inventory_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/mysqltest"
	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/sqlstore"
)

func TestMain(m *testing.M) { mysqltest.Main(m) }

// fixture is a Service on a fresh database, with the stock it was given so that cleanup can
// check the inventory invariant.
type fixture struct {
	svc     *inventory.Service
	db      *sql.DB         // the same database, for what the service does not expose
	initial map[int64]int64 // goods id → stock put by the test
}

// newFixture opens the service on db, a fresh migrated database of either backend, with opts.
func newFixture(t testing.TB, tdb sqltest.DB, opts ...inventory.Option) *fixture {
	t.Helper()
	return newWrappedFixture(t, tdb, func(st inventory.Store) inventory.Store { return st }, opts...)
}

// newWrappedFixture is newFixture with the service on wrap(the store).
func newWrappedFixture(t testing.TB, tdb sqltest.DB, wrap func(inventory.Store) inventory.Store, opts ...inventory.Option) *fixture {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{
		MySQLDSN: tdb.MySQLDSN, SQLitePath: tdb.SQLitePath, MaxOpenConns: 30,
	})
	if err != nil {
		t.Fatal(err)
	}
	driver, dsn := "mysql", tdb.MySQLDSN
	if tdb.SQLitePath != "" {
		driver, dsn = "sqlite", "file:"+tdb.SQLitePath+"?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		svc:     inventory.NewService(wrap(st), slog.New(slog.DiscardHandler), opts...),
		db:      db,
		initial: map[int64]int64{},
	}
	t.Cleanup(func() {
		if !t.Failed() {
			f.checkInvariant(t)
		}
		_ = st.Close()
		_ = db.Close()
	})
	return f
}

func (f *fixture) put(t testing.TB, id, priceCents, stock int64) {
	t.Helper()
	g, err := inventory.NewGoods(id, fmt.Sprintf("goods %d", id), priceCents, stock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PutGoods(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	f.initial[id] = stock
}

func (f *fixture) stock(t testing.TB, id int64) int64 {
	t.Helper()
	g, err := f.svc.Goods(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return g.Stock
}

// checkInvariant: for every goods, stock left + units recorded as deducted (status 1) = stock put.
// It also proves that no stock went negative and nothing was returned twice.
func (f *fixture) checkInvariant(t testing.TB) {
	t.Helper()
	rows, err := f.db.Query("SELECT detail FROM stock_sell_details WHERE status = 1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	deducted := map[int64]int64{}
	for rows.Next() {
		var detail []byte
		var items []struct {
			GoodsID int64 `json:"goods_id"`
			Num     int64 `json:"num"`
		}
		if err := rows.Scan(&detail); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(detail, &items); err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			deducted[it.GoodsID] += it.Num
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for id, initial := range f.initial {
		var left int64
		if err := f.db.QueryRow("SELECT stock FROM goods WHERE id = ?", id).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left < 0 || left+deducted[id] != initial {
			t.Errorf("goods %d: %d left + %d deducted != %d put", id, left, deducted[id], initial)
		}
	}
}

// orderSNs lists every recorded order.
func (f *fixture) orderSNs(t testing.TB) []string {
	t.Helper()
	rows, err := f.db.Query("SELECT order_sn FROM stock_sell_details ORDER BY order_sn")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sns []string
	for rows.Next() {
		var sn string
		if err := rows.Scan(&sn); err != nil {
			t.Fatal(err)
		}
		sns = append(sns, sn)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return sns
}

func sellReq(sn string, items ...inventory.Item) inventory.SellRequest {
	return inventory.SellRequest{OrderSN: sn, Items: items}
}

func TestSell_deductsEveryItem_andAnswersUnitPrices(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.put(t, 1, 250, 10)
		f.put(t, 2, 1999, 5)
		ctx := context.Background()

		res, err := f.svc.Sell(ctx, sellReq("o-1", inventory.Item{GoodsID: 2, Num: 2}, inventory.Item{GoodsID: 1, Num: 3}))
		if err != nil {
			t.Fatal(err)
		}
		want := []inventory.SoldItem{
			{GoodsID: 1, Name: "goods 1", Num: 3, PriceCents: 250},
			{GoodsID: 2, Name: "goods 2", Num: 2, PriceCents: 1999},
		}
		if res.Replayed || res.OrderSN != "o-1" || !slices.Equal(res.Items, want) {
			t.Errorf("result %+v, want items %+v", res, want)
		}
		if s1, s2 := f.stock(t, 1), f.stock(t, 2); s1 != 7 || s2 != 3 {
			t.Errorf("stock %d, %d; want 7, 3", s1, s2)
		}
		d, err := f.svc.SellDetail(ctx, "o-1")
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != inventory.StatusDeducted || !slices.Equal(d.Items, want) {
			t.Errorf("detail %+v", d)
		}
	})
}

func TestSell_deductsNothing_andNamesEveryShortItem(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.put(t, 1, 100, 10)
		f.put(t, 2, 100, 1)
		f.put(t, 3, 100, 0)

		_, err := f.svc.Sell(context.Background(), sellReq("o-1",
			inventory.Item{GoodsID: 1, Num: 5}, inventory.Item{GoodsID: 2, Num: 2}, inventory.Item{GoodsID: 3, Num: 1}))
		var short *inventory.InsufficientStockError
		if !errors.As(err, &short) {
			t.Fatalf("error %v, want *InsufficientStockError", err)
		}
		want := []inventory.Shortage{{GoodsID: 2, Requested: 2, Available: 1}, {GoodsID: 3, Requested: 1, Available: 0}}
		if !slices.Equal(short.Items, want) {
			t.Errorf("shortages %+v, want %+v", short.Items, want)
		}
		if got := f.stock(t, 1); got != 10 {
			t.Errorf("goods 1 stock %d after a failed sell, want 10", got)
		}
		if _, err := f.svc.SellDetail(context.Background(), "o-1"); !errors.Is(err, inventory.ErrSellDetailNotFound) {
			t.Errorf("a failed sell left a record: %v", err)
		}
	})
}

func TestSell_failsWithGoodsNotFound_forUnknownGoods(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.put(t, 1, 100, 10)
		_, err := f.svc.Sell(context.Background(), sellReq("o-1", inventory.Item{GoodsID: 1, Num: 1}, inventory.Item{GoodsID: 404, Num: 1}))
		var missing *inventory.GoodsNotFoundError
		if !errors.As(err, &missing) || !slices.Equal(missing.IDs, []int64{404}) {
			t.Fatalf("error %v, want *GoodsNotFoundError for 404", err)
		}
		if got := f.stock(t, 1); got != 10 {
			t.Errorf("stock %d, want 10", got)
		}
	})
}

func TestSell_answersTheRecordedResult_whenRetried(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.put(t, 1, 100, 2)
		ctx := context.Background()
		first, err := f.svc.Sell(ctx, sellReq("o-1", inventory.Item{GoodsID: 1, Num: 2}))
		if err != nil {
			t.Fatal(err)
		}
		// The price changes and the stock runs out: a retry must still answer what was sold.
		f.put(t, 1, 555, 0)
		f.initial[1] = 2 // the invariant counts from the first put; the test set the stock to what the sell left
		again, err := f.svc.Sell(ctx, sellReq("o-1", inventory.Item{GoodsID: 1, Num: 2}))
		if err != nil {
			t.Fatal(err)
		}
		if !again.Replayed || !slices.Equal(again.Items, first.Items) || again.Items[0].PriceCents != 100 {
			t.Errorf("retry answered %+v, want the first result %+v replayed", again, first)
		}
		if got := f.stock(t, 1); got != 0 {
			t.Errorf("stock %d after a retried sell, want 0", got)
		}
	})
}

func TestSell_conflicts_whenTheOrderWasSoldWithOtherItems(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.put(t, 1, 100, 10)
		ctx := context.Background()
		if _, err := f.svc.Sell(ctx, sellReq("o-1", inventory.Item{GoodsID: 1, Num: 2})); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Sell(ctx, sellReq("o-1", inventory.Item{GoodsID: 1, Num: 3}))
		if !errors.Is(err, inventory.ErrOrderConflict) {
			t.Fatalf("error %v, want ErrOrderConflict", err)
		}
		if got := f.stock(t, 1); got != 8 {
			t.Errorf("stock %d, want 8", got)
		}
	})
}

func TestSell_deductsNothing_afterTheOrderWasReturned(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.put(t, 1, 100, 10)
		ctx := context.Background()
		if _, err := f.svc.Sell(ctx, sellReq("o-1", inventory.Item{GoodsID: 1, Num: 2})); err != nil {
			t.Fatal(err)
		}
		if out, err := f.svc.Reback(ctx, "o-1"); err != nil || out != inventory.Returned {
			t.Fatalf("reback: %v, %v", out, err)
		}
		_, err := f.svc.Sell(ctx, sellReq("o-1", inventory.Item{GoodsID: 1, Num: 2}))
		if !errors.Is(err, inventory.ErrOrderAlreadyReturned) {
			t.Fatalf("late sell: %v, want ErrOrderAlreadyReturned", err)
		}
		if got := f.stock(t, 1); got != 10 {
			t.Errorf("stock %d, want 10", got)
		}
	})
}

func TestSell_ofOneOrderTenTimesAtOnce_deductsOnce(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.put(t, 1, 100, 10)
		ctx := context.Background()
		var first, replayed atomic.Int32
		run(t, 10, func(int) error {
			res, err := f.svc.Sell(ctx, sellReq("o-1", inventory.Item{GoodsID: 1, Num: 2}))
			if err != nil {
				return err
			}
			if res.Replayed {
				replayed.Add(1)
			} else {
				first.Add(1)
			}
			return nil
		})
		if first.Load() != 1 || replayed.Load() != 9 {
			t.Errorf("%d first answers, %d replayed; want 1, 9", first.Load(), replayed.Load())
		}
		if got := f.stock(t, 1); got != 8 {
			t.Errorf("stock %d, want 8", got)
		}
	})
}

func TestReback_returnsStockOnce_whenRunFiveTimes(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.put(t, 1, 100, 10)
		f.put(t, 2, 100, 10)
		ctx := context.Background()
		if _, err := f.svc.Sell(ctx, sellReq("o-1", inventory.Item{GoodsID: 1, Num: 3}, inventory.Item{GoodsID: 2, Num: 4})); err != nil {
			t.Fatal(err)
		}
		var outcomes []inventory.RebackOutcome
		for range 5 {
			out, err := f.svc.Reback(ctx, "o-1")
			if err != nil {
				t.Fatal(err)
			}
			outcomes = append(outcomes, out)
		}
		want := []inventory.RebackOutcome{inventory.Returned, inventory.AlreadyReturned, inventory.AlreadyReturned,
			inventory.AlreadyReturned, inventory.AlreadyReturned}
		if !slices.Equal(outcomes, want) {
			t.Errorf("outcomes %v, want %v", outcomes, want)
		}
		if s1, s2 := f.stock(t, 1), f.stock(t, 2); s1 != 10 || s2 != 10 {
			t.Errorf("stock %d, %d; want 10, 10", s1, s2)
		}
		d, err := f.svc.SellDetail(ctx, "o-1")
		if err != nil || d.Status != inventory.StatusReturned || len(d.Items) != 2 {
			t.Errorf("detail %+v, %v; want returned with its 2 items", d, err)
		}
	})
}

func TestReback_returnsStockOnce_whenFiveRunConcurrently(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.put(t, 1, 100, 10)
		ctx := context.Background()
		if _, err := f.svc.Sell(ctx, sellReq("o-1", inventory.Item{GoodsID: 1, Num: 3})); err != nil {
			t.Fatal(err)
		}
		var returned atomic.Int32
		run(t, 5, func(int) error {
			out, err := f.svc.Reback(ctx, "o-1")
			if out == inventory.Returned {
				returned.Add(1)
			}
			return err
		})
		if returned.Load() != 1 {
			t.Errorf("%d rebacks returned stock, want 1", returned.Load())
		}
		if got := f.stock(t, 1); got != 10 {
			t.Errorf("stock %d, want 10", got)
		}
	})
}

func TestReback_fencesAnOrderThatWasNeverSold(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.put(t, 1, 100, 10)
		ctx := context.Background()
		out, err := f.svc.Reback(ctx, "o-late")
		if err != nil || out != inventory.NotSold {
			t.Fatalf("reback: %v, %v; want NotSold", out, err)
		}
		if out, err := f.svc.Reback(ctx, "o-late"); err != nil || out != inventory.AlreadyReturned {
			t.Fatalf("second reback: %v, %v; want AlreadyReturned", out, err)
		}
		// The sell arrives after its order was given up: it must not deduct.
		_, err = f.svc.Sell(ctx, sellReq("o-late", inventory.Item{GoodsID: 1, Num: 1}))
		if !errors.Is(err, inventory.ErrOrderAlreadyReturned) {
			t.Fatalf("late sell: %v, want ErrOrderAlreadyReturned", err)
		}
		if got := f.stock(t, 1); got != 10 {
			t.Errorf("stock %d, want 10", got)
		}
	})
}

func TestSell_sellsExactlyTheStock_to500ConcurrentBuyers(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.put(t, 1, 100, 100)
		ctx := context.Background()
		var sold, short atomic.Int32
		run(t, 500, func(i int) error {
			_, err := f.svc.Sell(ctx, sellReq(fmt.Sprintf("buyer-%d", i), inventory.Item{GoodsID: 1, Num: 1}))
			switch {
			case err == nil:
				sold.Add(1)
			case errors.Is(err, inventory.ErrInsufficientStock):
				short.Add(1)
			default:
				return err
			}
			return nil
		})
		if sold.Load() != 100 || short.Load() != 400 {
			t.Errorf("sold %d, short %d; want 100, 400", sold.Load(), short.Load())
		}
		if got := f.stock(t, 1); got != 0 {
			t.Errorf("stock %d, want 0", got)
		}
		if got := len(f.orderSNs(t)); got != 100 {
			t.Errorf("%d sell records, want 100", got)
		}
	})
}

func TestSellAndReback_ofOneOrder_stayConsistent_underConcurrency(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.put(t, 1, 100, 1000)
		f.put(t, 2, 100, 1000)
		ctx := context.Background()
		seed := time.Now().UnixNano()
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewPCG(uint64(seed), 1))

		// Rounds of orders until both interleavings were seen: the sell first (the reback returns
		// the stock) and the reback first (it fences the order and the sell is refused).
		const perRound = 30
		var returned, fenced int
		for round := 0; returned == 0 || fenced == 0; round++ {
			if round == 20 {
				t.Fatalf("after %d rounds: %d orders returned, %d fenced; want both", round, returned, fenced)
			}
			// Per order: two sells (the order service's call and its retry) and two rebacks (the
			// half-message commit and a redelivery), the rebacks a random moment later.
			delays := make([]time.Duration, perRound)
			for i := range delays {
				delays[i] = time.Duration(rng.Int64N(int64(10 * time.Millisecond)))
			}
			var outcomes [perRound]atomic.Int32 // bit 0: returned by a reback, bit 1: fenced
			run(t, perRound*4, func(i int) error {
				order := i / 4
				sn := fmt.Sprintf("r%d-o%d", round, order)
				if i%2 == 0 {
					_, err := f.svc.Sell(ctx, sellReq(sn, inventory.Item{GoodsID: 1, Num: 2}, inventory.Item{GoodsID: 2, Num: 1}))
					if err != nil && !errors.Is(err, inventory.ErrOrderAlreadyReturned) {
						return err
					}
					return nil
				}
				time.Sleep(delays[order]) // jitter, not a wait for a condition
				out, err := f.svc.Reback(ctx, sn)
				switch out {
				case inventory.Returned:
					outcomes[order].Or(1)
				case inventory.NotSold:
					outcomes[order].Or(2)
				}
				return err
			})
			if t.Failed() {
				return
			}
			for order := range perRound {
				sn := fmt.Sprintf("r%d-o%d", round, order)
				d, err := f.svc.SellDetail(ctx, sn)
				if err != nil || d.Status != inventory.StatusReturned {
					t.Errorf("%s: %+v, %v; want returned", sn, d, err)
				}
				switch outcomes[order].Load() {
				case 1:
					returned++
				case 2:
					fenced++
				default:
					t.Errorf("%s: rebacks returned stock and fenced (%b); want exactly one", sn, outcomes[order].Load())
				}
			}
			// Whatever the interleaving, all stock is back.
			if s1, s2 := f.stock(t, 1), f.stock(t, 2); s1 != 1000 || s2 != 1000 {
				t.Fatalf("round %d: stock %d, %d; want 1000, 1000", round, s1, s2)
			}
		}
		t.Logf("%d orders sold then returned, %d fenced before their sell", returned, fenced)
	})
}

func TestSell_multiItemSellsInEveryOrder_neitherDeadlockNorOversell(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		for id := int64(1); id <= 4; id++ {
			f.put(t, id, 100, 150)
		}
		ctx := context.Background()
		seed := time.Now().UnixNano()
		t.Logf("seed %d", seed)
		var mu sync.Mutex
		rng := rand.New(rand.NewPCG(uint64(seed), 0))
		run(t, 300, func(i int) error {
			mu.Lock()
			perm := rng.Perm(4)
			mu.Unlock()
			items := make([]inventory.Item, 3)
			for j := range items {
				items[j] = inventory.Item{GoodsID: int64(perm[j] + 1), Num: int64(j + 1)}
			}
			_, err := f.svc.Sell(ctx, sellReq(fmt.Sprintf("o-%d", i), items...))
			if err != nil && !errors.Is(err, inventory.ErrInsufficientStock) {
				return err
			}
			return nil
		})
		// checkInvariant (cleanup) proves sold + left = put for every goods.
	})
}

// run calls fn(0..n-1) on n goroutines released at the same moment and fails t with the errors.
func run(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			if err := fn(i); err != nil {
				errs <- fmt.Errorf("call %d: %w", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
