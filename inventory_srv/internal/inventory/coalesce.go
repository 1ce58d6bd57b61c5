package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultMaxSellBatch is how many one-item sells Service.Sell merges into one transaction at
// most, unless WithMaxSellBatch says otherwise.
const DefaultMaxSellBatch = 128

// DefaultSellBatchesInFlight is how many merged transactions of one-item sells run at once,
// unless WithSellBatchesInFlight says otherwise.
const DefaultSellBatchesInFlight = 1

// WithMaxSellBatch sets how many concurrent one-item sells Sell merges into one transaction (see
// Service.Sell); n <= 1 turns merging off, so every sell is its own transaction.
func WithMaxSellBatch(n int) Option {
	return func(s *Service) { s.coalescer.max = max(n, 1) }
}

// WithSellBatchesInFlight sets how many transactions of merged one-item sells may run at once
// (at least 1). More than one lets a batch start while the previous one waits for its commit;
// batches that share goods then queue on their rows' locks.
func WithSellBatchesInFlight(n int) Option {
	return func(s *Service) { s.coalescer.depth = max(n, 1) }
}

// The coalescer is a group commit for one-item sells. Each sell is a few statements and one
// commit, which waits for the log flush; the round trips and the commit cost the database and
// this process more than the sell's work. So while a batch is in flight (up to depth of them),
// the one-item sells that arrive wait; when a batch ends, the oldest waiting sell leads the next
// batch with all that waited (up to max), of whatever goods. Nothing waits for a timer, so a
// lone sell runs at once, alone, exactly as an uncoalesced one. On a hot goods this also pays
// the goods row lock once per batch instead of once per order.
//
// A batch of two or more (sellBatch) runs in one transaction: it reads the goods of all its
// orders with one SELECT (unless the goods cache has them all), records every order with one
// multi-row INSERT and deducts the sums of all its goods with one conditional UPDATE, guarded by
// the names and prices the records carry, which takes the rows in ascending id order (the lock
// order of every transaction), both in one round trip (StockTx.RecordAndDeduct), and commits. If
// one order has a record already, the INSERT fails alone, nothing is deducted, and the orders are
// recorded one by one, a duplicate leaving its order out, before the same guarded deduction. A
// goods found changed (by a guard, or under its row lock) rolls the batch back to run again
// reading the goods, so a record always carries its row's name and price. Each
// order is answered by the outcome of its own goods: if a goods' sum does not fit, that UPDATE
// tells only that some goods was short, so the transaction is rolled back and the batch runs
// again goods by goods in ascending id order; for each goods it locks the row, checks its name
// and price, sells to its orders that fit in arrival order, removes the records of the others
// (inserted by this very transaction, never seen by anyone else) and answers them insufficient
// stock; the orders of other goods are not affected. Orders of goods that do not exist, orders
// whose record existed, and every order of a batch that failed, are sold one by one afterwards,
// each in its own transaction as if no batch had been tried; that path answers a retried order
// from its record, so idempotency and the reback fence work exactly as for a single sell.

// sellCall is one Sell waiting in, or leading, a batch.
type sellCall struct {
	ctx  context.Context
	req  SellRequest      // normalised, one item
	done chan sellAnswer  // buffered 1: the answer
	lead chan []*sellCall // buffered 1: the batch this call must run, when it is made the leader

	answered bool // an answer was sent; read and written only by the leader of its batch
}

// answer sends a, unless the call has been answered already.
func (c *sellCall) answer(a sellAnswer) {
	if !c.answered {
		c.answered = true
		c.done <- a
	}
}

type sellAnswer struct {
	res SellResult
	err error
	// alone: the batch did not sell this order (its goods does not exist, its record existed,
	// it repeats an order of the batch, or the batch failed); the caller sells it by itself, in
	// its own goroutine and context, after the batch has freed its slot.
	alone bool
}

// coalescer groups concurrent one-item sells into batches.
type coalescer struct {
	max   int // the largest batch; <= 1 means no merging. Set before first use.
	depth int // batches in flight at most (>= 1). Set before first use.

	mu       sync.Mutex  // guards inFlight, waiting
	inFlight int         // batches running
	waiting  []*sellCall // sells not yet taken into a batch, oldest first
}

