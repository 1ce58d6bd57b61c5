package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// ledger records what a test put into its stack, so that the end state can be checked: the
// goods it created with their initial stock, the users it ordered for, and the order numbers it
// sold directly through inventory_srv's API. It is safe for concurrent use.
type ledger struct {
	mu          sync.Mutex      // guards the maps
	initial     map[int64]int64 // goods id → initial stock
	users       map[int64]bool  // users that asked for an order (whatever the answer)
	directSells map[string]bool // order numbers sold through POST /v1/stock/sell by the test
}

func newLedger() ledger {
	return ledger{initial: map[int64]int64{}, users: map[int64]bool{}, directSells: map[string]bool{}}
}

func (l *ledger) addGoods(id, stock int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.initial[id] = stock
}

func (l *ledger) addUser(id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.users[id] = true
}

func (l *ledger) addDirectSell(sn string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.directSells[sn] = true
}

func (l *ledger) snapshot() (initial map[int64]int64, users []int64, directSells []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.initial), slices.Sorted(maps.Keys(l.users)), slices.Sorted(maps.Keys(l.directSells))
}

// Invariant timing: how long the system may take to settle after a test, and to agree with the
// invariant once settled (the test already failed: less, its failure is what matters).
const (
	settleTimeout       = time.Minute
	settleTimeoutFailed = 15 * time.Second
)

// checkInvariant checks, at the end of every test, that every saga the test started has settled
// and that no stock was created or lost:
//
// Quiescent: the broker holds no undecided half message, and every message stored in the
// topics order_reback and order_timeout (and their retry topics) has been consumed by its group
// (consumer offset = queue end). Delayed messages not yet due (a payment timeout of 30 min)
// do not count: they have not been delivered.
//
// Then, for every goods g the test created, with "live" orders those of the test's users in
// WAIT_BUYER_PAY or TRADE_SUCCESS (the stock they hold is sold):
//
//	initial(g) = stock(g) + Σ num of g over live orders + Σ num of g over the test's direct sells still deducted
//
// and stock(g) ≥ 0; and every order agrees with its sell detail in inventory_srv: a live order's
// detail is "deducted" with exactly the order's items, a TRADE_CLOSED order's is "returned".
// This is "sold + remaining = initial" of ARCHITECTURE.md, made precise.
func (s *stack) checkInvariant() {
	t := s.t
	timeout := settleTimeout
	if t.Failed() {
		timeout = settleTimeoutFailed
	}
	started := time.Now()
	if err := poll(timeout, s.brokerSettled); err != nil {
		t.Errorf("invariant: the system did not settle within %v: %v", timeout, err)
		return
	}
	settled := time.Now()
	if err := poll(timeout, s.stockBalances); err != nil {
		t.Errorf("invariant: sold + remaining = initial does not hold (for %v after settling): %v", timeout, err)
		return
	}
	t.Logf("e2e: invariant holds (settled in %v, checked in %v)", settled.Sub(started).Round(10*time.Millisecond),
		time.Since(settled).Round(10*time.Millisecond))
}

// consumedTopics maps each topic whose messages must all be consumed to the consumer group of
// the services' defaults (inventory_srv and order_srv configs).
var consumedTopics = map[string]string{
	"order_reback":             "inventory_reback",
	"%RETRY%inventory_reback":  "inventory_reback",
	"order_timeout":            "order_srv_timeout",
	"%RETRY%order_srv_timeout": "order_srv_timeout",
}

