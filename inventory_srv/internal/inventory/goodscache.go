package inventory

import "sync"

// maxCachedGoods bounds the goods cache; a new goods arriving when it is full evicts one entry,
// chosen at random.
const maxCachedGoods = 4096

// goodsCache remembers the name and price of goods that sells read, so that a sell can write its
// record without reading the goods first. It is only ever a guess: a sell that uses it deducts
// with a guard (StockTx.RecordAndDeduct's asSold) that changes the row only if it still has the
// name and price the record was written with, and reads the goods when the guard fails, so a
// stale entry (a PutGoods on another instance) costs a rolled back attempt, never a wrong record.
// Stock is never cached.
type goodsCache struct {
	mu sync.Mutex
	m  map[int64]Goods // ID, Name and PriceCents only
}

// get returns the cached name and price of each of ids, or false if one of them is not cached.
func (c *goodsCache) get(ids []int64) ([]Goods, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Goods, len(ids))
	for i, id := range ids {
		g, ok := c.m[id]
		if !ok {
			return nil, false
		}
		out[i] = g
	}
	return out, true
}

// put remembers the name and price of rows, read from the store. An entry already cached is
// overwritten; a new one, when the cache is full, evicts one entry at random (Go's map iteration
// order), so the cache never holds more than maxCachedGoods and its hot entries, put again and
// again, are rarely the ones evicted.
func (c *goodsCache) put(rows []Goods) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[int64]Goods, min(len(rows), maxCachedGoods))
	}
	for _, g := range rows {
		if _, ok := c.m[g.ID]; !ok && len(c.m) >= maxCachedGoods {
			for victim := range c.m {
				delete(c.m, victim)
				break
			}
		}
		c.m[g.ID] = Goods{ID: g.ID, Name: g.Name, PriceCents: g.PriceCents}
	}
}

// forget drops the entry of id.
func (c *goodsCache) forget(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// cachedGoods is goods.get of ids, counted as a hit or a miss.
func (s *Service) cachedGoods(ids []int64) ([]Goods, bool) {
	rows, ok := s.goods.get(ids)
	if ok {
		s.metrics.GoodsCache(GoodsCacheHit)
	} else {
		s.metrics.GoodsCache(GoodsCacheMiss)
	}
	return rows, ok
}

// goodsChanged forgets the entry of id, whose row a guard found changed, and counts it stale.
func (s *Service) goodsChanged(id int64) {
	s.goods.forget(id)
	s.metrics.GoodsCache(GoodsCacheStale)
}
