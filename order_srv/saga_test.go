//go:build !race

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/internal/sqldb"
)

func TestSaga_happyPath_createPayAndReplay(t *testing.T) {
	testSagaHappyPath(t, newSystem(t))
}

// TestSaga_onSQLite_happyPath_createPayAndReplay runs both services on SQLite files
// (INVENTORY_SQLITE_PATH, ORDER_SQLITE_PATH): the demo's configuration, no MariaDB at all.
func TestSaga_onSQLite_happyPath_createPayAndReplay(t *testing.T) {
	testSagaHappyPath(t, newSystemOn(t, sqldb.SQLite))
}

func testSagaHappyPath(t *testing.T, s *system) {
	s.putGoods(1, 1999, 10)
	s.putGoods(2, 500, 10)
	url := s.startOrderInProcess(timeoutNever)

	st, o := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 2}, [2]int64{2, 3}), "Idempotency-Key", "order-1")
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, o)
	}
	sn := o["order_sn"].(string)
	if o["status"] != "WAIT_BUYER_PAY" || o["total_cents"] != float64(2*1999+3*500) || len(sn) != 32 {
		t.Errorf("created %v", o)
	}
	if s.stock(1) != 8 || s.stock(2) != 7 {
		t.Errorf("stock = %d, %d; want 8, 7", s.stock(1), s.stock(2))
	}
	// The retry with the same key answers the first order and sells nothing.
	st, again := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 2}, [2]int64{2, 3}), "Idempotency-Key", "order-1")
	if st != http.StatusCreated || again["order_sn"] != sn || s.stock(1) != 8 {
		t.Errorf("retry: %d %v, stock %d", st, again, s.stock(1))
	}
	if st, paid := call(t, "POST", url+"/v1/orders/"+sn+"/pay", nil); st != http.StatusOK || paid["status"] != "TRADE_SUCCESS" {
		t.Errorf("pay: %d %v", st, paid)
	}
	if list := ordersOf(t, url, 7); len(list) != 1 || list[0]["order_sn"] != sn || list[0]["status"] != "TRADE_SUCCESS" {
		t.Errorf("orders of user 7 = %v", list)
	}
	wantTimeline(t, url, sn, "half_sent", "stock_deducted", "local_committed", "timeout_scheduled", "half_decided", "paid",
		"payment_recorded")

	// From the cart: the checked items are ordered and leave the cart.
	for _, c := range []struct {
		goods   int64
		checked bool
	}{{1, true}, {2, false}} {
		if st, b := call(t, "PUT", fmt.Sprintf("%s/v1/users/8/cart/%d", url, c.goods), map[string]any{"num": 1, "checked": c.checked}); st != http.StatusOK {
			t.Fatalf("put cart: %d %v", st, b)
		}
	}
	req := orderRequest(8)
	delete(req, "items")
	req["from_cart"] = true
	st, fromCart := call(t, "POST", url+"/v1/orders", req)
	if st != http.StatusCreated || len(fromCart["items"].([]any)) != 1 || fromCart["total_cents"] != float64(1999) {
		t.Fatalf("order from cart: %d %v", st, fromCart)
	}
	if st, cart := call(t, "GET", url+"/v1/users/8/cart", nil); st != http.StatusOK || len(cart["items"].([]any)) != 1 {
		t.Errorf("cart after ordering: %d %v", st, cart)
	}
	wantMetrics(t, url, map[string]float64{
		"orders_created_total": 2, "orders_paid_total": 1, "orders_closed_by_timeout_total": 0,
		`http_requests_total{code="201",method="POST",route="/v1/orders"}`:               3, // with the replay
		`http_requests_total{code="200",method="POST",route="/v1/orders/:order_sn/pay"}`: 1,
		`check_backs_total{answer="deliver-reback"}`:                                     0,
		"saga_steps_dropped_total":                                                       0, // present, and nothing lost
	})
	wantMetrics(t, s.inv.url, map[string]float64{
		`stock_sells_total{result="sold"}`: 2, `stock_returns_total{result="applied"}`: 0,
		`http_requests_total{code="200",method="POST",route="/v1/stock/sell"}`: 2,
	})
}

