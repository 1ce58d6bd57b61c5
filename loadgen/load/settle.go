package load

import (
	"context"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
)

// settlePoll is the pause between two checks of the stock invariant.
const settlePoll = 200 * time.Millisecond

// resolveEvery is the pause between two lookups of the unknown outcomes while the stock disagrees.
const resolveEvery = time.Second

// invariantResult is the outcome of the stock check after a run.
type invariantResult struct {
	ok       bool
	took     time.Duration // from the end of the load until the invariant held or the deadline
	mismatch []skuStock    // the SKUs that differ at the deadline (ok = false)
	err      error         // the last error reading the state, if the deadline passed with one

	found    int // unknown outcomes that turned out to be orders
	noOrder  int // unknown outcomes whose user had no order at the last lookup
	unknowns int // unknown outcomes whose user could not be read at the last lookup
	closed   int // created orders seen closed (their stock was returned)
}

// skuStock is one SKU's side of the invariant: initial − remaining should equal held.
type skuStock struct {
	id        int64
	initial   int64
	remaining int64
	held      int64 // pieces of the created orders that are not closed
}

// diff is the stock that went missing (> 0) or appeared (< 0) against the orders.
func (s skuStock) diff() int64 { return s.initial - s.remaining - s.held }

// settle waits until, for every SKU, initial − remaining = the pieces held by the run's created
// orders that are not closed, or until cfg.Settle has passed. Requests whose outcome is unknown
// (no answer, 5xx) are looked up by their user; when a SKU has more stock than expected, the
// open orders holding it are re-read in case the payment timeout closed them.
func settle(ctx context.Context, cfg Config, a *api, t *tally, note string) invariantResult {
	began := time.Now()
	deadline := began.Add(cfg.Settle)
	ids := make([]int64, cfg.SKUs)
	for i := range ids {
		ids[i] = cfg.sku(i)
	}
	s := &settler{cfg: cfg, api: a, t: t, note: note, known: map[string]bool{}}
	t.mu.Lock()
	for _, h := range t.held {
		s.known[h.sn] = true
	}
	pending := slices.Clone(t.unknown)
	t.mu.Unlock()

	var res invariantResult
	var resolved time.Time // last lookup of the unknown outcomes
	for {
		var stocks []skuStock
		remaining, err := a.stocks(ctx, ids)
		if err == nil {
			stocks = s.compare(ids, remaining)
			res.mismatch = stocks
		}
		res.err = err
		// Unknown outcomes are resolved once up front, and again while the stock disagrees:
		// an order still being written when its client gave up shows up later.
		if err == nil && len(pending) > 0 && (resolved.IsZero() || len(stocks) > 0 && time.Since(resolved) >= resolveEvery) {
			pending = s.resolve(ctx, pending, &res)
			resolved = time.Now()
			stocks = s.compare(ids, remaining)
			res.mismatch = stocks
		}
		if err == nil && len(stocks) == 0 {
			res.ok = true
			break
		}
		if err == nil && s.refreshClosed(ctx, stocks, &res) {
			continue // orders were closed: check again at once
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(settlePoll):
		}
	}
	res.took = time.Since(began)
	return res
}

// settler holds the state of one settle phase.
type settler struct {
	cfg   Config
	api   *api
	t     *tally
	note  string          // the post note of this run's orders
	known map[string]bool // order numbers already in t.held
}

// compare returns the SKUs where the invariant does not hold.
func (s *settler) compare(ids []int64, remaining map[int64]int64) []skuStock {
	held := make(map[int64]int64, len(ids))
	s.t.mu.Lock()
	for _, h := range s.t.held {
		if h.closed {
			continue
		}
		for _, it := range h.items {
			held[it.GoodsID] += it.Num
		}
	}
	s.t.mu.Unlock()
	var bad []skuStock
	for _, id := range ids {
		st := skuStock{id: id, initial: s.cfg.Stock, remaining: remaining[id], held: held[id]}
		if st.diff() != 0 {
			bad = append(bad, st)
		}
	}
	return bad
}

// resolve looks up the user of every unknown outcome, adds the orders found to the tally and
// returns the outcomes that could not be read (to try again).
func (s *settler) resolve(ctx context.Context, pending []unknownOutcome, res *invariantResult) []unknownOutcome {
	found := make([][]orderJSON, len(pending))
	failed := make([]bool, len(pending))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	for i, u := range pending {
		g.Go(func() error {
			orders, err := s.api.ordersOfUser(gctx, u.userID)
			found[i], failed[i] = orders, err != nil
			return nil
		})
	}
	_ = g.Wait() // the goroutines return no error: failures are kept in failed

	var again []unknownOutcome
	res.noOrder, res.unknowns = 0, 0
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	for i, u := range pending {
		if failed[i] {
			again = append(again, u)
			res.unknowns++
			continue
		}
		n := 0
		for _, o := range found[i] {
			if s.known[o.OrderSN] || o.Post != s.note {
				continue
			}
			s.known[o.OrderSN] = true
			n++
			s.t.held = append(s.t.held, &heldOrder{sn: o.OrderSN, userID: u.userID, items: o.Items,
				paid: o.Status != statusWaitBuyerPay && o.Status != statusTradeClosed, closed: o.Status == statusTradeClosed})
			if o.Status == statusTradeClosed {
				res.closed++
			}
		}
		if n > 0 {
			res.found += n
			continue
		}
		// No order yet: it may still be written (a timed-out request), so keep looking while the
		// stock disagrees; it counts as "no order" unless found later.
		again = append(again, u)
		res.noOrder++
	}
	return again
}

// refreshClosed re-reads the unpaid open orders that hold a SKU with more stock than expected:
// the payment timeout may have closed them and returned their stock. It reports whether it
// found newly closed orders.
func (s *settler) refreshClosed(ctx context.Context, bad []skuStock, res *invariantResult) bool {
	over := map[int64]bool{}
	for _, st := range bad {
		if st.diff() < 0 {
			over[st.id] = true
		}
	}
	if len(over) == 0 {
		return false
	}
	var check []*heldOrder
	s.t.mu.Lock()
	for _, h := range s.t.held {
		if h.paid || h.closed {
			continue
		}
		for _, it := range h.items {
			if over[it.GoodsID] {
				check = append(check, h)
				break
			}
		}
	}
	s.t.mu.Unlock()

	closed := make([]bool, len(check))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	for i, h := range check {
		g.Go(func() error {
			o, err := s.api.order(gctx, h.sn)
			closed[i] = err == nil && o.Status == statusTradeClosed
			return nil
		})
	}
	_ = g.Wait() // the goroutines return no error: an order that cannot be read stays open
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	n := 0
	for i, h := range check {
		if closed[i] {
			h.closed = true
			n++
		}
	}
	res.closed += n
	return n > 0
}

func (r invariantResult) String() string {
	if r.ok {
		return fmt.Sprintf("ok (settled in %s)", formatLatency(r.took))
	}
	if r.err != nil && len(r.mismatch) == 0 {
		return fmt.Sprintf("not checked: %v", r.err)
	}
	return fmt.Sprintf("FAILED on %d SKU(s) after %s", len(r.mismatch), formatLatency(r.took))
}