// join enters c. If fewer than depth batches are in flight, c leads one at once and join
// returns its batch (c alone); otherwise it returns nil and c waits.
func (co *coalescer) join(c *sellCall) []*sellCall {
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.inFlight < max(co.depth, 1) {
		co.inFlight++
		return []*sellCall{c}
	}
	co.waiting = append(co.waiting, c)
	return nil
}

// leave removes c from the waiting sells and reports whether it was still waiting (false: it
// has been taken into a batch, whose answer it must wait for).
func (co *coalescer) leave(c *sellCall) bool {
	co.mu.Lock()
	defer co.mu.Unlock()
	for i, w := range co.waiting {
		if w == c {
			co.waiting = append(co.waiting[:i], co.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// next ends a batch in flight: it takes the next batch from the waiting sells and makes its
// oldest call the leader, or frees the batch's place if nobody waits.
func (co *coalescer) next() {
	co.mu.Lock()
	defer co.mu.Unlock()
	if len(co.waiting) == 0 {
		co.inFlight--
		return
	}
	n := min(len(co.waiting), co.max)
	batch := co.waiting[:n:n]
	co.waiting = append([]*sellCall(nil), co.waiting[n:]...)
	batch[0].lead <- batch
}

// queued reports how many sells of goodsID wait for a batch (for tests).
func (co *coalescer) queued(goodsID int64) int {
	co.mu.Lock()
	defer co.mu.Unlock()
	n := 0
	for _, c := range co.waiting {
		if c.req.Items[0].GoodsID == goodsID {
			n++
		}
	}
	return n
}

// sellCoalesced is Sell of a normalised one-item request through the coalescer.
//
// A caller whose ctx ends while it waits to be taken into a batch leaves with ctx's error and
// nothing is sold for it. Once taken, it gets the batch's answer for its order: the batch runs
// until its transaction ends, and is cancelled only when every caller in it has gone. An order
// the batch did not sell (it failed, the goods is unknown, the order was recorded, or it repeats
// one of the batch) is then sold by its caller alone, in ctx, once the batch has freed its slot.
func (s *Service) sellCoalesced(ctx context.Context, req SellRequest) (SellResult, error) {
	c := &sellCall{ctx: ctx, req: req, done: make(chan sellAnswer, 1), lead: make(chan []*sellCall, 1)}
	finish := func(a sellAnswer) (SellResult, error) {
		if a.alone {
			return s.sellOne(ctx, req)
		}
		return a.res, a.err
	}
	batch := s.coalescer.join(c)
	if batch == nil {
		select {
		case a := <-c.done:
			return finish(a)
		case batch = <-c.lead:
		case <-ctx.Done():
			if s.coalescer.leave(c) {
				return SellResult{}, fmt.Errorf("sell %s: %w", req.OrderSN, ctx.Err())
			}
			select { // taken into a batch already: its answer is on the way
			case a := <-c.done:
				return finish(a)
			case batch = <-c.lead:
			}
		}
	}
	s.lead(batch)
	return finish(<-c.done)
}

// lead runs batch and hands the goods to the next batch. If the batch panics, the calls it has
// not answered are answered with an error and the next batch still starts, before the panic goes
// on (to the HTTP server's recovery).
func (s *Service) lead(batch []*sellCall) {
	defer s.coalescer.next()
	defer func() {
		if r := recover(); r != nil {
			for _, c := range batch {
				c.answer(sellAnswer{err: fmt.Errorf("sell %s: internal error in a coalesced sell: %v", c.req.OrderSN, r)})
			}
			panic(r)
		}
	}()
	s.runBatch(batch)
}

// runBatch answers every call of batch.
func (s *Service) runBatch(batch []*sellCall) {
	ctx, release := batchContext(batch)
	defer release()

	// Callers gone before the batch started are not sold to; the first call of each order
	// joins the batch, a repeat of it is sold after the batch (and answered from its record).
	var members, repeats []*sellCall
	seen := make(map[string]bool, len(batch))
	for _, c := range batch {
		switch {
		case c.ctx.Err() != nil:
			c.answer(sellAnswer{err: fmt.Errorf("sell %s: %w", c.req.OrderSN, c.ctx.Err())})
		case seen[c.req.OrderSN]:
			repeats = append(repeats, c)
		default:
			seen[c.req.OrderSN] = true
			members = append(members, c)
		}
	}
	var alone []*sellCall // to be sold one by one
	switch len(members) {
	case 0:
	case 1: // a lone sell holds the slot while it runs, so that the sells arriving meanwhile batch
		c := members[0]
		res, err := s.sellOne(c.ctx, c.req)
		c.answer(sellAnswer{res: res, err: err})
	default:
		alone = s.sellBatch(ctx, members)
	}
	// Each of these is sold by its own caller, concurrently and in its own context, once this
	// batch has freed its slot: a failed batch of 128 orders sold one after another here would
	// hold up every one-item sell of any goods (review of the group commit, finding 1).
	for _, c := range append(alone, repeats...) {
		c.answer(sellAnswer{alone: true})
	}
}

// batchContext is the context a batch runs in: the values of its first call's context,
// cancelled once every call's context is done. release frees it.
func batchContext(batch []*sellCall) (ctx context.Context, release func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	var live atomic.Int64
	live.Store(int64(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, c := range batch {
		stops[i] = context.AfterFunc(c.ctx, func() {
			if live.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// sellBatch sells members (two or more one-item sells of distinct orders) in one transaction and
// answers them, except those it returns: the orders that must be sold one by one (their goods
// does not exist, their record existed, or the batch failed).
func (s *Service) sellBatch(ctx context.Context, members []*sellCall) (alone []*sellCall) {
	var (
		answers []sellAnswer // per member, set by the successful attempt
		single  []bool       // per member: sell it alone
	)
	run := func(m batchMode) error {
		return s.store.InTx(ctx, func(tx StockTx) error {
			answers, single = make([]sellAnswer, len(members)), make([]bool, len(members))
			return s.sellBatchTx(ctx, tx, members, answers, single, m)
		})
	}
	// A changed goods (a PutGoods elsewhere) makes the attempt run again reading the goods, a
	// short goods goods by goods; a goods that keeps changing fails the batch after a few
	// attempts (its orders are then sold one by one).
	mode := batchCached
	err := run(mode)
	for attempt := 1; attempt < maxBatchAttempts && (errors.Is(err, errGoodsChanged) || errors.Is(err, errBatchShort)); attempt++ {
		if errors.Is(err, errBatchShort) {
			mode = batchPerGoods
		} else {
			mode = max(mode, batchRead)
		}
		err = run(mode)
	}
	if err != nil {
		s.log.WarnContext(ctx, "coalesced sell failed; selling its orders one by one",
			"orders", len(members), "error", err)
		return members
	}
	for i, c := range members {
		if single[i] {
			alone = append(alone, c)
			continue
		}
		c.answer(answers[i])
	}
	return alone
}

// maxBatchAttempts bounds the attempts of a batch (and of a lone sell) whose goods keep
// changing or running short under it.
const maxBatchAttempts = 4

// batchMode is how an attempt of sellBatchTx goes about it.
type batchMode int8

const (
	// batchCached takes names and prices from the goods cache when it has every goods of the
	// batch (else as batchRead).
	batchCached batchMode = iota
	// batchRead reads the goods and deducts the sums of all goods with one UPDATE.
	batchRead
	// batchPerGoods reads the goods and deducts goods by goods, selling what fits of a short one.
	batchPerGoods
)

// sellBatchTx is one attempt of sellBatch in tx. It sets answers[i] for every member it sells
// or refuses, and single[i] for those to be sold one by one. Unless m is batchPerGoods, it
// deducts the sums of all goods with one UPDATE, failing with errBatchShort if one of several
// goods does not fit; with batchPerGoods, goods by goods, selling what fits of a goods that is
// short.
//
// Every deduction is guarded by, or done under the row lock after checking, the name and price
// the records carry (cached or read without a lock a moment before), so a record always has the
// name and price of its goods row when it was deducted; when a goods changed, it fails with
// errGoodsChanged (the attempt must be rolled back and run again reading the goods).
func (s *Service) sellBatchTx(ctx context.Context, tx StockTx, members []*sellCall, answers []sellAnswer, single []bool, m batchMode) error {
	perGoods := m == batchPerGoods
	ids := make([]int64, 0, len(members))
	for _, c := range members {
		ids = append(ids, c.req.Items[0].GoodsID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	// With batchCached and every goods of ids cached, the names and prices come from the cache.
	rows, cached := []Goods(nil), false
	if m == batchCached {
		rows, cached = s.cachedGoods(ids)
	}
	if !cached {
		var err error
		if rows, err = tx.Goods(ctx, ids); err != nil {
			return fmt.Errorf("read goods: %w", err)
		}
		s.goods.put(rows)
	}
	byID := goodsByID(rows)
	asSold := func(sums []Item) []Goods { // each goods of sums as its records have it
		out := make([]Goods, len(sums))
		for k, sum := range sums {
			out[k] = byID[sum.GoodsID]
		}
		return out
	}

	// Record every order whose goods exists; sold[i] is member i's answer if it is sold.
	details := make([]SellDetail, 0, len(members))
	idx := make([]int, 0, len(members)) // member of each detail
	for i, c := range members {
		it := c.req.Items[0]
		g, ok := byID[it.GoodsID]
		if !ok {
			single[i] = true // answered not found (or from a record) by the one-by-one path
			continue
		}
		sold := []SoldItem{{GoodsID: it.GoodsID, Name: g.Name, Num: it.Num, PriceCents: g.PriceCents}}
		details = append(details, SellDetail{OrderSN: c.req.OrderSN, Status: StatusDeducted, Items: sold})
		idx = append(idx, i)
		answers[i] = sellAnswer{res: SellResult{OrderSN: c.req.OrderSN, Items: sold}}
	}
	oneByOne := perGoods
	if !perGoods && len(details) > 0 {
		// The common case, in one round trip: every order is new, record them all and deduct the
		// sums of all their goods, guarded by the names and prices of the records.
		group := make(map[int64][]int, len(ids))
		for _, i := range idx {
			id := members[i].req.Items[0].GoodsID
			group[id] = append(group[id], i)
		}
		sums := goodsSums(ids, group, members)
		ok, err := tx.RecordAndDeduct(ctx, details, sums, asSold(sums))
		switch {
		case err == nil && ok:
			return nil
		case err == nil && len(sums) > 1: // short or changed: goods by goods tells which
			return errBatchShort
		case err == nil: // one goods, whose sum did not fit or which changed: nothing was deducted
			id := sums[0].GoodsID
			return s.sellWhatFits(ctx, tx, byID[id], members, group[id], answers)
		case !errors.Is(err, ErrSellDetailExists):
			return fmt.Errorf("record %d orders and deduct %d goods: %w", len(details), len(sums), err)
		}
		// A retried order has a record: nothing was recorded nor deducted; record the orders
		// one by one, leaving the duplicates out.
		oneByOne = true
	}
	inserted, err := insertSellDetails(ctx, tx, details, oneByOne)
	if err != nil {
		return err
	}

	// The inserted members of each goods, in arrival order.
	byGoods := map[int64][]int{}
	for k, ok := range inserted {
		i := idx[k]
		if !ok {
			single[i], answers[i] = true, sellAnswer{}
			continue
		}
		id := members[i].req.Items[0].GoodsID
		byGoods[id] = append(byGoods[id], i)
	}
	sums := goodsSums(ids, byGoods, members)
	if len(sums) == 0 {
		return nil
	}
	if !perGoods {
		ok, err := tx.DeductAll(ctx, sums, asSold(sums))
		switch {
		case err != nil:
			return fmt.Errorf("deduct %d goods: %w", len(sums), err)
		case ok:
			return nil
		case len(sums) > 1:
			return errBatchShort
		}
		id := sums[0].GoodsID
		return s.sellWhatFits(ctx, tx, byID[id], members, byGoods[id], answers)
	}
	for _, sum := range sums {
		if err := s.sellWhatFits(ctx, tx, byID[sum.GoodsID], members, byGoods[sum.GoodsID], answers); err != nil {
			return err
		}
	}
	return nil
}

// errBatchShort: the sum of a goods of the batch did not fit, so its one UPDATE of all goods was
// rolled back; the batch runs again goods by goods.
var errBatchShort = errors.New("inventory: a goods of the batch is short")

// goodsSums is, for each goods of ids (ascending) with orders in group (member indexes by goods),
// the goods and the sum of its orders' amounts.
func goodsSums(ids []int64, group map[int64][]int, members []*sellCall) []Item {
	var sums []Item
	for _, id := range ids {
		var total int64
		for _, i := range group[id] {
			total += members[i].req.Items[0].Num
		}
		if total > 0 {
			sums = append(sums, Item{GoodsID: id, Num: total})
		}
	}
	return sums
}

// insertSellDetails records details and reports which of them it inserted: one statement for
// all, or, when one of them has a record already (a retried order), one insert each, a
// duplicate leaving its order out. oneByOne skips the statement for all (it failed already on
// a duplicate in this transaction).
func insertSellDetails(ctx context.Context, tx StockTx, details []SellDetail, oneByOne bool) (inserted []bool, err error) {
	inserted = make([]bool, len(details))
	if len(details) == 0 {
		return inserted, nil
	}
	if !oneByOne {
		err = tx.InsertSellDetails(ctx, details)
		switch {
		case err == nil:
			for k := range inserted {
				inserted[k] = true
			}
			return inserted, nil
		case !errors.Is(err, ErrSellDetailExists):
			return nil, fmt.Errorf("record %d orders: %w", len(details), err)
		}
	}
	for k, d := range details {
		err := tx.InsertSellDetail(ctx, d)
		switch {
		case err == nil:
			inserted[k] = true
		case !errors.Is(err, ErrSellDetailExists):
			return nil, fmt.Errorf("record %s: %w", d.OrderSN, err)
		}
	}
	return inserted, nil
}

// sellWhatFits finishes the orders group (members of goods asSold.ID, all inserted, in arrival
// order, recorded with asSold's name and price): with the goods row locked, it checks that the
// row still has that name and price (else it forgets the cached entry and fails with
// errGoodsChanged), deducts the orders that fit, in arrival order, and removes the records of the
// others, answering them insufficient stock with what is left after the batch.
func (s *Service) sellWhatFits(ctx context.Context, tx StockTx, asSold Goods, members []*sellCall, group []int, answers []sellAnswer) error {
	goodsID := asSold.ID
	row, found, err := tx.LockStock(ctx, goodsID)
	if err != nil {
		return fmt.Errorf("lock goods %d: %w", goodsID, err)
	}
	if !found { // read a moment ago in this transaction; goods are never deleted
		return fmt.Errorf("lock goods %d: %w", goodsID, ErrGoodsNotFound)
	}
	if row.Name != asSold.Name || row.PriceCents != asSold.PriceCents {
		s.goodsChanged(goodsID)
		return errGoodsChanged
	}
	left := row.Stock
	var fit int64
	var short []int
	for _, i := range group {
		if n := members[i].req.Items[0].Num; n <= left {
			left -= n
			fit += n
		} else {
			short = append(short, i)
		}
	}
	sns := make([]string, len(short))
	for k, i := range short {
		sns[k] = members[i].req.OrderSN
	}
	if err := tx.DeleteSellDetails(ctx, sns); err != nil {
		return fmt.Errorf("remove records of short orders: %w", err)
	}
	if fit > 0 {
		ok, err := tx.Deduct(ctx, goodsID, fit)
		if err != nil {
			return fmt.Errorf("deduct goods %d: %w", goodsID, err)
		}
		if !ok { // cannot happen while the row is locked; never sell on a guess
			return fmt.Errorf("deduct goods %d: stock changed under the row lock", goodsID)
		}
	}
	for _, i := range short {
		c := members[i]
		err := &InsufficientStockError{Items: []Shortage{{GoodsID: goodsID, Requested: c.req.Items[0].Num, Available: left}}}
		answers[i] = sellAnswer{err: fmt.Errorf("sell %s: %w", c.req.OrderSN, err)}
	}
	return nil
}