func TestSaga_shortStock_is409_andLeavesNothingBehind(t *testing.T) {
	s := newSystem(t)
	s.putGoods(1, 100, 5)
	s.putGoods(2, 100, 1)
	url := s.startOrderInProcess(timeoutNever)

	st, body := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 2}, [2]int64{2, 2}))
	if st != http.StatusConflict || errCode(body) != "insufficient_stock" {
		t.Fatalf("create: %d %v, want 409 insufficient_stock", st, body)
	}
	if s.stock(1) != 5 || s.stock(2) != 1 || len(ordersOf(t, url, 7)) != 0 {
		t.Errorf("after a refused order: stock %d, %d, orders %v", s.stock(1), s.stock(2), ordersOf(t, url, 7))
	}
	st, body = call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{99, 1}))
	if st != http.StatusNotFound || errCode(body) != "goods_not_found" {
		t.Errorf("unknown goods: %d %v", st, body)
	}
	st, body = call(t, "POST", url+"/v1/orders", map[string]any{"user_id": 7})
	if st != http.StatusBadRequest || errCode(body) != "invalid_argument" {
		t.Errorf("bad input: %d %v", st, body)
	}
}

func TestSaga_failLocalTx_returnsTheStock(t *testing.T) {
	s := newSystem(t)
	s.putGoods(1, 100, 5)
	url := s.startOrderInProcess(timeoutNever)

	st, body := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 2}), "X-Fault", "fail-local-tx")
	if st != http.StatusServiceUnavailable {
		t.Fatalf("create: %d %v, want 503", st, body)
	}
	eventually(t, 30*time.Second, "the stock to come back through order_reback", func() bool { return s.stock(1) == 5 })
	if list := ordersOf(t, url, 7); len(list) != 0 {
		t.Errorf("orders after a failed local transaction: %v", list)
	}
	wantTimeline(t, url, s.onlySagaSN(), "half_sent", "stock_deducted", "local_failed", "half_decided", "stock_return_requested")
	wantMetrics(t, url, map[string]float64{
		`orders_rolled_back_total{reason="local_tx_failed"}`: 1, "orders_created_total": 0,
		`http_requests_total{code="503",method="POST",route="/v1/orders"}`: 1,
	})
	wantMetrics(t, s.inv.url, map[string]float64{`stock_returns_total{result="applied"}`: 1, `stock_sells_total{result="sold"}`: 1})
}

func TestSaga_crashAfterDeduct_theCheckBackReturnsTheStock(t *testing.T) {
	s := newSystem(t)
	s.putGoods(1, 100, 5)
	first := s.startOrderProcess(timeoutNever)

	st, body := call(t, "POST", first.url+"/v1/orders", orderRequest(7, [2]int64{1, 2}), "X-Fault", "crash-after-deduct")
	if st != 0 {
		t.Fatalf("the crashing request was answered: %d %v", st, body)
	}
	if code := first.exitCode(10 * time.Second); code != exitCrash {
		t.Fatalf("order_srv exited with %d, want %d", code, exitCrash)
	}
	if got := s.stock(1); got != 3 {
		t.Fatalf("stock after the crash = %d, want 3 (deducted)", got)
	}
	second := s.startOrderProcess(timeoutNever)
	eventually(t, 60*time.Second, "the check-back to return the stock", func() bool { return s.stock(1) == 5 })
	if list := ordersOf(t, second.url, 7); len(list) != 0 {
		t.Errorf("orders: %v, want none", list)
	}
	// The first two steps were recorded by the process that crashed, the rest by the second.
	wantTimeline(t, second.url, s.onlySagaSN(), "half_sent", "stock_deducted", "check_back_asked", "check_back_answered", "stock_return_requested")
	wantMetrics(t, second.url, map[string]float64{
		`check_backs_total{answer="deliver-reback"}`: 1, `orders_rolled_back_total{reason="check_back"}`: 1, "orders_created_total": 0,
	})
	wantMetrics(t, s.inv.url, map[string]float64{`stock_returns_total{result="applied"}`: 1})
}

