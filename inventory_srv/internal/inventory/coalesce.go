package inventory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// DefaultMaxSellBatch is how many one-item sells of the same goods Service.Sell merges into one
// transaction at most, unless WithMaxSellBatch says otherwise.
const DefaultMaxSellBatch = 128

// WithMaxSellBatch sets how many concurrent one-item sells of the same goods Sell merges into one
// transaction (see Service.Sell); n <= 1 turns merging off, so every sell is its own transaction.
func WithMaxSellBatch(n int) Option {
	return func(s *Service) { s.coalescer.max = max(n, 1) }
}

// Sells of one hot goods serialise on its row lock: each transaction locks the row from its
// UPDATE to its commit, and the commit waits for the log flush. The coalescer turns the sells
// that queue up behind one transaction into the next one: while a batch of a goods is in
// flight, the one-item sells of that goods that arrive wait; when it ends, the oldest of them
// leads the next batch with all that waited (up to max). Nothing waits for a timer, so a lone
// sell runs at once, alone, exactly as an uncoalesced one.
//
// A batch of two or more (sellBatch) runs in one transaction: it reads the goods, records every
// order (one insert each: a duplicate leaves that order out), deducts the sum with one
// conditional UPDATE and commits. If the sum does not fit, it locks the row, sells to the
// orders that fit in arrival order, removes the records of the others (inserted by this very
// transaction, never seen by anyone else) and answers them insufficient stock. Orders whose
// record existed, and any order of a batch that failed, are sold one by one afterwards, each in
// its own transaction as if no batch had been tried; that path answers a retried order from
// its record, so idempotency and the reback fence work exactly as for a single sell.

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
}

// sellQueue is the state of one goods.
type sellQueue struct {
	waiting []*sellCall // sells not yet taken into a batch, oldest first
}

// coalescer groups concurrent one-item sells by goods.
type coalescer struct {
	max int // the largest batch; <= 1 means no merging. Set before first use.

	mu     sync.Mutex           // guards queues
	queues map[int64]*sellQueue // goods id → its queue; present while a batch of it is in flight
}

// join enters c into its goods' queue. If no batch of the goods is in flight, c leads one at
// once and join returns its batch (c alone); otherwise it returns nil and c waits.
func (co *coalescer) join(c *sellCall) []*sellCall {
	id := c.req.Items[0].GoodsID
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.queues == nil {
		co.queues = map[int64]*sellQueue{}
	}
	q, inFlight := co.queues[id]
	if !inFlight {
		co.queues[id] = &sellQueue{}
		return []*sellCall{c}
	}
	q.waiting = append(q.waiting, c)
	return nil
}

