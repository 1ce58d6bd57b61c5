package inventory_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

// changeGoods renames and reprices goods id behind the service's back, as another instance's
// PutGoods would.
func (f *fixture) changeGoods(t testing.TB, id int64, name string, priceCents int64) {
	t.Helper()
	if _, err := f.db.Exec("UPDATE goods SET name = ?, price_cents = ? WHERE id = ?", name, priceCents, id); err != nil {
		t.Fatal(err)
	}
}

// recorded is the sold items recorded for orderSN.
func (f *fixture) recorded(t testing.TB, orderSN string) []inventory.SoldItem {
	t.Helper()
	d, err := f.svc.SellDetail(context.Background(), orderSN)
	if err != nil {
		t.Fatal(err)
	}
	return d.Items
}

// A sell takes name and price from what it cached of the goods only while the row still has
// them: after another instance renamed or repriced the goods (even only in letter case, which
// the column's collation ignores), the answer and the record carry the row's name and price.
func TestSell_afterTheGoodsChangedElsewhere_answersAndRecordsTheRowsNameAndPrice(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.put(t, 1, 100, 10)
		ctx := context.Background()
		sellOne := func(sn string, num int64) ([]inventory.SoldItem, error) {
			res, err := f.svc.Sell(ctx, sellReq(sn, inventory.Item{GoodsID: 1, Num: num}))
			return res.Items, err
		}
		if _, err := sellOne("a", 1); err != nil { // caches goods 1
			t.Fatal(err)
		}
		for _, c := range []struct {
			sn, name string
			price    int64
		}{{"b", "Renamed", 250}, {"c", "RENAMED", 250}, {"d", "RENAMED", 260}} {
			f.changeGoods(t, 1, c.name, c.price)
			want := []inventory.SoldItem{{GoodsID: 1, Name: c.name, Num: 1, PriceCents: c.price}}
			got, err := sellOne(c.sn, 1)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("%s after the change to %q at %d: %+v, %v; want %+v", c.sn, c.name, c.price, got, err, want)
			}
			if got := f.recorded(t, c.sn); !slices.Equal(got, want) {
				t.Errorf("%s recorded %+v, want %+v", c.sn, got, want)
			}
		}
		// Short with the cache warm: refused with what is left, nothing deducted.
		_, err := sellOne("e", 7)
		var short *inventory.InsufficientStockError
		if !errors.As(err, &short) || short.Items[0].Available != 6 {
			t.Errorf("e (7 of 6 left): %v, want insufficient stock, 6 available", err)
		}
		if got := f.stock(t, 1); got != 6 {
			t.Errorf("stock %d, want 6", got)
		}
		f.checkInvariant(t)
	})
}

// The same holds for a coalesced batch, of one goods and of several.
func TestSell_coalescedBatch_afterTheGoodsChangedElsewhere_recordsTheRowsNameAndPrice(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newBatchScene(t, db, 10)
		s.f.put(t, 2, 200, 10)
		ctx := context.Background()
		for _, id := range []int64{1, 2} { // caches both goods
			if _, err := s.f.svc.Sell(ctx, sellReq("warm-"+string(rune('0'+id)), inventory.Item{GoodsID: id, Num: 1})); err != nil {
				t.Fatal(err)
			}
		}
		// A batch of goods 1 alone.
		s.f.changeGoods(t, 1, "One", 310)
		s.hold()
		a, b := s.sell(ctx, "a", 1), s.sell(ctx, "b", 2)
		s.run()
		// A batch of goods 1 and 2.
		s.f.changeGoods(t, 1, "one", 320)
		s.f.changeGoods(t, 2, "Two", 210)
		s2 := &batchScene{t: t, f: s.f, store: s.store, goodsID: 1, release: make(chan struct{}), holder: make(chan answer, 1), others: map[int64]int{}}
		t.Cleanup(s2.open)
		s2.hold()
		c, d := s2.sell(ctx, "c", 1), s2.sellGoods(ctx, "d", 2, 1)
		s2.run()
		for _, w := range []struct {
			sn         string
			a          answer
			goods      int64
			name       string
			price, num int64
		}{{"a", <-a, 1, "One", 310, 1}, {"b", <-b, 1, "One", 310, 2}, {"c", <-c, 1, "one", 320, 1}, {"d", <-d, 2, "Two", 210, 1}} {
			want := []inventory.SoldItem{{GoodsID: w.goods, Name: w.name, Num: w.num, PriceCents: w.price}}
			if w.a.err != nil || !slices.Equal(w.a.res.Items, want) {
				t.Errorf("%s: %+v, %v; want %+v", w.sn, w.a.res, w.a.err, want)
			}
			if got := s.f.recorded(t, w.sn); !slices.Equal(got, want) {
				t.Errorf("%s recorded %+v, want %+v", w.sn, got, want)
			}
		}
		s.f.checkInvariant(t)
	})
}