func TestSaga_crashAfterCommit_theOrderStays_andStillTimesOut(t *testing.T) {
	s := newSystem(t)
	s.putGoods(1, 100, 5)
	first := s.startOrderProcess(timeoutSoon)

	if st, body := call(t, "POST", first.url+"/v1/orders", orderRequest(7, [2]int64{1, 2}), "X-Fault", "crash-after-commit"); st != 0 {
		t.Fatalf("the crashing request was answered: %d %v", st, body)
	}
	if code := first.exitCode(10 * time.Second); code != exitCrash {
		t.Fatalf("order_srv exited with %d, want %d", code, exitCrash)
	}
	second := s.startOrderProcess(timeoutSoon)
	list := ordersOf(t, second.url, 7)
	if len(list) != 1 || s.stock(1) != 3 {
		t.Fatalf("after the crash: orders %v, stock %d; want the committed order and the stock sold", list, s.stock(1))
	}
	sn := list[0]["order_sn"].(string)
	// Only the check-back can have sent its timeout message (the crash came before).
	eventually(t, 60*time.Second, "the unpaid order to time out", func() bool {
		return orderStatus(t, second.url, sn) == "TRADE_CLOSED"
	})
	eventually(t, 30*time.Second, "the stock of the closed order to come back", func() bool { return s.stock(1) == 5 })
}

func TestSaga_timeout_closesAnUnpaidOrder_andPayingItIsRefused(t *testing.T) {
	s := newSystem(t)
	s.putGoods(1, 100, 5)
	url := s.startOrderInProcess(timeoutSoon)

	st, o := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 3}))
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, o)
	}
	sn := o["order_sn"].(string)
	eventually(t, 60*time.Second, "the order to close", func() bool { return orderStatus(t, url, sn) == "TRADE_CLOSED" })
	eventually(t, 30*time.Second, "the stock to come back", func() bool { return s.stock(1) == 5 })
	if st, body := call(t, "POST", url+"/v1/orders/"+sn+"/pay", nil); st != http.StatusConflict || errCode(body) != "order_closed" {
		t.Errorf("pay a closed order: %d %v, want 409 order_closed", st, body)
	}
	// The payment after the timeout is recorded to be refunded; the order stays closed.
	wantTimeline(t, url, sn, "half_sent", "stock_deducted", "local_committed", "timeout_scheduled", "half_decided",
		"timeout_fired", "closed", "stock_return_requested", "payment_recorded")
	wantMetrics(t, url, map[string]float64{
		"orders_created_total": 1, "orders_closed_by_timeout_total": 1, "orders_paid_total": 0,
		`http_requests_total{code="409",method="POST",route="/v1/orders/:order_sn/pay"}`: 1,
		`payments_total{status="to_refund"}`:                                             1,
	})
	wantMetrics(t, s.inv.url, map[string]float64{`stock_returns_total{result="applied"}`: 1})
}

func TestSaga_duplicateTimeouts_changeNothing(t *testing.T) {
	s := newSystem(t)
	s.putGoods(1, 100, 10)
	url := s.startOrderInProcess(timeoutNever)

	var sns []string
	for range 2 {
		st, o := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 2}))
		if st != http.StatusCreated {
			t.Fatalf("create: %d %v", st, o)
		}
		sns = append(sns, o["order_sn"].(string))
	}
	unpaid, paid := sns[0], sns[1]
	if st, b := call(t, "POST", url+"/v1/orders/"+paid+"/pay", nil); st != http.StatusOK {
		t.Fatalf("pay: %d %v", st, b)
	}
	// Deliver each order's timeout three times, as a broker may.
	p := timeoutProducer(t, s)
	for range 3 {
		for _, sn := range sns {
			body, _ := json.Marshal(map[string]string{"order_sn": sn})
			if _, err := p.SendSync(context.Background(), primitive.NewMessage("order_timeout", body).WithKeys([]string{sn})); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, 60*time.Second, "the unpaid order to close", func() bool { return orderStatus(t, url, unpaid) == "TRADE_CLOSED" })
	eventually(t, 30*time.Second, "its stock to come back once", func() bool { return s.stock(1) == 8 })
	// Once more, and wait until that delivery has been handled too (it is the last message).
	marker := sns[0]
	body, _ := json.Marshal(map[string]string{"order_sn": marker})
	if _, err := p.SendSync(context.Background(), primitive.NewMessage("order_timeout", body).WithKeys([]string{marker})); err != nil {
		t.Fatal(err)
	}
	if got := s.stock(1); got != 8 {
		t.Errorf("stock = %d after duplicate timeouts, want 8 (10 - 2 paid)", got)
	}
	if got := orderStatus(t, url, paid); got != "TRADE_SUCCESS" {
		t.Errorf("paid order is %s after its timeouts", got)
	}
}

