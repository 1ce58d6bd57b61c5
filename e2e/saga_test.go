package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Deadlines of the awaited end states. A check-back comes txTimeout (2 s) after the half message
// was stored, a payment timeout 5 s after the order; the rest is slack for a loaded machine.
const (
	rebackDeadline    = 30 * time.Second // a committed half message's stock is back
	checkBackDeadline = 45 * time.Second // a crashed order's half message is checked back and settled
	timeoutDeadline   = 45 * time.Second // an unpaid order with payTimeout5s is closed and its stock back
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	t.Cleanup(cancel)
	return ctx
}

// Path 2 of ARCHITECTURE.md: out of stock leaves nothing behind; a local transaction that fails
// after the deduction commits the half message and inventory returns the stock; no order exists.
func TestOrder_returnsStockAndLeavesNoOrder_whenLocalTxFails(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{payTimeoutLevel: payTimeoutNever})
	const mug, user = 101, 1001
	s.putGoods(t, mug, "mug", 1250, 10)

	_, err := s.createOrder(ctxFor(t), user, "", line{mug, 11})
	requireAPIError(t, err, http.StatusConflict, "insufficient_stock")
	s.requireStock(t, mug, 10)

	_, err = s.createOrder(ctxFor(t), user, faultFailLocalTx, line{mug, 3})
	requireAPIError(t, err, http.StatusServiceUnavailable, "unavailable")
	s.awaitStock(t, rebackDeadline, mug, 10)
	orders, err := s.ordersOf(ctxFor(t), user)
	if err != nil || len(orders) != 0 {
		t.Fatalf("orders of user %d after a failed local transaction: %v, %v; want none", user, orders, err)
	}

	// The system still sells: path 1.
	o := s.mustCreateOrder(t, user, map[int64]int64{mug: 1250}, line{mug, 2})
	s.requireStock(t, mug, 8)
	s.requireDetail(t, o.OrderSN, detailDeducted)
}

// Path 3: order_srv dies between the deduction and its local transaction. Its successor
// announces itself to the broker, which checks the half message back; the check finds no order
// and fences it, the half message is committed and inventory returns the stock.
func TestOrder_checkBackReturnsStock_whenOrderSrvCrashesAfterDeduct(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{payTimeoutLevel: payTimeoutNever})
	const lamp, user = 201, 2001
	s.putGoods(t, lamp, "lamp", 4000, 5)

	_, err := s.createOrder(ctxFor(t), user, faultCrashAfterDeduct, line{lamp, 2})
	requireConnectionLost(t, err)
	s.awaitOrderCrash(t)
	// Deducted, and nobody can decide the half message while no order_srv runs.
	s.requireStock(t, lamp, 3)

	s.restartOrder(t)
	s.awaitStock(t, checkBackDeadline, lamp, 5)
	orders, err := s.ordersOf(ctxFor(t), user)
	if err != nil || len(orders) != 0 {
		t.Fatalf("orders of user %d after a crash before the local transaction: %v, %v; want none", user, orders, err)
	}
	// The successor sells as usual.
	o := s.mustCreateOrder(t, user, map[int64]int64{lamp: 4000}, line{lamp, 1})
	s.requireStock(t, lamp, 4)
	s.requireDetail(t, o.OrderSN, detailDeducted)
}

// Path 4: order_srv dies after committing the order, before deciding the half message and before
// sending the payment timeout. The check-back finds the order: the half message is rolled back
// (the stock stays sold) and the check sends the timeout message, which later closes the unpaid
// order and returns its stock.
func TestOrder_staysUntilTimeout_whenOrderSrvCrashesAfterCommit(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{payTimeoutLevel: payTimeout5s})
	const kettle, user = 301, 3001
	s.putGoods(t, kettle, "kettle", 2999, 4)

	_, err := s.createOrder(ctxFor(t), user, faultCrashAfterCommit, line{kettle, 1})
	requireConnectionLost(t, err)
	s.awaitOrderCrash(t)
	s.requireStock(t, kettle, 3)

	s.restartOrder(t)
	orders, err := s.ordersOf(ctxFor(t), user)
	if err != nil || len(orders) != 1 {
		t.Fatalf("orders of user %d after a crash after the commit: %v, %v; want the one committed", user, orders, err)
	}
	o := orders[0]
	if o.Status != statusWaitBuyerPay || o.TotalCents != 2999 {
		t.Fatalf("committed order %+v; want %s, 2999 cents", o, statusWaitBuyerPay)
	}

	// Only the check-back sends this order's timeout message, so the order being closed proves
	// the check ran; until then (the check answers 2 s after the crash, the timeout comes 5 s
	// later) the stock must stay sold: a check that committed the half message would return it.
	sawUnpaid := 0
	eventually(t, checkBackDeadline+timeoutDeadline, "the order is closed by the timeout the check-back sent", func(ctx context.Context) error {
		cur, err := s.getOrder(ctx, o.OrderSN)
		if err != nil {
			return err
		}
		stock, err := s.stock(ctx, kettle)
		if err != nil {
			return err
		}
		if cur.Status == statusWaitBuyerPay {
			if stock != 3 {
				t.Fatalf("order %s is unpaid, but the stock of goods %d is %d, want 3 (still sold)", o.OrderSN, kettle, stock)
			}
			sawUnpaid++
			return errors.New("order still unpaid")
		}
		if cur.Status != statusTradeClosed {
			t.Fatalf("order %s became %s, want %s", o.OrderSN, cur.Status, statusTradeClosed)
		}
		if stock != 4 {
			return fmt.Errorf("order closed, stock still %d", stock)
		}
		return nil
	})
	t.Logf("observed the order unpaid with its stock sold %d times before it was closed", sawUnpaid)
	s.requireDetail(t, o.OrderSN, detailReturned)
	_, err = s.pay(ctxFor(t), o.OrderSN)
	requireAPIError(t, err, http.StatusConflict, "order_closed")
}

