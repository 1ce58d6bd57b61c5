package filter

import "sync"

// Cache memoises Parse, errors included, for up to a fixed number of distinct sources (like
// Apache's parse cache): subscriptions repeat the same few expressions on every heartbeat and
// pull. Sources longer than maxCachedLen are parsed every time, so that the cache holds at most
// size × maxCachedLen bytes of source. It is safe for concurrent use.
type Cache struct {
	max int
	mu  sync.Mutex // guards m
	m   map[string]cached
}

const maxCachedLen = 4 << 10

type cached struct {
	e   *Expr
	err error
}

// NewCache returns a cache holding at most size entries (at least 1); when full it starts over.
func NewCache(size int) *Cache {
	return &Cache{max: max(size, 1), m: make(map[string]cached)}
}

// Parse returns the compiled form of src, parsing it only the first time it is seen.
func (c *Cache) Parse(src string) (*Expr, error) {
	c.mu.Lock()
	r, ok := c.m[src]
	c.mu.Unlock()
	if ok {
		return r.e, r.err
	}
	e, err := Parse(src)
	if len(src) > maxCachedLen {
		return e, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[src] = cached{e, err}
	return e, err
}
