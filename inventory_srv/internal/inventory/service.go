package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
)

// Store is the persistence port of Service. Implementations must be safe for concurrent use.
type Store interface {
	// SaveGoods creates the goods or overwrites name, price and stock of an existing one, and
	// reports whether it was created.
	SaveGoods(ctx context.Context, g Goods) (created bool, err error)
	// Goods returns the goods among ids that exist, in any order.
	Goods(ctx context.Context, ids []int64) ([]Goods, error)
	// SellDetail returns the record of orderSN, or an error wrapping ErrSellDetailNotFound.
	SellDetail(ctx context.Context, orderSN string) (SellDetail, error)
	// InTx runs fn in one transaction: committed if fn returns nil, rolled back otherwise, and
	// fn's error returned as is. Every read in the transaction sees the latest committed state
	// (read committed): the use cases rely on conditional writes, never on a snapshot. fn may run
	// more than once (a transaction the database aborted as a deadlock victim is retried), so it
	// must not have effects outside tx.
	InTx(ctx context.Context, fn func(tx StockTx) error) error
}

// StockTx is the set of operations of one Store transaction.
type StockTx interface {
	// Deduct subtracts num from the goods' stock only if at least num are left, and reports
	// whether it did (false also when the goods does not exist).
	Deduct(ctx context.Context, goodsID, num int64) (bool, error)
	// DeductAll subtracts each item's Num from the stock of its goods (distinct goods) with one
	// statement, and reports whether every goods had at least Num left. When it reports false,
	// the goods that had enough were deducted and the others not, and the caller cannot tell
	// which: it must roll the transaction back (with one item, nothing was deducted). asSold,
	// when not nil, is RecordAndDeduct's guard: an item fits only if its row still has that
	// name and price.
	DeductAll(ctx context.Context, items []Item, asSold []Goods) (bool, error)
	// Restock adds num to the goods' stock and reports whether the goods exists.
	Restock(ctx context.Context, goodsID, num int64) (bool, error)
	// Goods is Store.Goods inside the transaction.
	Goods(ctx context.Context, ids []int64) ([]Goods, error)
	// InsertSellDetail records d, or fails with ErrSellDetailExists if its order has a record
	// (waiting for a concurrent uncommitted insert of the same order to finish first).
	InsertSellDetail(ctx context.Context, d SellDetail) error
	// InsertSellDetails records every one of ds (distinct orders) with one statement, or none of
	// them, failing with ErrSellDetailExists if one has a record; the transaction stays usable
	// after that error.
	InsertSellDetails(ctx context.Context, ds []SellDetail) error
	// RecordAndDeduct is InsertSellDetails(ds) followed, only if it succeeded, by the conditional
	// deduction of items (distinct goods, ascending id; Deduct's for one, DeductAll's for more),
	// in as few round trips as the store can (one on MySQL). If one of ds has a record it fails
	// with ErrSellDetailExists, having recorded and deducted nothing, and the transaction stays
	// usable. Otherwise deducted reports whether every item fit; when it is false with more than
	// one item, the caller cannot tell which were deducted and must roll the transaction back (as
	// after DeductAll); with one item, nothing was deducted. On any other error the records may
	// be in place (the INSERT succeeded, the UPDATE failed, e.g. a lock wait timeout) and the
	// deduction not: the caller must roll the transaction back.
	//
	// asSold, when not nil, holds for each item (same order) the name and price its records were
	// written with: then an item fits only if its goods row also still has exactly that name and
	// price, so false may also mean that a goods changed.
	RecordAndDeduct(ctx context.Context, ds []SellDetail, items []Item, asSold []Goods) (deducted bool, err error)
	// MarkReturned moves the order's record from StatusDeducted to StatusReturned if it is in
	// StatusDeducted (a compare-and-set), and reports whether it did.
	MarkReturned(ctx context.Context, orderSN string) (bool, error)
	// SellDetail is Store.SellDetail inside the transaction.
	SellDetail(ctx context.Context, orderSN string) (SellDetail, error)
	// LockStock locks the goods' row until the transaction ends and returns its stock, name and
	// price (ID, Stock, Name, PriceCents) as they are under the lock, the latest committed ones
	// (found is false when the goods does not exist).
	LockStock(ctx context.Context, goodsID int64) (g Goods, found bool, err error)
	// DeleteSellDetails removes the records of orderSNs. It only undoes InsertSellDetail calls of
	// this same transaction (records nobody else has seen); committed records are never deleted.
	DeleteSellDetails(ctx context.Context, orderSNs []string) error
}

