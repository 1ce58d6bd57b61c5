package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

// gatedStore is the real store with a gate in front of InTx: while armed, the next transaction
// waits for release, so the sells that arrive meanwhile queue up into one batch. It counts the
// transactions started.
type gatedStore struct {
	inventory.Store
	txs       atomic.Int64
	panicNext atomic.Bool // the next transaction panics instead of running
	// beforeLock, when set, runs (once) at the next LockStock, before the lock is taken.
	beforeLock atomic.Pointer[func()]
	// afterGoods, when set, runs (once) after the next StockTx.Goods has read.
	afterGoods atomic.Pointer[func()]

	mu      sync.Mutex    // guards gate
	gate    chan struct{} // non-nil while armed; closed by release
	entered chan struct{} // receives once the gated transaction waits
}

func (g *gatedStore) InTx(ctx context.Context, fn func(tx inventory.StockTx) error) error {
	g.txs.Add(1)
	if g.panicNext.CompareAndSwap(true, false) {
		panic("injected panic")
	}
	g.mu.Lock()
	gate := g.gate
	g.gate = nil
	g.mu.Unlock()
	if gate != nil {
		g.entered <- struct{}{}
		<-gate
	}
	return g.Store.InTx(ctx, func(tx inventory.StockTx) error { return fn(hookedTx{StockTx: tx, g: g}) })
}

// afterGoodsRead makes the next StockTx.Goods call fn once it has read (once).
func (g *gatedStore) afterGoodsRead(fn func()) { g.afterGoods.Store(&fn) }

func (t hookedTx) Goods(ctx context.Context, ids []int64) ([]inventory.Goods, error) {
	rows, err := t.StockTx.Goods(ctx, ids)
	if fn := t.g.afterGoods.Swap(nil); fn != nil {
		(*fn)()
	}
	return rows, err
}

// onLockStock makes the next LockStock call fn first (once).
func (g *gatedStore) onLockStock(fn func()) { g.beforeLock.Store(&fn) }

// hookedTx is the real transaction with gatedStore's hooks.
type hookedTx struct {
	inventory.StockTx
	g *gatedStore
}

func (t hookedTx) LockStock(ctx context.Context, goodsID int64) (inventory.Goods, bool, error) {
	if fn := t.g.beforeLock.Swap(nil); fn != nil {
		(*fn)()
	}
	return t.StockTx.LockStock(ctx, goodsID)
}

// answer is what one Sell returned.
type answer struct {
	res inventory.SellResult
	err error
}

// batchScene holds one sell of a goods in flight behind the gate and queues more sells of it, in
// a known order, so that run sells them as one batch.
type batchScene struct {
	t       *testing.T
	f       *fixture
	store   *gatedStore
	goodsID int64

	release     chan struct{}
	releaseOnce sync.Once
	holder      chan answer
	wg          sync.WaitGroup
	queued      int           // sells of goods 1 queued
	others      map[int64]int // sells of other goods queued
}

// newBatchScene puts goods 1 (price 300) with stock on db.
func newBatchScene(t *testing.T, db sqltest.DB, stock int64, opts ...inventory.Option) *batchScene {
	t.Helper()
	g := &gatedStore{entered: make(chan struct{}, 1)}
	f := newWrappedFixture(t, db, func(st inventory.Store) inventory.Store { g.Store = st; return g }, opts...)
	f.put(t, 1, 300, stock)
	s := &batchScene{t: t, f: f, store: g, goodsID: 1, release: make(chan struct{}), holder: make(chan answer, 1), others: map[int64]int{}}
	t.Cleanup(s.open) // never leave the holder blocked
	return s
}

// hold starts the sell "holder" (1 unit of goods 1) and keeps its transaction from starting.
func (s *batchScene) hold() {
	s.store.mu.Lock()
	s.store.gate = s.release
	s.store.mu.Unlock()
	go func() {
		res, err := s.f.svc.Sell(context.Background(), sellReq("holder", inventory.Item{GoodsID: 1, Num: 1}))
		s.holder <- answer{res, err}
	}()
	<-s.store.entered
}

func (s *batchScene) open() { s.releaseOnce.Do(func() { close(s.release) }) }