func timeoutProducer(t testing.TB, s *system) rocketmq.Producer {
	t.Helper()
	p, err := rocketmq.NewProducer(producer.WithNameServer([]string{s.broker.NamesrvAddr()}),
		producer.WithGroupName("test_timeouts"), producer.WithInstanceName(mqclient.InstanceName("test")))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

// TestSaga_payRacingTheTimeout_endsConsistent pays orders at random moments around their
// payment timeout: each ends paid (stock sold) or closed (stock returned, payment refused).
func TestSaga_payRacingTheTimeout_endsConsistent(t *testing.T) {
	s := newSystem(t)
	const n, initial = 20, 1000
	s.putGoods(1, 100, initial)
	url := s.startOrderInProcess(timeoutSoon)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))

	type result struct {
		sn      string
		created time.Time
		payAt   time.Duration
		status  int
		code    string
	}
	results := make([]result, n)
	for i := range results {
		st, o := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 1}))
		if st != http.StatusCreated {
			t.Fatalf("create: %d %v", st, o)
		}
		// The timeout is due 2 s after creation: pay between 1.5 s and 3 s.
		results[i] = result{sn: o["order_sn"].(string), created: time.Now(), payAt: 1500*time.Millisecond + time.Duration(rng.IntN(1500))*time.Millisecond}
	}
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			time.Sleep(time.Until(r.created.Add(r.payAt)))
			st, body := call(t, "POST", url+"/v1/orders/"+r.sn+"/pay", nil)
			r.status, r.code = st, errCode(body)
		}()
	}
	wg.Wait()
	paid := 0
	for _, r := range results {
		switch r.status {
		case http.StatusOK:
			paid++
		case http.StatusConflict:
			if r.code != "order_closed" {
				t.Errorf("%s: pay refused with %s", r.sn, r.code)
			}
		default:
			t.Fatalf("%s: pay answered %d %s", r.sn, r.status, r.code)
		}
	}
	for _, r := range results {
		want := "TRADE_SUCCESS"
		if r.status != http.StatusOK {
			want = "TRADE_CLOSED"
		}
		// A paid order stays paid; a refused payment means it was already closed.
		eventually(t, 60*time.Second, r.sn+" to be "+want, func() bool { return orderStatus(t, url, r.sn) == want })
	}
	eventually(t, 60*time.Second, "the stock of every closed order to come back", func() bool {
		return s.stock(1) == int64(initial-paid)
	})
	t.Logf("%d paid, %d closed", paid, n-paid)
}

func TestRun_healthcheck_andGracefulShutdown(t *testing.T) {
	s := newSystem(t)
	p := s.startOrderProcess(timeoutNever)
	_, port, _ := splitHostPort(t, p.url)
	if err := run(context.Background(), []string{"healthcheck", "-http-addr", ":" + port}, func(string) string { return "" }, &lockedBuffer{}); err != nil {
		t.Errorf("healthcheck of a running server: %v", err)
	}
	p.stop()
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status after SIGTERM = %d, want 0\n%s", code, p.logs.String())
	}
	if err := run(context.Background(), []string{"healthcheck", "-http-addr", ":" + port}, func(string) string { return "" }, &lockedBuffer{}); err == nil {
		t.Error("healthcheck of a stopped server succeeded")
	}
}

func TestSaga_inventoryDown_is503_andLeavesNoOrder(t *testing.T) {
	s := newSystem(t)
	s.putGoods(1, 100, 5)
	url := s.startOrderInProcess(timeoutNever)
	s.inv.stop()

	st, body := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 1}))
	if st != http.StatusServiceUnavailable || errCode(body) != "unavailable" {
		t.Errorf("create with inventory down: %d %v, want 503 unavailable", st, body)
	}
	st, body = call(t, "PUT", url+"/v1/users/7/cart/1", map[string]any{"num": 1})
	if st != http.StatusServiceUnavailable {
		t.Errorf("put cart with inventory down: %d %v, want 503", st, body)
	}
	if list := ordersOf(t, url, 7); len(list) != 0 {
		t.Errorf("orders: %v, want none", list)
	}
}