// brokerSettled reports, through the broker's admin API, why the system is not quiescent yet.
func (s *stack) brokerSettled(ctx context.Context) error {
	var halves []struct {
		Topic    string    `json:"topic"`
		MsgID    string    `json:"msgId"`
		StoredAt time.Time `json:"storedAt"`
		Checks   int       `json:"checks"`
	}
	if err := s.call(ctx, http.MethodGet, s.broker()+"/api/transactions", nil, nil, &halves); err != nil {
		return err
	}
	if len(halves) > 0 {
		return fmt.Errorf("%d undecided half message(s), e.g. %+v", len(halves), halves[0])
	}
	var queues []struct {
		Topic     string
		QueueID   int32
		MaxOffset int64
	}
	if err := s.call(ctx, http.MethodGet, s.broker()+"/api/topics", nil, nil, &queues); err != nil {
		return err
	}
	var groups struct {
		Offsets []struct {
			Group   string `json:"group"`
			Topic   string `json:"topic"`
			QueueID int32  `json:"queueId"`
			Offset  int64  `json:"offset"`
		} `json:"offsets"`
	}
	if err := s.call(ctx, http.MethodGet, s.broker()+"/api/groups", nil, nil, &groups); err != nil {
		return err
	}
	type queueKey struct {
		group, topic string
		queue        int32
	}
	consumed := map[queueKey]int64{}
	for _, o := range groups.Offsets {
		consumed[queueKey{o.Group, o.Topic, o.QueueID}] = o.Offset
	}
	var behind []string
	for _, q := range queues {
		group, ok := consumedTopics[q.Topic]
		if !ok || q.MaxOffset == 0 {
			continue
		}
		if got := consumed[queueKey{group, q.Topic, q.QueueID}]; got < q.MaxOffset {
			behind = append(behind, fmt.Sprintf("%s queue %d: %s consumed %d of %d", q.Topic, q.QueueID, group, got, q.MaxOffset))
		}
	}
	if len(behind) > 0 {
		return fmt.Errorf("messages not consumed yet: %s", strings.Join(behind, "; "))
	}
	return nil
}

// stockBalances checks the stock equation and the order/sell-detail agreement once.
func (s *stack) stockBalances(ctx context.Context) error {
	initial, users, directSells := s.ledger.snapshot()
	held := map[int64]int64{}
	var problems []error
	for _, u := range users {
		orders, err := s.ordersOf(ctx, u)
		if err != nil {
			return fmt.Errorf("orders of user %d: %w", u, err)
		}
		for _, o := range orders {
			d, err := s.sellDetail(ctx, o.OrderSN)
			if err != nil {
				return fmt.Errorf("sell detail of order %s (%s): %w", o.OrderSN, o.Status, err)
			}
			switch o.Status {
			case statusWaitBuyerPay, statusTradeSuccess:
				if d.Status != detailDeducted || !sameLines(o.Items, d.Items) {
					problems = append(problems, fmt.Errorf("order %s is %s with items %v, but its sell detail is %s with %v",
						o.OrderSN, o.Status, o.Items, d.Status, d.Items))
				}
				for _, it := range o.Items {
					held[it.GoodsID] += it.Num
				}
			case statusTradeClosed:
				if d.Status != detailReturned {
					problems = append(problems, fmt.Errorf("order %s is %s, but its sell detail is %s", o.OrderSN, o.Status, d.Status))
				}
			default:
				problems = append(problems, fmt.Errorf("order %s has an unknown status %q", o.OrderSN, o.Status))
			}
		}
	}
	for _, sn := range directSells {
		d, err := s.sellDetail(ctx, sn)
		var e *apiError
		switch {
		case errors.As(err, &e) && e.Status == http.StatusNotFound:
			continue // refused: nothing deducted
		case err != nil:
			return fmt.Errorf("sell detail of %s: %w", sn, err)
		}
		if d.Status == detailDeducted {
			for _, it := range d.Items {
				held[it.GoodsID] += it.Num
			}
		}
	}
	ids := slices.Sorted(maps.Keys(initial))
	for _, id := range ids {
		stock, err := s.stock(ctx, id)
		if err != nil {
			return fmt.Errorf("stock of goods %d: %w", id, err)
		}
		if stock < 0 || stock+held[id] != initial[id] {
			problems = append(problems, fmt.Errorf("goods %d: remaining %d + sold %d = %d, initial %d",
				id, stock, held[id], stock+held[id], initial[id]))
		}
	}
	return errors.Join(problems...)
}

// sameLines reports whether an order's items and a sell detail's items are the same goods and
// quantities, in any order.
func sameLines(items []orderItem, lines []line) bool {
	a := make([]line, len(items))
	for i, it := range items {
		a[i] = line{GoodsID: it.GoodsID, Num: it.Num}
	}
	b := slices.Clone(lines)
	for _, x := range [][]line{a, b} {
		sort.Slice(x, func(i, j int) bool { return x[i].GoodsID < x[j].GoodsID })
	}
	return slices.Equal(a, b)
}