// sellRecovering is sell for a call that may panic: a panic is answered as an error.
func (s *batchScene) sellRecovering(ctx context.Context, sn string, num int64) <-chan answer {
	s.t.Helper()
	out := make(chan answer, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				out <- answer{err: fmt.Errorf("panic: %v", r)}
			}
		}()
		res, err := s.f.svc.Sell(ctx, sellReq(sn, inventory.Item{GoodsID: s.goodsID, Num: num}))
		out <- answer{res, err}
	}()
	s.queued++
	s.awaitQueued(s.queued)
	return out
}

// sell starts a sell of goods 1 and returns, once it waits in the queue, where its answer will
// arrive.
func (s *batchScene) sell(ctx context.Context, sn string, num int64) <-chan answer {
	s.t.Helper()
	return s.sellGoods(ctx, sn, s.goodsID, num)
}

// sellGoods is sell of another goods.
func (s *batchScene) sellGoods(ctx context.Context, sn string, goodsID, num int64) <-chan answer {
	s.t.Helper()
	out := make(chan answer, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		res, err := s.f.svc.Sell(ctx, sellReq(sn, inventory.Item{GoodsID: goodsID, Num: num}))
		out <- answer{res, err}
	}()
	if goodsID == s.goodsID {
		s.queued++
		s.awaitQueuedOf(goodsID, s.queued)
	} else {
		s.others[goodsID]++
		s.awaitQueuedOf(goodsID, s.others[goodsID])
	}
	return out
}

// awaitQueued waits until n sells of goods 1 wait for the batch in flight.
func (s *batchScene) awaitQueued(n int) {
	s.t.Helper()
	s.awaitQueuedOf(s.goodsID, n)
}

// awaitQueuedOf waits until n sells of goodsID wait for the batch in flight.
func (s *batchScene) awaitQueuedOf(goodsID int64, n int) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.f.svc.QueuedSells(goodsID) != n {
		if time.Now().After(deadline) {
			s.t.Fatalf("%d sells of goods %d queued, want %d", s.f.svc.QueuedSells(goodsID), goodsID, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// run releases the holder and waits for every queued sell; it returns how many transactions
// the batch and what followed it took.
func (s *batchScene) run() int64 {
	s.t.Helper()
	before := s.store.txs.Load()
	s.open()
	if a := <-s.holder; a.err != nil {
		s.t.Fatalf("holder: %v", a.err)
	}
	s.wg.Wait()
	return s.store.txs.Load() - before
}

// recordOldAndFenced sells order "old" (one unit of goodsID) and fences order "fenced".
func (s *batchScene) recordOldAndFenced(goodsID int64) {
	s.t.Helper()
	ctx := context.Background()
	if _, err := s.f.svc.Sell(ctx, sellReq("old", inventory.Item{GoodsID: goodsID, Num: 1})); err != nil {
		s.t.Fatal(err)
	}
	if out, err := s.f.svc.Reback(ctx, "fenced"); err != nil || out != inventory.NotSold {
		s.t.Fatalf("fence: %v, %v", out, err)
	}
}

// wantOldAndFenced checks the answers to the orders of recordOldAndFenced sold again: "old"
// replayed, "fenced" refused.
func wantOldAndFenced(t *testing.T, old, fenced answer) {
	t.Helper()
	if old.err != nil || !old.res.Replayed || old.res.Items[0].Num != 1 {
		t.Errorf("old (sold before): %+v, %v; want replayed", old.res, old.err)
	}
	if !errors.Is(fenced.err, inventory.ErrOrderAlreadyReturned) {
		t.Errorf("fenced: %v, want ErrOrderAlreadyReturned", fenced.err)
	}
}

func wantSold(t *testing.T, name string, a answer, num int64) {
	t.Helper()
	want := []inventory.SoldItem{{GoodsID: 1, Name: "goods 1", Num: num, PriceCents: 300}}
	if a.err != nil || a.res.Replayed || !slices.Equal(a.res.Items, want) {
		t.Errorf("%s: %+v, %v; want sold %+v", name, a.res, a.err, want)
	}
}

func TestSell_coalescedBatch_sellsToTheOrdersThatFit_whenItsSumIsShort(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newBatchScene(t, db, 6) // the holder takes 1: 5 left for the batch
		s.hold()
		ctx := context.Background()
		a, b, c, d := s.sell(ctx, "a", 2), s.sell(ctx, "b", 2), s.sell(ctx, "c", 2), s.sell(ctx, "d", 1)
		if txs := s.run(); txs != 1 {
			t.Errorf("%d transactions after the holder, want 1 (one batch)", txs)
		}
		wantSold(t, "a", <-a, 2)
		wantSold(t, "b", <-b, 2)
		wantSold(t, "d", <-d, 1) // arrived after c, still fits
		var short *inventory.InsufficientStockError
		if err := (<-c).err; !errors.As(err, &short) ||
			!slices.Equal(short.Items, []inventory.Shortage{{GoodsID: 1, Requested: 2, Available: 0}}) {
			t.Errorf("c: %v, want insufficient stock (requested 2, available 0)", err)
		}
		if got := s.f.stock(t, 1); got != 0 {
			t.Errorf("stock %d, want 0", got)
		}
		if got := s.f.orderSNs(t); !slices.Equal(got, []string{"a", "b", "d", "holder"}) {
			t.Errorf("recorded orders %v, want a b d holder (no record for the short order)", got)
		}
	})
}

func TestSell_coalescedBatch_answersRepeatedAndFencedOrdersFromTheirRecords(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newBatchScene(t, db, 10)
		ctx := context.Background()
		s.recordOldAndFenced(1)
		s.hold()
		x1, old, x2, fenced, other, y := s.sell(ctx, "x", 2), s.sell(ctx, "old", 1), s.sell(ctx, "x", 2),
			s.sell(ctx, "fenced", 1), s.sell(ctx, "old", 3), s.sell(ctx, "y", 1)
		s.run()
		wantSold(t, "x (first)", <-x1, 2)
		wantSold(t, "y", <-y, 1)
		if a := <-x2; a.err != nil || !a.res.Replayed {
			t.Errorf("x (repeat in the batch): %+v, %v; want replayed", a.res, a.err)
		}
		wantOldAndFenced(t, <-old, <-fenced)
		if a := <-other; !errors.Is(a.err, inventory.ErrOrderConflict) {
			t.Errorf("old with other items: %v, want ErrOrderConflict", a.err)
		}
		if got := s.f.stock(t, 1); got != 10-1-1-2-1 { // old, holder, x, y
			t.Errorf("stock %d, want %d", got, 10-1-1-2-1)
		}
	})
}

