package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

func wantSoldOf(t *testing.T, name string, a answer, goodsID, priceCents, num int64) {
	t.Helper()
	want := []inventory.SoldItem{{GoodsID: goodsID, Name: fmt.Sprintf("goods %d", goodsID), Num: num, PriceCents: priceCents}}
	if a.err != nil || a.res.Replayed || !slices.Equal(a.res.Items, want) {
		t.Errorf("%s: %+v, %v; want sold %+v", name, a.res, a.err, want)
	}
}

// newManyGoodsScene is newBatchScene with goods 1 (price 300, stock 10), 2 (200, 3) and 3 (500,
// 7), the holder in flight.
func newManyGoodsScene(t *testing.T, db sqltest.DB) *batchScene {
	t.Helper()
	s := newBatchScene(t, db, 10)
	s.f.put(t, 2, 200, 3)
	s.f.put(t, 3, 500, 7)
	s.hold()
	return s
}

func (s *batchScene) wantStocks(want map[int64]int64) {
	s.t.Helper()
	for id, w := range want {
		if got := s.f.stock(s.t, id); got != w {
			s.t.Errorf("goods %d: stock %d, want %d", id, got, w)
		}
	}
}

func TestSell_coalescedBatchOfManyGoods_sellsInOneTransaction(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newManyGoodsScene(t, db)
		ctx := context.Background()
		a, b, c, d := s.sellGoods(ctx, "a", 3, 2), s.sellGoods(ctx, "b", 2, 2), s.sell(ctx, "c", 4), s.sellGoods(ctx, "d", 3, 5)
		if txs := s.run(); txs != 1 {
			t.Errorf("%d transactions after the holder, want 1 (one batch of three goods)", txs)
		}
		wantSoldOf(t, "a", <-a, 3, 500, 2)
		wantSoldOf(t, "b", <-b, 2, 200, 2)
		wantSoldOf(t, "c", <-c, 1, 300, 4)
		wantSoldOf(t, "d", <-d, 3, 500, 5)
		s.wantStocks(map[int64]int64{1: 10 - 1 - 4, 2: 1, 3: 0})
	})
}

func TestSell_coalescedBatchOfManyGoods_whereOneGoodsIsShort_refusesOnlyItsOrdersThatDoNotFit(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newManyGoodsScene(t, db)
		ctx := context.Background()
		// Goods 2 runs short within the batch: 3 in stock for 2 + 2 + 1.
		a := s.sellGoods(ctx, "a", 3, 2)
		b := s.sellGoods(ctx, "b", 2, 2)
		c := s.sell(ctx, "c", 4)
		d := s.sellGoods(ctx, "d", 2, 2)
		e := s.sellGoods(ctx, "e", 2, 1)
		f := s.sellGoods(ctx, "f", 3, 5)
		// The batch's UPDATE of all goods finds goods 2 short and is rolled back; the batch runs
		// again goods by goods.
		if txs := s.run(); txs != 2 {
			t.Errorf("%d transactions after the holder, want 2 (one batch, run again goods by goods)", txs)
		}
		wantSoldOf(t, "a", <-a, 3, 500, 2)
		wantSoldOf(t, "b", <-b, 2, 200, 2)
		wantSoldOf(t, "c", <-c, 1, 300, 4)
		wantSoldOf(t, "e", <-e, 2, 200, 1) // arrived after d, still fits
		wantSoldOf(t, "f", <-f, 3, 500, 5)
		var short *inventory.InsufficientStockError
		if err := (<-d).err; !errors.As(err, &short) ||
			!slices.Equal(short.Items, []inventory.Shortage{{GoodsID: 2, Requested: 2, Available: 0}}) {
			t.Errorf("d: %v, want insufficient stock of goods 2 (requested 2, available 0)", err)
		}
		s.wantStocks(map[int64]int64{1: 10 - 1 - 4, 2: 0, 3: 0})
		if got := s.f.orderSNs(t); !slices.Equal(got, []string{"a", "b", "c", "e", "f", "holder"}) {
			t.Errorf("recorded orders %v, want a b c e f holder (no record for the short order)", got)
		}
	})
}

func TestSell_coalescedBatchOfManyGoods_answersRecordedAndUnknownOrdersAlone_andSellsTheOthersTogether(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newBatchScene(t, db, 10)
		s.f.put(t, 2, 200, 10)
		ctx := context.Background()
		s.recordOldAndFenced(2)
		s.hold()
		x := s.sell(ctx, "x", 1)
		old := s.sellGoods(ctx, "old", 2, 1)
		unknown := s.sellGoods(ctx, "unknown", 9, 1)
		y := s.sellGoods(ctx, "y", 2, 3)
		fenced := s.sellGoods(ctx, "fenced", 2, 1)
		// The batch, then old, fenced and unknown one by one.
		if txs := s.run(); txs != 4 {
			t.Errorf("%d transactions after the holder, want 4 (the batch, then three alone)", txs)
		}
		wantSoldOf(t, "x", <-x, 1, 300, 1)
		wantSoldOf(t, "y", <-y, 2, 200, 3)
		wantOldAndFenced(t, <-old, <-fenced)
		if a := <-unknown; !errors.Is(a.err, inventory.ErrGoodsNotFound) {
			t.Errorf("unknown goods: %v, want ErrGoodsNotFound", a.err)
		}
		if got, want := s.f.stock(t, 2), int64(10-1-3); got != want {
			t.Errorf("goods 2: stock %d, want %d", got, want)
		}
	})
}

func TestSell_withTwoBatchesInFlight_sellsWhileOneWaits(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newBatchScene(t, db, 10, inventory.WithSellBatchesInFlight(2))
		s.f.put(t, 2, 200, 5)
		s.hold() // the first batch waits at the gate
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := s.f.svc.Sell(ctx, sellReq("second", inventory.Item{GoodsID: 2, Num: 1}))
		wantSoldOf(t, "second", answer{res, err}, 2, 200, 1)
		if n := s.run(); n != 0 {
			t.Errorf("%d transactions after the holder, want 0", n)
		}
		s.wantStocks(map[int64]int64{1: 9, 2: 4})
	})
}