// leave removes c from its queue and reports whether it was still waiting there (false: it has
// been taken into a batch, whose answer it must wait for).
func (co *coalescer) leave(c *sellCall) bool {
	co.mu.Lock()
	defer co.mu.Unlock()
	q := co.queues[c.req.Items[0].GoodsID]
	if q == nil {
		return false
	}
	for i, w := range q.waiting {
		if w == c {
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// next ends the batch of goodsID in flight: it takes the next batch from the queue and makes its
// oldest call the leader, or forgets the goods if nobody waits.
func (co *coalescer) next(goodsID int64) {
	co.mu.Lock()
	defer co.mu.Unlock()
	q := co.queues[goodsID]
	if len(q.waiting) == 0 {
		delete(co.queues, goodsID)
		return
	}
	n := min(len(q.waiting), co.max)
	batch := q.waiting[:n:n]
	q.waiting = append([]*sellCall(nil), q.waiting[n:]...)
	batch[0].lead <- batch
}

// queued reports how many sells of goodsID wait for a batch (for tests).
func (co *coalescer) queued(goodsID int64) int {
	co.mu.Lock()
	defer co.mu.Unlock()
	if q := co.queues[goodsID]; q != nil {
		return len(q.waiting)
	}
	return 0
}

// sellCoalesced is Sell of a normalised one-item request through the coalescer.
//
// A caller whose ctx ends while it waits to be taken into a batch leaves with ctx's error and
// nothing is sold for it. Once taken, it gets the batch's answer for its order: the batch runs
// until its transaction ends, and is cancelled only when every caller in it has gone.
func (s *Service) sellCoalesced(ctx context.Context, req SellRequest) (SellResult, error) {
	c := &sellCall{ctx: ctx, req: req, done: make(chan sellAnswer, 1), lead: make(chan []*sellCall, 1)}
	batch := s.coalescer.join(c)
	if batch == nil {
		select {
		case a := <-c.done:
			return a.res, a.err
		case batch = <-c.lead:
		case <-ctx.Done():
			if s.coalescer.leave(c) {
				return SellResult{}, fmt.Errorf("sell %s: %w", req.OrderSN, ctx.Err())
			}
			select { // taken into a batch already: its answer is on the way
			case a := <-c.done:
				return a.res, a.err
			case batch = <-c.lead:
			}
		}
	}
	s.lead(batch)
	a := <-c.done
	return a.res, a.err
}

// lead runs batch and hands the goods to the next batch. If the batch panics, the calls it has
// not answered are answered with an error and the next batch still starts, before the panic goes
// on (to the HTTP server's recovery).
func (s *Service) lead(batch []*sellCall) {
	defer s.coalescer.next(batch[0].req.Items[0].GoodsID)
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

// runBatch answers every call of batch (all of one goods).
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
	case 1:
		alone = members
	default:
		alone = s.sellBatch(ctx, members)
	}
	for _, c := range append(alone, repeats...) {
		res, err := s.sellOne(ctx, c.req)
		c.answer(sellAnswer{res: res, err: err})
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

// errBatchGoodsMissing: the goods of a batch does not exist; its orders are sold one by one,
// which answers each of them (from a record, or not found).
var errBatchGoodsMissing = errors.New("inventory: goods of the batch not found")

// sellBatch sells members (two or more one-item sells of one goods, distinct orders) in one
// transaction and answers them, except those it returns: the orders that must be sold one by one
// (their record existed, or the batch failed).
func (s *Service) sellBatch(ctx context.Context, members []*sellCall) (alone []*sellCall) {
	goodsID := members[0].req.Items[0].GoodsID
	var (
		answers  []sellAnswer // per member, set by the successful attempt
		recorded []bool       // per member: its record existed, sell it alone
	)
	err := s.store.InTx(ctx, func(tx StockTx) error {
		answers, recorded = make([]sellAnswer, len(members)), make([]bool, len(members))
		rows, err := tx.Goods(ctx, []int64{goodsID})
		if err != nil {
			return fmt.Errorf("read goods: %w", err)
		}
		if len(rows) == 0 {
			return errBatchGoodsMissing
		}
		g := rows[0]
		var inserted []int // members recorded by this transaction, in arrival order
		var total int64
		for i, c := range members {
			it := c.req.Items[0]
			sold := []SoldItem{{GoodsID: goodsID, Name: g.Name, Num: it.Num, PriceCents: g.PriceCents}}
			err := tx.InsertSellDetail(ctx, SellDetail{OrderSN: c.req.OrderSN, Status: StatusDeducted, Items: sold})
			switch {
			case errors.Is(err, ErrSellDetailExists):
				recorded[i] = true
				continue
			case err != nil:
				return fmt.Errorf("record %s: %w", c.req.OrderSN, err)
			}
			answers[i] = sellAnswer{res: SellResult{OrderSN: c.req.OrderSN, Items: sold}}
			inserted = append(inserted, i)
			total += it.Num
		}
		if len(inserted) == 0 {
			return nil
		}
		ok, err := tx.Deduct(ctx, goodsID, total)
		if err != nil {
			return fmt.Errorf("deduct goods %d: %w", goodsID, err)
		}
		if ok {
			return nil
		}
		return s.sellWhatFits(ctx, tx, members, inserted, answers)
	})
	if err != nil {
		if !errors.Is(err, errBatchGoodsMissing) {
			s.log.WarnContext(ctx, "coalesced sell failed; selling its orders one by one",
				"goods_id", goodsID, "orders", len(members), "error", err)
		}
		return members
	}
	for i, c := range members {
		if recorded[i] {
			alone = append(alone, c)
			continue
		}
		c.answer(answers[i])
	}
	return alone
}

// sellWhatFits finishes a batch whose sum did not fit: with the goods row locked, it deducts the
// orders among inserted that fit, in arrival order, and removes the records of the others,
// answering them insufficient stock with what is left after the batch.
func (s *Service) sellWhatFits(ctx context.Context, tx StockTx, members []*sellCall, inserted []int, answers []sellAnswer) error {
	goodsID := members[0].req.Items[0].GoodsID
	left, found, err := tx.LockStock(ctx, goodsID)
	if err != nil {
		return fmt.Errorf("lock goods %d: %w", goodsID, err)
	}
	if !found {
		return errBatchGoodsMissing
	}
	var fit int64
	var short []int
	for _, i := range inserted {
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