// Path 6: the payment timeout closes an unpaid order and returns its stock; a paid order's
// timeout changes nothing.
func TestTimeout_closesUnpaidOrder_andLeavesPaidOrder(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{payTimeoutLevel: payTimeout5s})
	const pen, payer, idler = 401, 4001, 4002
	prices := map[int64]int64{pen: 150}
	s.putGoods(t, pen, "pen", 150, 10)

	paid := s.mustCreateOrder(t, payer, prices, line{pen, 2})
	p, err := s.pay(ctxFor(t), paid.OrderSN)
	if err != nil || p.Status != statusTradeSuccess {
		t.Fatalf("pay %s: %+v, %v; want %s", paid.OrderSN, p, err, statusTradeSuccess)
	}
	unpaid := s.mustCreateOrder(t, idler, prices, line{pen, 3})
	s.requireStock(t, pen, 5)

	eventually(t, timeoutDeadline, "the unpaid order is closed and its stock returned", func(ctx context.Context) error {
		// The stock first: the timeout closes the order before it returns the stock, so an order
		// still unpaid after this read was unpaid, with its stock held, when the stock was read.
		// (Read the other way round, the close and the return can both fall between the reads.)
		stock, err := s.stock(ctx, pen)
		if err != nil {
			return err
		}
		cur, err := s.getOrder(ctx, unpaid.OrderSN)
		if err != nil {
			return err
		}
		switch {
		case cur.Status == statusWaitBuyerPay && stock != 5:
			t.Fatalf("order %s is unpaid, but the stock is %d, want 5", unpaid.OrderSN, stock)
		case cur.Status == statusWaitBuyerPay:
			return errors.New("order still unpaid")
		case cur.Status != statusTradeClosed:
			t.Fatalf("order %s became %s, want %s", unpaid.OrderSN, cur.Status, statusTradeClosed)
		case stock != 8:
			return fmt.Errorf("order closed, stock still %d", stock)
		}
		return nil
	})
	s.requireDetail(t, unpaid.OrderSN, detailReturned)
	_, err = s.pay(ctxFor(t), unpaid.OrderSN)
	requireAPIError(t, err, http.StatusConflict, "order_closed")

	// The paid order's timeout message was due first (same delay level, sent earlier), so it was
	// delivered before the one that closed the other order; once every delivered message has been
	// consumed, the paid order must be untouched.
	eventually(t, settleTimeout, "every timeout message is consumed", s.brokerSettled)
	cur, err := s.getOrder(ctxFor(t), paid.OrderSN)
	if err != nil || cur.Status != statusTradeSuccess {
		t.Fatalf("paid order after its timeout: %+v, %v; want %s", cur, err, statusTradeSuccess)
	}
	s.requireDetail(t, paid.OrderSN, detailDeducted)
	s.requireStock(t, pen, 8)
}

