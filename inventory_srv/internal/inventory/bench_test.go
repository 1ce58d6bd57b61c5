package inventory_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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
