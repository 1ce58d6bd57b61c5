package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

// BenchmarkSell measures Service.Sell (one item, one unit) against the real database, from 8
// goroutines per CPU: every sell on one goods row (hot_sku: sells serialise on its row lock), or
// spread over 1000 goods (many_skus). Each sell is a new order. The sells/s metric is the
// throughput; ns/op is its inverse. It runs on each backend (MariaDB, SQLite).
func BenchmarkSell(b *testing.B) {
	for _, d := range sqltest.Backends {
		b.Run(string(d)+"/hot_sku", func(b *testing.B) { benchmarkSell(b, d, 1) })
		b.Run(string(d)+"/many_skus", func(b *testing.B) { benchmarkSell(b, d, 1000) })
	}
}

func benchmarkSell(b *testing.B, d sqldb.Dialect, skus int) {
	f := newFixture(b, sqltest.New(b, d, sqltest.Inventory))
	// One multi-row insert: putting 1000 goods one by one would dominate short runs.
	values := make([]string, skus)
	for i := range values {
		id := int64(i + 1)
		values[i] = fmt.Sprintf("(%d, 'goods %d', 100, %d)", id, id, int64(inventory.MaxStock))
		f.initial[id] = inventory.MaxStock
	}
	if _, err := f.db.Exec("INSERT INTO goods (id, name, price_cents, stock) VALUES " + strings.Join(values, ",")); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var orders atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(uint64(orders.Add(1)), 0))
		for pb.Next() {
			sn := fmt.Sprintf("bench-%d", orders.Add(1))
			item := inventory.Item{GoodsID: int64(1 + rng.IntN(skus)), Num: 1}
			if _, err := f.svc.Sell(ctx, inventory.SellRequest{OrderSN: sn, Items: []inventory.Item{item}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sells/s")
}

// BenchmarkSellHotSKU is the hot-SKU case of issue 15: 64 concurrent buyers of one goods, one
// piece per order, each order a new order_sn recorded in stock_sell_details. one_by_one is every
// sell in its own transaction (WithMaxSellBatch(1)), coalesced the default, in the same run. It
// reports pieces/s, the mean batch (orders per transaction) and oversold, the pieces sold beyond
// the stock (must be 0): the stock is set to 3/4 of the orders, so the last quarter of the buyers
// run into the sold-out path.
func BenchmarkSellHotSKU(b *testing.B) {
	for _, d := range sqltest.Backends {
		b.Run(string(d)+"/one_by_one", func(b *testing.B) { benchmarkSellHotSKU(b, d, 1) })
		b.Run(string(d)+"/coalesced", func(b *testing.B) { benchmarkSellHotSKU(b, d, inventory.DefaultMaxSellBatch) })
	}
}

func benchmarkSellHotSKU(b *testing.B, d sqldb.Dialect, maxBatch int) {
	const buyers = 64
	counting := &countingStore{}
	f := newWrappedFixture(b, sqltest.New(b, d, sqltest.Inventory),
		func(st inventory.Store) inventory.Store { counting.Store = st; return counting },
		inventory.WithMaxSellBatch(maxBatch))
	stock := int64(max(b.N*3/4, 1))
	f.put(b, 1, 100, stock)
	ctx := context.Background()
	var orders, sold atomic.Int64
	b.SetParallelism((buyers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	counting.txs.Store(0)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sn := fmt.Sprintf("hot-%d", orders.Add(1))
			_, err := f.svc.Sell(ctx, inventory.SellRequest{OrderSN: sn, Items: []inventory.Item{{GoodsID: 1, Num: 1}}})
			switch {
			case err == nil:
				sold.Add(1)
			case !errors.Is(err, inventory.ErrInsufficientStock):
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(sold.Load())/b.Elapsed().Seconds(), "pieces/s")
	b.ReportMetric(float64(b.N)/float64(max(counting.txs.Load(), 1)), "orders/tx")
	b.ReportMetric(float64(max(sold.Load()-stock, 0)), "oversold")
	if left := f.stock(b, 1); sold.Load() > stock || left != stock-sold.Load() {
		b.Errorf("sold %d of %d, %d left", sold.Load(), stock, left)
	}
}

// countingStore counts the transactions of the store it wraps.
type countingStore struct {
	inventory.Store
	txs atomic.Int64
}

func (c *countingStore) InTx(ctx context.Context, fn func(tx inventory.StockTx) error) error {
	c.txs.Add(1)
	return c.Store.InTx(ctx, fn)
}