// Duplicate deliveries: a reback delivered again, or many times at once, returns the stock once;
// a reback of an order never sold fences its number against a late sell.
func TestReback_returnsStockOnce_whenDeliveredTwice(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{payTimeoutLevel: payTimeout5s})
	// Two goods, so that what happens to the direct sells does not depend on when the order's
	// timeout comes.
	const book, pencil, user = 501, 502, 5001
	s.putGoods(t, book, "book", 1999, 20)
	s.putGoods(t, pencil, "pencil", 99, 20)

	// An order whose stock the payment timeout will return, 5 s from now.
	o := s.mustCreateOrder(t, user, map[int64]int64{book: 1999}, line{book, 4})
	s.requireStock(t, book, 16)

	// Meanwhile a sell, then its reback delivered eight times at once: one returns the stock,
	// the others find it returned.
	const direct = "E2E-DUP-0001"
	if err := s.sell(ctxFor(t), direct, line{pencil, 3}); err != nil {
		t.Fatalf("sell %s: %v", direct, err)
	}
	s.requireStock(t, pencil, 17)
	outcomes := rebackConcurrently(t, s, direct, 8)
	if outcomes[outcomeReturned] != 1 || outcomes[outcomeAlreadyReturned] != 7 {
		t.Fatalf("outcomes of 8 concurrent rebacks of %s: %v; want 1 returned, 7 already_returned", direct, outcomes)
	}
	s.requireStock(t, pencil, 20)
	s.requireDetail(t, direct, detailReturned)
	err := s.sell(ctxFor(t), direct, line{pencil, 3})
	requireAPIError(t, err, http.StatusConflict, "order_already_returned")

	// A reback that overtakes its sell: the number is fenced, the late sell deducts nothing.
	const never = "E2E-NEVER-SOLD-0001"
	if out, err := s.reback(ctxFor(t), never); err != nil || out != outcomeNotSold {
		t.Fatalf("reback of %s, never sold: %q, %v; want %s", never, out, err, outcomeNotSold)
	}
	err = s.sell(ctxFor(t), never, line{pencil, 1})
	requireAPIError(t, err, http.StatusConflict, "order_already_returned")
	s.requireStock(t, pencil, 20)

	// The timeout closed the order and returned its stock; the same return delivered twice more
	// (as a redelivered timeout message would) changes nothing.
	eventually(t, timeoutDeadline, "the unpaid order is closed and its stock returned", func(ctx context.Context) error {
		cur, err := s.getOrder(ctx, o.OrderSN)
		if err == nil && cur.Status != statusTradeClosed {
			err = fmt.Errorf("order is %s", cur.Status)
		}
		if err != nil {
			return err
		}
		d, err := s.sellDetail(ctx, o.OrderSN)
		if err == nil && d.Status != detailReturned {
			err = fmt.Errorf("order closed, sell detail %s", d.Status)
		}
		return err
	})
	s.requireStock(t, book, 20)
	outcomes = rebackConcurrently(t, s, o.OrderSN, 2)
	if outcomes[outcomeAlreadyReturned] != 2 {
		t.Fatalf("outcomes of 2 more rebacks of the closed order %s: %v; want 2 already_returned", o.OrderSN, outcomes)
	}
	s.requireStock(t, book, 20)
}

// rebackConcurrently sends n rebacks of sn at once and counts their outcomes.
func rebackConcurrently(t *testing.T, s *stack, sn string, n int) map[string]int {
	t.Helper()
	var (
		mu       sync.Mutex
		outcomes = map[string]int{}
		errs     []error
		wg       sync.WaitGroup
	)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			out, err := s.reback(ctx, sn)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			outcomes[out]++
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("reback %s: %v", sn, err)
	}
	return outcomes
}

// Many buyers race for the last pieces of one goods: exactly as many orders succeed as there
// are pieces, the others are refused for lack of stock, and the stock ends at zero, never below.
func TestOrders_neverOversell_underConcurrentOrders(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{payTimeoutLevel: payTimeoutNever})
	const (
		phone   = 601
		stock   = 10
		buyers  = 30
		firstID = 6001
	)
	s.putGoods(t, phone, "phone", 49900, stock)

	type result struct {
		order orderView
		err   error
	}
	results := make([]result, buyers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			o, err := s.createOrder(ctx, int64(firstID+i), "", line{phone, 1})
			results[i] = result{o, err}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	t.Logf("%d concurrent orders answered in %v", buyers, time.Since(began).Round(time.Millisecond))

	created, refused := 0, 0
	for i, r := range results {
		var e *apiError
		switch {
		case r.err == nil && r.order.Status == statusWaitBuyerPay:
			created++
		case errors.As(r.err, &e) && e.Status == http.StatusConflict && e.Code == "insufficient_stock":
			refused++
		default:
			t.Errorf("order of buyer %d: %+v, %v; want created or insufficient_stock", firstID+i, r.order, r.err)
		}
	}
	if created != stock || refused != buyers-stock {
		t.Fatalf("%d orders created and %d refused; want %d and %d", created, refused, stock, buyers-stock)
	}
	s.requireStock(t, phone, 0)
}

// requireConnectionLost checks that a request to a crashing order_srv got no answer.
func requireConnectionLost(t *testing.T, err error) {
	t.Helper()
	var e *apiError
	switch {
	case err == nil:
		t.Fatal("order_srv answered a request it should have crashed on (is ORDER_FAULTS=1 honoured?)")
	case errors.As(err, &e):
		t.Fatalf("order_srv answered %v to a request it should have crashed on", e)
	}
}