func TestSell_coalesced_callerThatGivesUpWhileQueued_isNotSold(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newBatchScene(t, db, 10)
		s.hold()
		ctx, cancel := context.WithCancel(context.Background())
		gone := s.sell(ctx, "gone", 1)
		stays := s.sell(context.Background(), "stays", 1)
		cancel()
		if a := <-gone; !errors.Is(a.err, context.Canceled) {
			t.Errorf("cancelled caller: %+v, %v; want context.Canceled", a.res, a.err)
		}
		s.awaitQueued(1) // it left the queue
		s.run()
		wantSold(t, "stays", <-stays, 1)
		if got := s.f.orderSNs(t); !slices.Equal(got, []string{"holder", "stays"}) {
			t.Errorf("recorded orders %v, want holder stays", got)
		}
		if got := s.f.stock(t, 1); got != 8 {
			t.Errorf("stock %d, want 8", got)
		}
	})
}

func TestSell_coalescedBatch_databaseErrorOfOneOrder_failsOnlyThatOrder(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newBatchScene(t, db, 10)
		s.poisonOrder(db, "poison")
		s.hold()
		ctx := context.Background()
		a, poison, b := s.sell(ctx, "a", 1), s.sell(ctx, "poison", 1), s.sell(ctx, "b", 1)
		s.run()
		wantSold(t, "a", <-a, 1)
		wantSold(t, "b", <-b, 1)
		if err := (<-poison).err; err == nil || errors.Is(err, inventory.ErrInsufficientStock) {
			t.Errorf("poison: %v, want the database's error", err)
		}
		if got := s.f.orderSNs(t); !slices.Equal(got, []string{"a", "b", "holder"}) {
			t.Errorf("recorded orders %v, want a b holder", got)
		}
		if got := s.f.stock(t, 1); got != 7 {
			t.Errorf("stock %d, want 7", got)
		}
	})
}

