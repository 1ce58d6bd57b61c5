package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

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

func TestSell_coalescedBatchOfManyGoods_sellsInOneTransaction(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newBatchScene(t, db, 10) // goods 1, price 300; the holder takes 1
		s.f.put(t, 2, 200, 3)
		s.f.put(t, 3, 500, 7)
		s.hold()
		ctx := context.Background()
		a, b, c, d := s.sellGoods(ctx, "a", 3, 2), s.sellGoods(ctx, "b", 2, 2), s.sell(ctx, "c", 4), s.sellGoods(ctx, "d", 3, 5)
		if txs := s.run(); txs != 1 {
			t.Errorf("%d transactions after the holder, want 1 (one batch of three goods)", txs)
		}
		wantSoldOf(t, "a", <-a, 3, 500, 2)
		wantSoldOf(t, "b", <-b, 2, 200, 2)
		wantSoldOf(t, "c", <-c, 1, 300, 4)
		wantSoldOf(t, "d", <-d, 3, 500, 5)
		for id, want := range map[int64]int64{1: 10 - 1 - 4, 2: 1, 3: 0} {
			if got := s.f.stock(t, id); got != want {
				t.Errorf("goods %d: stock %d, want %d", id, got, want)
			}
		}
	})
}

func TestSell_coalescedBatchOfManyGoods_whereOneGoodsIsShort_refusesOnlyItsOrdersThatDoNotFit(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newBatchScene(t, db, 10) // goods 1, price 300; the holder takes 1
		s.f.put(t, 2, 200, 3)
		s.f.put(t, 3, 500, 7)
		s.hold()
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
		for id, want := range map[int64]int64{1: 10 - 1 - 4, 2: 0, 3: 0} {
			if got := s.f.stock(t, id); got != want {
				t.Errorf("goods %d: stock %d, want %d", id, got, want)
			}
		}
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
		if _, err := s.f.svc.Sell(ctx, sellReq("old", inventory.Item{GoodsID: 2, Num: 1})); err != nil {
			t.Fatal(err)
		}
		if out, err := s.f.svc.Reback(ctx, "fenced"); err != nil || out != inventory.NotSold {
			t.Fatalf("fence: %v, %v", out, err)
		}
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
		if a := <-old; a.err != nil || !a.res.Replayed || a.res.Items[0].Num != 1 {
			t.Errorf("old (sold before): %+v, %v; want replayed", a.res, a.err)
		}
		if a := <-fenced; !errors.Is(a.err, inventory.ErrOrderAlreadyReturned) {
			t.Errorf("fenced: %v, want ErrOrderAlreadyReturned", a.err)
		}
		if a := <-unknown; !errors.Is(a.err, inventory.ErrGoodsNotFound) {
			t.Errorf("unknown goods: %v, want ErrGoodsNotFound", a.err)
		}
		if got, want := s.f.stock(t, 2), int64(10-1-3); got != want {
			t.Errorf("goods 2: stock %d, want %d", got, want)
		}
	})
}
