package inventory_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

// Review of the goods cache: every record carries the name and price its goods row had when it
// was deducted, on every path of a batch.

// wantRecorded checks that order sn was answered and recorded as num of goods with name and
// price.
func (s *batchScene) wantRecorded(sn string, a answer, goodsID int64, name string, priceCents, num int64) {
	s.t.Helper()
	want := []inventory.SoldItem{{GoodsID: goodsID, Name: name, Num: num, PriceCents: priceCents}}
	if a.err != nil || a.res.Replayed || !slices.Equal(a.res.Items, want) {
		s.t.Errorf("%s: %+v, %v; want sold %+v", sn, a.res, a.err, want)
	}
	if got := s.f.recorded(s.t, sn); !slices.Equal(got, want) {
		s.t.Errorf("%s recorded %+v, want %+v", sn, got, want)
	}
}

// newCachedGoods2Scene is newBatchScene with goods 2 (price 200) of stock, sold once (order
// warm, 1 unit) so that the service caches it.
func newCachedGoods2Scene(t *testing.T, db sqltest.DB, stock int64, warm string) *batchScene {
	t.Helper()
	s := newBatchScene(t, db, 10)
	s.f.put(t, 2, 200, stock)
	if _, err := s.f.svc.Sell(context.Background(), sellReq(warm, inventory.Item{GoodsID: 2, Num: 1})); err != nil {
		t.Fatal(err)
	}
	return s
}

// Finding 1: a batch of one goods whose guarded UPDATE fails because its sum is short goes on to
// sell what fits under the row lock. A PutGoods committed by another instance after the guard
// failed but before the lock must not be missed: the lock reads the name and price and the batch
// runs again reading the goods. MySQL only: there the change can commit between the statements
// of the batch's transaction (SQLite runs one writing transaction at a time).
func TestReview_coalescedShortBatch_goodsChangedBeforeTheRowLock_recordsTheRowsName(t *testing.T) {
	db := sqltest.New(t, sqldb.MySQL, sqltest.Inventory)
	s := newCachedGoods2Scene(t, db, 3, "warm") // 2 left, goods 2 cached as "goods 2" at 200
	ctx := context.Background()
	var once sync.Once
	s.store.onLockStock(func() { once.Do(func() { s.f.changeGoods(t, 2, "Two", 210) }) })
	s.hold()
	n0, n1 := s.sellGoods(ctx, "n0", 2, 1), s.sellGoods(ctx, "n1", 2, 2) // 3 of 2 left: short
	s.run()
	s.wantRecorded("n0", <-n0, 2, "Two", 210, 1)
	var short *inventory.InsufficientStockError
	if err := (<-n1).err; !errors.As(err, &short) ||
		!slices.Equal(short.Items, []inventory.Shortage{{GoodsID: 2, Requested: 2, Available: 1}}) {
		t.Errorf("n1: %v, want insufficient stock of goods 2 (requested 2, available 1)", err)
	}
	if got := s.f.stock(t, 2); got != 1 {
		t.Errorf("goods 2: stock %d, want 1", got)
	}
}

// Finding 2: a batch of one cached goods renamed and repriced behind the cache, whose guard
// fails (the holder's sell refreshes only goods 1's entry).
func TestReview_coalescedBatchOfOneGoods_staleCache_recordsTheRowsName(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newCachedGoods2Scene(t, db, 10, "warm")
		s.f.changeGoods(t, 2, "Two", 210)
		s.hold()
		ctx := context.Background()
		n0, n1 := s.sellGoods(ctx, "n0", 2, 1), s.sellGoods(ctx, "n1", 2, 2)
		s.run()
		s.wantRecorded("n0", <-n0, 2, "Two", 210, 1)
		s.wantRecorded("n1", <-n1, 2, "Two", 210, 2)
		s.wantStocks(map[int64]int64{1: 9, 2: 10 - 1 - 3})
	})
}

// Finding 2, with an already recorded order in the batch: the batch records its orders one by one
// and still deducts only while the row has the records' name and price.
func TestReview_coalescedBatch_staleCacheAndARetriedOrder_recordsTheRowsName(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newCachedGoods2Scene(t, db, 10, "old")
		s.f.changeGoods(t, 2, "Two", 210)
		s.hold()
		ctx := context.Background()
		n0, old, n1 := s.sellGoods(ctx, "n0", 2, 1), s.sellGoods(ctx, "old", 2, 1), s.sellGoods(ctx, "n1", 2, 2)
		s.run()
		s.wantRecorded("n0", <-n0, 2, "Two", 210, 1)
		s.wantRecorded("n1", <-n1, 2, "Two", 210, 2)
		want := []inventory.SoldItem{{GoodsID: 2, Name: "goods 2", Num: 1, PriceCents: 200}}
		if a := <-old; a.err != nil || !a.res.Replayed || !slices.Equal(a.res.Items, want) {
			t.Errorf("old: %+v, %v; want replayed %+v", a.res, a.err, want)
		}
		s.wantStocks(map[int64]int64{1: 9, 2: 10 - 1 - 3})
	})
}

// cacheCounts is an inventory.Metrics that counts the goods cache's results.
type cacheCounts struct {
	inventory.NopMetrics
	mu sync.Mutex
	n  map[inventory.GoodsCacheResult]int
}