func TestSell_coalesced_sellsExactlyTheStock_to64BuyersOfUnevenAmounts(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		f := newFixture(t, db)
		f.put(t, 1, 100, 500)
		var sold, short atomic.Int64
		run(t, 64, func(i int) error {
			for k := range 10 {
				num := int64(1 + (i+k)%3)
				_, err := f.svc.Sell(context.Background(), sellReq(fmt.Sprintf("o-%d-%d", i, k), inventory.Item{GoodsID: 1, Num: num}))
				switch {
				case err == nil:
					sold.Add(num)
				case errors.Is(err, inventory.ErrInsufficientStock):
					short.Add(1)
				default:
					return err
				}
			}
			return nil
		})
		if left := f.stock(t, 1); sold.Load()+left != 500 {
			t.Errorf("sold %d, %d left of 500 (short answers %d)", sold.Load(), left, short.Load())
		}
	})
}

func TestSell_coalescedBatchThatPanics_answersEveryCaller_andFreesTheGoods(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newBatchScene(t, db, 10)
		s.hold()
		ctx := context.Background()
		s.store.panicNext.Store(true) // the batch's transaction (the holder's is past the check)
		a, b := s.sellRecovering(ctx, "a", 1), s.sellRecovering(ctx, "b", 1)
		s.run()
		if err := (<-a).err; err == nil || !strings.Contains(err.Error(), "panic") {
			t.Errorf("a (the leader): %v, want its panic", err)
		}
		if err := (<-b).err; err == nil || !strings.Contains(err.Error(), "internal error") {
			t.Errorf("b: %v, want an internal error", err)
		}
		// The goods is not left in flight: the next sell runs.
		res, err := s.f.svc.Sell(ctx, sellReq("c", inventory.Item{GoodsID: 1, Num: 1}))
		if err != nil || res.Replayed {
			t.Fatalf("sell after the panic: %+v, %v", res, err)
		}
		if got := s.f.orderSNs(t); !slices.Equal(got, []string{"c", "holder"}) {
			t.Errorf("recorded orders %v, want c holder", got)
		}
	})
}

// Review of the group commit (finding 2): the orders of a failed batch are sold again one by one,
// each by its own caller in its own context — a caller that gave up while the batch ran is not
// sold afterwards (before, the leader sold it in the batch's context and answered success into
// the void, leaving stock for the saga to return). Its own goroutine also means the batch's slot
// is free while they sell (finding 1: a leader selling 128 orders one after another held up every
// one-item sell of any goods).
func TestReview_failedBatch_sellsEachOrderInItsCallersOwnContext(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		s := newBatchScene(t, db, 10)
		s.poisonOrder(db, "poison")
		s.hold()
		bctx, cancelB := context.WithCancel(context.Background())
		defer cancelB()
		a, poison, b := s.sell(context.Background(), "a", 1), s.sell(context.Background(), "poison", 1), s.sell(bctx, "b", 1)
		// Gate the batch's own transaction too: b gives up while the batch runs.
		batchGate := make(chan struct{})
		s.store.mu.Lock()
		s.store.gate = batchGate
		s.store.mu.Unlock()
		s.open()
		<-s.store.entered // the batch's transaction waits
		cancelB()
		close(batchGate)
		s.run()
		wantSold(t, "a", <-a, 1)
		if err := (<-b).err; !errors.Is(err, context.Canceled) {
			t.Errorf("b: %v, want its own context's error", err)
		}
		if err := (<-poison).err; err == nil {
			t.Error("poison: sold, want the database's error")
		}
		if got := s.f.orderSNs(t); !slices.Equal(got, []string{"a", "holder"}) {
			t.Errorf("recorded orders %v, want a holder", got)
		}
		if got := s.f.stock(t, 1); got != 8 {
			t.Errorf("stock %d, want 8", got)
		}
	})
}

// poisonOrder makes the database refuse the sell record of order sn with an error of its own,
// whichever transaction inserts it.
func (s *batchScene) poisonOrder(db sqltest.DB, sn string) {
	s.t.Helper()
	trigger := fmt.Sprintf(`CREATE TRIGGER poison BEFORE INSERT ON stock_sell_details FOR EACH ROW
		IF NEW.order_sn = '%s' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poisoned order'; END IF`, sn)
	if db.Dialect() == sqldb.SQLite {
		trigger = fmt.Sprintf(`CREATE TRIGGER poison BEFORE INSERT ON stock_sell_details
			WHEN NEW.order_sn = '%s' BEGIN SELECT RAISE(ABORT, 'poisoned order'); END`, sn)
	}
	if _, err := s.f.db.Exec(trigger); err != nil {
		s.t.Fatal(err)
	}
}
