package load

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Every order of a run has its own user id, userBase + its sequence number, so that an order
// whose outcome is unknown (no answer, or a 5xx) can be looked up by its user afterwards. The
// base is a random multiple of usersPerRun, and the order's post note names the run, so orders
// of another run are never mistaken for this run's.
const usersPerRun = 1_000_000_000

// newUserBase picks the first user id of a run (the seed does not choose it: two runs with one
// seed must not share users).
func newUserBase() int64 { return (1 + rand.Int64N(9_000_000_000)) * usersPerRun }

// runNote is the post note of every order of the run with userBase.
func runNote(userBase int64) string { return fmt.Sprintf("loadgen run %d", userBase/usersPerRun) }

// tally is what a run observed. The counters are safe for concurrent use; the lists are guarded
// by mu.
type tally struct {
	latency *histogram // of every answered order request

	sent       atomic.Int64 // order requests sent
	created    atomic.Int64 // 201
	outOfStock atomic.Int64 // 409 insufficient_stock
	failed     atomic.Int64 // any other HTTP answer
	errors     atomic.Int64 // no answer (transport errors, client timeouts)
	injected   atomic.Int64 // requests sent with the fail-local-tx fault
	paid       atomic.Int64 // payments accepted
	payErrors  atomic.Int64 // payments refused or unanswered

	mu         sync.Mutex       // guards the fields below
	held       []*heldOrder     // created orders, in answer order
	unknown    []unknownOutcome // requests that may have created an order nobody saw
	failedBy   map[string]int64 // failed answers by "status code"
	errSamples []string         // the first transport and payment errors, for the summary
}

// heldOrder is a created order: it holds its items' stock unless it was closed.
type heldOrder struct {
	sn     string
	userID int64
	items  []line
	paid   bool // a paid order is never closed
	closed bool // seen TRADE_CLOSED: its stock was returned
}

// unknownOutcome is an order request answered by a 5xx or not at all: order_srv may or may not
// have written the order.
type unknownOutcome struct {
	userID int64
	cause  string
}

// maxErrSamples bounds the error messages kept for the summary.
const maxErrSamples = 5

func newTally() *tally {
	return &tally{latency: newHistogram(), failedBy: map[string]int64{}}
}

func (t *tally) sampleError(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.errSamples) < maxErrSamples {
		t.errSamples = append(t.errSamples, msg)
	}
}

// loader runs the workers of one load phase.
type loader struct {
	cfg      Config
	api      *api
	t        *tally
	userBase int64
	note     string       // runNote(userBase)
	deadline time.Time    // zero: no time limit
	next     atomic.Int64 // sequence number of the last order claimed
}

// claim returns the sequence number of the next order to send, or false when the run is over.
func (l *loader) claim(ctx context.Context) (int64, bool) {
	if ctx.Err() != nil || (!l.deadline.IsZero() && !time.Now().Before(l.deadline)) {
		return 0, false
	}
	n := l.next.Add(1)
	if l.cfg.Orders > 0 && n > l.cfg.Orders {
		return 0, false
	}
	return n, true
}

// worker sends orders one at a time until the run is over. A request cut off by ctx is not
// counted: the run is interrupted and its invariant will not be checked.
func (l *loader) worker(ctx context.Context, id int) {
	rng := rand.New(rand.NewPCG(l.cfg.Seed, uint64(id)))
	for {
		seq, ok := l.claim(ctx)
		if !ok {
			return
		}
		req := orderRequest{
			UserID:       l.userBase + seq,
			Address:      "1 Load Street",
			SignerName:   "loadgen",
			SignerMobile: "13800000000",
			Post:         l.note,
			Items:        []line{{GoodsID: l.cfg.sku(rng.IntN(l.cfg.SKUs)), Num: l.cfg.Num}},
		}
		fault := l.cfg.FaultRatio > 0 && rng.Float64() < l.cfg.FaultRatio
		pay := l.cfg.PayRatio > 0 && rng.Float64() < l.cfg.PayRatio
		ans, took, err := l.api.createOrder(ctx, req, fault)
		if ctx.Err() != nil {
			return
		}
		l.t.sent.Add(1)
		if fault {
			l.t.injected.Add(1)
		}
		o := l.record(req, ans, took, err)
		if o != nil && pay {
			l.pay(ctx, o)
		}
	}
}

// record counts one answer and returns the order it created, if any.
func (l *loader) record(req orderRequest, ans answer, took time.Duration, err error) *heldOrder {
	t := l.t
	if err != nil {
		t.errors.Add(1)
		t.sampleError(err.Error())
		t.mu.Lock()
		t.unknown = append(t.unknown, unknownOutcome{userID: req.UserID, cause: "no answer"})
		t.mu.Unlock()
		return nil
	}
	t.latency.record(took)
	switch {
	case ans.status == http.StatusCreated:
		var o orderJSON
		if err := expect("create order", ans, nil, &o, http.StatusCreated); err != nil || o.OrderSN == "" {
			// An order exists but its answer is unreadable: count it as failed and let the
			// settle phase find it through its user.
			t.failed.Add(1)
			t.sampleError(fmt.Sprintf("create order: unreadable 201 answer %q", truncate(ans.body)))
			t.mu.Lock()
			t.failedBy["201 unreadable"]++
			t.unknown = append(t.unknown, unknownOutcome{userID: req.UserID, cause: "unreadable answer"})
			t.mu.Unlock()
			return nil
		}
		t.created.Add(1)
		h := &heldOrder{sn: o.OrderSN, userID: req.UserID, items: o.Items}
		t.mu.Lock()
		t.held = append(t.held, h)
		t.mu.Unlock()
		return h
	case ans.status == http.StatusConflict && ans.code == "insufficient_stock":
		t.outOfStock.Add(1)
	default:
		t.failed.Add(1)
		t.mu.Lock()
		t.failedBy[ans.String()]++
		if ans.status >= 500 {
			t.unknown = append(t.unknown, unknownOutcome{userID: req.UserID, cause: ans.String()})
		}
		t.mu.Unlock()
	}
	return nil
}

func (l *loader) pay(ctx context.Context, o *heldOrder) {
	err := l.api.pay(ctx, o.sn)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		l.t.payErrors.Add(1)
		l.t.sampleError(err.Error())
		return
	}
	l.t.paid.Add(1)
	l.t.mu.Lock()
	o.paid = true
	l.t.mu.Unlock()
}
