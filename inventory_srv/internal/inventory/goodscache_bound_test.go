package inventory

import (
	"fmt"
	"testing"
)

func goodsRange(from, to int64) []Goods {
	out := make([]Goods, 0, to-from+1)
	for id := from; id <= to; id++ {
		out = append(out, Goods{ID: id, Name: fmt.Sprintf("goods %d", id), PriceCents: id})
	}
	return out
}

// Review finding 6: a full cache keeps its entries when known goods are put again, evicts one
// entry per new goods, and never holds more than maxCachedGoods, even after a put of more rows.
func TestReview_goodsCache_staysBoundedAndKeepsHotEntries(t *testing.T) {
	var c goodsCache
	c.put(goodsRange(1, maxCachedGoods))
	if len(c.m) != maxCachedGoods {
		t.Fatalf("%d entries after putting %d goods, want %d", len(c.m), maxCachedGoods, maxCachedGoods)
	}
	for range 10 { // hot goods, read again and again
		c.put(goodsRange(1, 3))
	}
	if _, ok := c.get(goodsIDRange(1, maxCachedGoods)); !ok || len(c.m) != maxCachedGoods {
		t.Fatalf("putting cached goods again into the full cache dropped entries: %d left", len(c.m))
	}
	c.put(goodsRange(maxCachedGoods+1, maxCachedGoods+1))
	if _, ok := c.get([]int64{maxCachedGoods + 1}); !ok || len(c.m) != maxCachedGoods {
		t.Fatalf("a new goods in the full cache: cached %v, %d entries; want cached, %d entries", ok, len(c.m), maxCachedGoods)
	}
	kept := 0
	for id := int64(1); id <= maxCachedGoods; id++ {
		if _, ok := c.m[id]; ok {
			kept++
		}
	}
	if kept != maxCachedGoods-1 {
		t.Errorf("a new goods evicted %d entries, want 1", maxCachedGoods-kept)
	}
	c.put(goodsRange(10_000, 10_000+maxCachedGoods+500))
	if len(c.m) != maxCachedGoods {
		t.Errorf("%d entries after a put of %d rows, want %d", len(c.m), maxCachedGoods+501, maxCachedGoods)
	}
	if g, ok := c.get([]int64{10_000 + maxCachedGoods + 500}); !ok || g[0].PriceCents != 10_000+maxCachedGoods+500 {
		t.Errorf("the last row put: %v, %v; want cached", g, ok)
	}
}

func goodsIDRange(from, to int64) []int64 {
	out := make([]int64, 0, to-from+1)
	for id := from; id <= to; id++ {
		out = append(out, id)
	}
	return out
}