func (c *cacheCounts) GoodsCache(r inventory.GoodsCacheResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[r]++
}

func (c *cacheCounts) want(t *testing.T, when string, hit, miss, stale int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[inventory.GoodsCacheHit] != hit || c.n[inventory.GoodsCacheMiss] != miss || c.n[inventory.GoodsCacheStale] != stale {
		t.Errorf("%s: goods cache counted %v, want hit %d, miss %d, stale %d", when, c.n, hit, miss, stale)
	}
}

// Finding 5: cache hits and misses, and the guard failures that found a goods changed, are
// counted (inventory_goods_cache_total), for lone sells and batches.
func TestReview_goodsCache_guardFailuresAreCounted(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		m := &cacheCounts{n: map[inventory.GoodsCacheResult]int{}}
		s := newBatchScene(t, db, 10, inventory.WithMetrics(m))
		ctx := context.Background()
		sell := func(sn string) {
			t.Helper()
			if _, err := s.f.svc.Sell(ctx, sellReq(sn, inventory.Item{GoodsID: 1, Num: 1})); err != nil {
				t.Fatal(err)
			}
		}
		sell("a")
		sell("b")
		m.want(t, "after a miss and a hit", 1, 1, 0)
		s.f.changeGoods(t, 1, "One", 310)
		sell("c") // a hit whose guard fails, then a sell that reads
		m.want(t, "after a stale lone sell", 2, 1, 1)
		s.f.put(t, 2, 200, 10)
		if _, err := s.f.svc.Sell(ctx, sellReq("w", inventory.Item{GoodsID: 2, Num: 1})); err != nil { // a miss
			t.Fatal(err)
		}
		s.f.changeGoods(t, 2, "Two", 210)
		s.hold() // the holder's lone sell of goods 1: a hit
		x, y := s.sellGoods(ctx, "x", 2, 1), s.sellGoods(ctx, "y", 2, 1)
		s.run() // the batch of goods 2: a hit whose guard fails, then an attempt that reads
		s.wantRecorded("x", <-x, 2, "Two", 210, 1)
		s.wantRecorded("y", <-y, 2, "Two", 210, 1)
		m.want(t, "after the holder and a stale batch", 4, 2, 2)
	})
}

// Finding 4: with the cache fresh, a batch holding a retried order records its orders one by one
// and deducts with the guard in the same transaction, instead of starting over reading the goods.
func TestReview_coalescedBatch_freshCacheAndARetriedOrder_takesOneTransaction(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newCachedGoods2Scene(t, db, 10, "old")
		s.hold()
		ctx := context.Background()
		n0, old, n1 := s.sellGoods(ctx, "n0", 2, 1), s.sellGoods(ctx, "old", 2, 1), s.sellGoods(ctx, "n1", 2, 2)
		if txs := s.run(); txs != 2 {
			t.Errorf("%d transactions after the holder, want 2 (the batch, then old alone)", txs)
		}
		s.wantRecorded("n0", <-n0, 2, "goods 2", 200, 1)
		s.wantRecorded("n1", <-n1, 2, "goods 2", 200, 2)
		if a := <-old; a.err != nil || !a.res.Replayed {
			t.Errorf("old: %+v, %v; want replayed", a.res, a.err)
		}
		s.wantStocks(map[int64]int64{1: 9, 2: 10 - 1 - 3})
	})
}

// Finding 1, the other paths: a lone sell that reads its goods (not cached) deducts only while
// the row still has what it read, one item or several: a PutGoods committed between its read and
// its UPDATE makes it run again reading. MySQL only, as above.
func TestReview_loneSell_goodsChangedAfterItsRead_recordsTheRowsName(t *testing.T) {
	db := sqltest.New(t, sqldb.MySQL, sqltest.Inventory)
	s := newBatchScene(t, db, 10) // goods 1, not cached (PutGoods forgets it)
	s.f.put(t, 2, 200, 10)
	ctx := context.Background()
	s.store.afterGoodsRead(func() { s.f.changeGoods(t, 1, "One", 310) })
	res, err := s.f.svc.Sell(ctx, sellReq("a", inventory.Item{GoodsID: 1, Num: 1}))
	s.wantRecorded("a", answer{res, err}, 1, "One", 310, 1)

	s.store.afterGoodsRead(func() { s.f.changeGoods(t, 2, "Two", 210) })
	res, err = s.f.svc.Sell(ctx, sellReq("m", inventory.Item{GoodsID: 1, Num: 1}, inventory.Item{GoodsID: 2, Num: 2}))
	want := []inventory.SoldItem{{GoodsID: 1, Name: "One", Num: 1, PriceCents: 310}, {GoodsID: 2, Name: "Two", Num: 2, PriceCents: 210}}
	if err != nil || !slices.Equal(res.Items, want) {
		t.Errorf("m: %+v, %v; want sold %+v", res, err, want)
	}
	if got := s.f.recorded(t, "m"); !slices.Equal(got, want) {
		t.Errorf("m recorded %+v, want %+v", got, want)
	}
	s.wantStocks(map[int64]int64{1: 8, 2: 8})
}