// Service holds the use cases of the inventory. It is safe for concurrent use.
type Service struct {
	store     Store
	log       *slog.Logger
	metrics   Metrics
	coalescer coalescer // merges concurrent one-item sells into batches (coalesce.go)
	goods     goodsCache
}

// NewService returns a Service over store, logging to log.
func NewService(store Store, log *slog.Logger, opts ...Option) *Service {
	s := &Service{store: store, log: log, metrics: NopMetrics{}, coalescer: coalescer{max: DefaultMaxSellBatch, depth: DefaultSellBatchesInFlight}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// PutGoods validates g and creates or overwrites it (name, price and stock), reporting whether it
// was created. Setting the stock of goods that are being sold is last-writer-wins: it is an
// administrative correction, not part of the saga.
func (s *Service) PutGoods(ctx context.Context, g Goods) (created bool, err error) {
	if err := g.Validate(); err != nil {
		return false, err
	}
	created, err = s.store.SaveGoods(ctx, g)
	s.goods.forget(g.ID)
	if err != nil {
		return false, fmt.Errorf("save goods %d: %w", g.ID, err)
	}
	return created, nil
}

// Goods returns one goods, or an error wrapping ErrGoodsNotFound.
func (s *Service) Goods(ctx context.Context, id int64) (Goods, error) {
	if _, err := validateIDs([]int64{id}); err != nil {
		return Goods{}, err
	}
	found, err := s.store.Goods(ctx, []int64{id})
	if err != nil {
		return Goods{}, fmt.Errorf("goods %d: %w", id, err)
	}
	if len(found) == 0 {
		return Goods{}, fmt.Errorf("goods %d: %w", id, ErrGoodsNotFound)
	}
	return found[0], nil
}

// GoodsList returns the goods among ids that exist, in the order of ids (duplicates dropped),
// and the ids that do not exist.
func (s *Service) GoodsList(ctx context.Context, ids []int64) (found []Goods, missing []int64, err error) {
	ids, err = validateIDs(ids)
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.store.Goods(ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("goods list: %w", err)
	}
	byID := goodsByID(rows)
	found = make([]Goods, 0, len(rows))
	for _, id := range ids {
		if g, ok := byID[id]; ok {
			found = append(found, g)
		} else {
			missing = append(missing, id)
		}
	}
	return found, missing, nil
}

// Sell deducts the items of req atomically and records the sell, or deducts nothing.
//
// It fails with a *ValidationError, a *GoodsNotFoundError, an *InsufficientStockError (naming
// every short item), ErrOrderAlreadyReturned or ErrOrderConflict. A repeated sell of the same
// order with the same items deducts nothing and answers the recorded result with Replayed set.
//
// Concurrent one-item sells, of any goods, are merged into one transaction (up to
// WithMaxSellBatch of them; a group commit), so the statements and the commit, and on a hot
// goods its row lock, are paid once per batch instead of once per order; each caller still gets
// its own order's answer, as above. A caller whose ctx ends while it waits for the batch before
// it gets ctx's error and nothing is sold.
func (s *Service) Sell(ctx context.Context, req SellRequest) (res SellResult, err error) {
	defer func() { s.metrics.StockSold(sellLabel(res, err)) }()
	req, err = req.normalize()
	if err != nil {
		return SellResult{}, err
	}
	if len(req.Items) == 1 && s.coalescer.max > 1 {
		return s.sellCoalesced(ctx, req)
	}
	return s.sellOne(ctx, req)
}

// sellOne is Sell of a normalised request in a transaction of its own.
func (s *Service) sellOne(ctx context.Context, req SellRequest) (SellResult, error) {
	var sold []SoldItem
	cached := true
	attempt := func(tx StockTx) error {
		var err error
		sold, err = s.sell(ctx, tx, req, cached)
		return err
	}
	err := s.store.InTx(ctx, attempt)
	for n := 1; n < maxBatchAttempts && errors.Is(err, errGoodsChanged); n++ {
		cached = false // rolled back; sell again from the goods as they are
		err = s.store.InTx(ctx, attempt)
	}
	if err == nil {
		return SellResult{OrderSN: req.OrderSN, Items: sold}, nil
	}
	if errors.Is(err, ErrSellDetailExists) || errors.Is(err, ErrInsufficientStock) || errors.Is(err, ErrGoodsNotFound) {
		// The order may have been sold (or returned) before: a retry must answer the recorded
		// result even when the stock has run out since, and must never deduct twice. Our
		// transaction was rolled back; answer from the record if there is one.
		d, rerr := s.store.SellDetail(ctx, req.OrderSN)
		switch {
		case rerr == nil:
			return replay(d, req)
		case !errors.Is(rerr, ErrSellDetailNotFound):
			return SellResult{}, fmt.Errorf("sell %s: %w", req.OrderSN, rerr)
		case errors.Is(err, ErrSellDetailExists):
			return SellResult{}, fmt.Errorf("sell %s: record vanished after a duplicate insert", req.OrderSN)
		}
	}
	return SellResult{}, fmt.Errorf("sell %s: %w", req.OrderSN, err)
}

// replay answers req from the order's existing record d.
func replay(d SellDetail, req SellRequest) (SellResult, error) {
	switch {
	case d.Status == StatusReturned:
		return SellResult{}, fmt.Errorf("sell %s: %w", req.OrderSN, ErrOrderAlreadyReturned)
	case !d.sameItems(req.Items):
		return SellResult{}, fmt.Errorf("sell %s: %w", req.OrderSN, ErrOrderConflict)
	}
	return SellResult{OrderSN: d.OrderSN, Items: d.Items, Replayed: true}, nil
}

// sell is one sell inside a transaction. The order of its steps is chosen for contention and
// lock order: it reads names and prices without locking, records the order (locking only the
// new record, and failing fast for a retried order), and only then deducts, so a hot goods row is
// locked just from its UPDATE to the commit. Every transaction that touches both locks the sell
// record first and goods rows in ascending id order (items are sorted), so sells and rebacks
// cannot deadlock each other.
//
// A one-item sell with cached set takes the name and price from the goods cache when it has
// them, instead of reading the goods. Every deduction is guarded by the name and price the
// record carries (cached, or read without a lock a moment before): the UPDATE changes the row
// only if it still has them, and locks it until the commit, so a record always carries the name
// and price its row had when it was deducted. When a guard fails and the goods did change (or
// is not short after all), it fails with errGoodsChanged: the transaction must be rolled back
// and the sell run again without cached.
func (s *Service) sell(ctx context.Context, tx StockTx, req SellRequest, cached bool) ([]SoldItem, error) {
	ids := make([]int64, len(req.Items))
	for i, it := range req.Items {
		ids[i] = it.GoodsID
	}
	if len(req.Items) == 1 && cached {
		if asSold, ok := s.cachedGoods(ids); ok {
			return s.sellCached(ctx, tx, req, asSold[0])
		}
	}
	rows, err := tx.Goods(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read goods: %w", err)
	}
	s.goods.put(rows)
	byID := goodsByID(rows)
	sold := make([]SoldItem, 0, len(req.Items))
	var missing []int64
	for _, it := range req.Items {
		g, ok := byID[it.GoodsID]
		if !ok {
			missing = append(missing, it.GoodsID)
			continue
		}
		sold = append(sold, SoldItem{GoodsID: it.GoodsID, Name: g.Name, Num: it.Num, PriceCents: g.PriceCents})
	}
	if len(missing) > 0 {
		return nil, &GoodsNotFoundError{IDs: missing}
	}
	detail := SellDetail{OrderSN: req.OrderSN, Status: StatusDeducted, Items: sold}
	var failed []Item
	if len(req.Items) == 1 {
		// Record and deduct in one round trip, guarded by the name and price just read; a short
		// (or changed) item is not deducted at all.
		ok, err := tx.RecordAndDeduct(ctx, []SellDetail{detail}, req.Items, []Goods{byID[ids[0]]})
		switch {
		case errors.Is(err, ErrSellDetailExists):
			return nil, err
		case err != nil:
			return nil, fmt.Errorf("record and deduct goods %d: %w", req.Items[0].GoodsID, err)
		case !ok:
			failed = req.Items
		}
	} else {
		if err := tx.InsertSellDetail(ctx, detail); err != nil {
			return nil, err
		}
		// Deduct every item; when one is short, still try the others so that the error names
		// every short item (the transaction is rolled back anyway).
		for _, it := range req.Items {
			ok, err := tx.DeductAll(ctx, []Item{it}, []Goods{byID[it.GoodsID]})
			if err != nil {
				return nil, fmt.Errorf("deduct goods %d: %w", it.GoodsID, err)
			}
			if !ok {
				failed = append(failed, it)
			}
		}
	}
	if len(failed) == 0 {
		return sold, nil
	}
	failedIDs := make([]int64, len(failed))
	for i, it := range failed {
		failedIDs[i] = it.GoodsID
	}
	rows, err = tx.Goods(ctx, failedIDs) // what is left now, for the error
	if err != nil {
		return nil, fmt.Errorf("read goods: %w", err)
	}
	now := goodsByID(rows)
	short := make([]Shortage, len(failed))
	for i, it := range failed {
		g, was := now[it.GoodsID], byID[it.GoodsID]
		if g.Name != was.Name || g.PriceCents != was.PriceCents || g.Stock >= it.Num {
			// The guard failed on a change (that may since have been undone): nothing is sold,
			// the transaction is rolled back and the sell runs again.
			s.goodsChanged(it.GoodsID)
			return nil, errGoodsChanged
		}
		short[i] = Shortage{GoodsID: it.GoodsID, Requested: it.Num, Available: g.Stock}
	}
	return nil, &InsufficientStockError{Items: short}
}

// sellCached is sell of a one-item request whose goods g (name and price) is cached.
func (s *Service) sellCached(ctx context.Context, tx StockTx, req SellRequest, g Goods) ([]SoldItem, error) {
	it := req.Items[0]
	sold := []SoldItem{{GoodsID: it.GoodsID, Name: g.Name, Num: it.Num, PriceCents: g.PriceCents}}
	detail := SellDetail{OrderSN: req.OrderSN, Status: StatusDeducted, Items: sold}
	ok, err := tx.RecordAndDeduct(ctx, []SellDetail{detail}, req.Items, []Goods{g})
	switch {
	case errors.Is(err, ErrSellDetailExists):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("record and deduct goods %d: %w", it.GoodsID, err)
	case ok:
		return sold, nil
	}
	// Nothing was deducted: the stock is short, or the goods changed since it was cached.
	rows, err := tx.Goods(ctx, []int64{it.GoodsID})
	if err != nil {
		return nil, fmt.Errorf("read goods: %w", err)
	}
	if len(rows) == 1 && rows[0].Name == g.Name && rows[0].PriceCents == g.PriceCents && rows[0].Stock < it.Num {
		short := []Shortage{{GoodsID: it.GoodsID, Requested: it.Num, Available: rows[0].Stock}}
		return nil, &InsufficientStockError{Items: short}
	}
	s.goodsChanged(it.GoodsID)
	return nil, errGoodsChanged
}

// errGoodsChanged: a sell from the goods cache found the goods changed; its transaction must be
// rolled back and the sell run again, reading the goods.
var errGoodsChanged = errors.New("inventory: the cached goods changed")

// errRebackRace: a reback's transaction saw the order's record change under it more often than
// the record's state machine allows; the caller should try again.
var errRebackRace = errors.New("inventory: sell detail changed during reback")

// Reback returns the stock of order orderSN exactly once, however often it is called: it moves
// the order's record from deducted to returned (a compare-and-set) and, in the same
// transaction, adds the recorded items back. See RebackOutcome for the answers; an order with no
// record is fenced (recorded as returned) and answered NotSold.
func (s *Service) Reback(ctx context.Context, orderSN string) (RebackOutcome, error) {
	if err := ValidateOrderSN(orderSN); err != nil {
		return 0, err
	}
	var outcome RebackOutcome
	err := s.store.InTx(ctx, func(tx StockTx) error {
		var err error
		outcome, err = reback(ctx, tx, orderSN)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("reback %s: %w", orderSN, err)
	}
	s.metrics.StockReturned(outcome)
	if outcome == NotSold {
		s.log.WarnContext(ctx, "reback of an order that was never sold; recorded it as returned so a late sell cannot deduct",
			"order_sn", orderSN)
	}
	return outcome, nil
}

// reback is one attempt inside a transaction. The record only moves forward (absent → deducted
// → returned, or absent → returned), so each pass of the loop either finishes or observed a
// move; three passes cover every interleaving.
func reback(ctx context.Context, tx StockTx, orderSN string) (RebackOutcome, error) {
	for range 3 {
		flipped, err := tx.MarkReturned(ctx, orderSN)
		if err != nil {
			return 0, fmt.Errorf("mark returned: %w", err)
		}
		if flipped {
			return Returned, restock(ctx, tx, orderSN)
		}
		d, err := tx.SellDetail(ctx, orderSN)
		switch {
		case err == nil && d.Status == StatusReturned:
			return AlreadyReturned, nil
		case err == nil:
			continue // a sell committed after our compare-and-set: flip it on the next pass
		case !errors.Is(err, ErrSellDetailNotFound):
			return 0, err
		}
		err = tx.InsertSellDetail(ctx, SellDetail{OrderSN: orderSN, Status: StatusReturned})
		switch {
		case err == nil:
			return NotSold, nil
		case !errors.Is(err, ErrSellDetailExists):
			return 0, fmt.Errorf("fence: %w", err)
		}
		// A concurrent sell or reback inserted the record first: look again.
	}
	return 0, errRebackRace
}

// restock adds back the items recorded for orderSN, whose record this transaction has just
// moved to returned.
func restock(ctx context.Context, tx StockTx, orderSN string) error {
	d, err := tx.SellDetail(ctx, orderSN)
	if err != nil {
		return fmt.Errorf("read returned record: %w", err)
	}
	items := slices.SortedFunc(slices.Values(d.Items), func(a, b SoldItem) int {
		return cmp.Compare(a.GoodsID, b.GoodsID)
	})
	for _, it := range items {
		ok, err := tx.Restock(ctx, it.GoodsID, it.Num)
		if err != nil {
			return fmt.Errorf("restock goods %d: %w", it.GoodsID, err)
		}
		if !ok {
			// Goods are never deleted by the API, so this is damaged data, not a caller's mistake.
			// Returning the rest and dropping this item would lose stock silently: fail (an
			// internal error), so the reback is retried and the problem is visible.
			return fmt.Errorf("restock goods %d: the goods row recorded in the sell is gone", it.GoodsID)
		}
	}
	return nil
}

// SellDetail returns the record of orderSN, or an error wrapping ErrSellDetailNotFound.
func (s *Service) SellDetail(ctx context.Context, orderSN string) (SellDetail, error) {
	if err := ValidateOrderSN(orderSN); err != nil {
		return SellDetail{}, err
	}
	d, err := s.store.SellDetail(ctx, orderSN)
	if err != nil {
		return SellDetail{}, fmt.Errorf("sell detail %s: %w", orderSN, err)
	}
	return d, nil
}

func goodsByID(rows []Goods) map[int64]Goods {
	m := make(map[int64]Goods, len(rows))
	for _, g := range rows {
		m[g.ID] = g
	}
	return m
}
