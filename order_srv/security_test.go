//go:build !race

package main

import (
	"context"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/internal/paynotify"
)

// userToken is a plain user's token (sub = uid, no scope).
func userToken(t testing.TB, uid int64) string {
	t.Helper()
	tok, err := auth.MintUser(testAuthSecret, uid, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// notify posts a payment notify form and returns the status and body.
func notify(t testing.TB, orderURL string, v neturl.Values) (int, string) {
	t.Helper()
	resp, err := httpClient.PostForm(orderURL+"/v1/payments/notify", v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func signedNotify(sn, tradeNo string, cents int64) neturl.Values {
	return paynotify.Signed(testNotifySecret, paynotify.Notice{OutTradeNo: sn, TradeNo: tradeNo, AmountCents: cents,
		TradeStatus: paynotify.TradeStatus, NotifyTime: time.Now()})
}

func payments(t testing.TB, orderURL, sn string) []map[string]any {
	t.Helper()
	st, o := call(t, "GET", orderURL+"/v1/orders/"+sn, nil)
	if st != http.StatusOK {
		t.Fatalf("get order %s: %d %v", sn, st, o)
	}
	var out []map[string]any
	ps, _ := o["payments"].([]any)
	for _, p := range ps {
		out = append(out, p.(map[string]any))
	}
	return out
}

// TestSecurity_paymentNotify_signedIdempotentPerTradeNo_duplicatesToRefund runs the notify
// against the real system: forged, off-by-one-cent and unknown-order notifies change nothing; a
// replay is "success" once more; a second trade for a paid order is a duplicate to refund.
func TestSecurity_paymentNotify_signedIdempotentPerTradeNo_duplicatesToRefund(t *testing.T) {
	s := newSystem(t)
	s.putGoods(1, 954, 10)
	url := s.startOrderInProcess(timeoutNever)
	st, o := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 10}), "Authorization", userToken(t, 7))
	if st != http.StatusCreated || o["total_cents"] != float64(9540) {
		t.Fatalf("create: %d %v", st, o)
	}
	sn := o["order_sn"].(string)

	forged := paynotify.Signed("a-forger-secret-0123456789abcdef012345", paynotify.Notice{OutTradeNo: sn, TradeNo: "T1",
		AmountCents: 9540, TradeStatus: paynotify.TradeStatus, NotifyTime: time.Now()})
	for name, v := range map[string]neturl.Values{
		"forged":          forged,
		"one cent short":  signedNotify(sn, "T1", 9539),
		"one cent over":   signedNotify(sn, "T1", 9541),
		"unknown order":   signedNotify("20260501120000123456789012345678", "T1", 9540),
		"not an order sn": signedNotify("1' OR '1'='1", "T1", 9540),
	} {
		if st, body := notify(t, url, v); st < 400 || st >= 500 || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s, want a 4xx JSON error", name, st, body)
		}
	}
	if got := orderStatus(t, url, sn); got != "WAIT_BUYER_PAY" || len(payments(t, url, sn)) != 0 {
		t.Fatalf("after refused notifies: %s, payments %v", got, payments(t, url, sn))
	}
	good := signedNotify(sn, "T1", 9540)
	for i := range 3 { // the provider retries; each answer is success, one payment
		if st, body := notify(t, url, good); st != http.StatusOK || body != "success" {
			t.Fatalf("notify %d: %d %s", i, st, body)
		}
	}
	if st, body := notify(t, url, signedNotify(sn, "T2", 9540)); st != http.StatusOK || body != "success" {
		t.Fatalf("second trade: %d %s", st, body)
	}
	ps := payments(t, url, sn)
	if orderStatus(t, url, sn) != "TRADE_SUCCESS" || len(ps) != 2 || ps[0]["status"] != "applied" || ps[1]["status"] != "duplicate_to_refund" {
		t.Fatalf("payments %v", ps)
	}
	wantMetrics(t, url, map[string]float64{"orders_paid_total": 1, `payments_total{status="applied"}`: 1,
		`payments_total{status="duplicate_to_refund"}`: 1})
	if s.stock(1) != 0 {
		t.Errorf("stock %d, want 0", s.stock(1))
	}
}

// TestSecurity_notifyAfterTheTimeoutClosed_isToRefund_andNeverReopens.
func TestSecurity_notifyAfterTheTimeoutClosed_isToRefund_andNeverReopens(t *testing.T) {
	s := newSystem(t)
	s.putGoods(1, 100, 5)
	url := s.startOrderInProcess(timeoutSoon)
	st, o := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 3}), "Authorization", userToken(t, 7))
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, o)
	}
	sn := o["order_sn"].(string)
	eventually(t, 60*time.Second, "the order to close", func() bool { return orderStatus(t, url, sn) == "TRADE_CLOSED" })
	eventually(t, 30*time.Second, "the stock to come back", func() bool { return s.stock(1) == 5 })
	if st, body := notify(t, url, signedNotify(sn, "LATE1", 300)); st != http.StatusOK || body != "success" {
		t.Fatalf("late notify: %d %s", st, body)
	}
	ps := payments(t, url, sn)
	if len(ps) != 1 || ps[0]["status"] != "to_refund" || orderStatus(t, url, sn) != "TRADE_CLOSED" || s.stock(1) != 5 {
		t.Fatalf("after a late notify: payments %v, status %s, stock %d", ps, orderStatus(t, url, sn), s.stock(1))
	}
	wantMetrics(t, url, map[string]float64{`payments_total{status="to_refund"}`: 1, "orders_paid_total": 0})
	steps := timelineSteps(t, url, sn)
	if steps[len(steps)-1] != "payment_recorded" {
		t.Errorf("timeline %v lacks the recorded payment", steps)
	}
}

// TestSecurity_tokensAndOwnership_onTheRealSystem: without a token nothing but goods reads and
// the notify; a user cannot touch another user's orders or inventory's internal calls; nothing
// changes on a refusal.
func TestSecurity_tokensAndOwnership_onTheRealSystem(t *testing.T) {
	s := newSystem(t)
	s.putGoods(1, 100, 10)
	url := s.startOrderInProcess(timeoutNever)
	ann, bob := userToken(t, 7), userToken(t, 8)
	st, o := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 2}), "Authorization", ann)
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, o)
	}
	sn := o["order_sn"].(string)
	for _, tc := range []struct {
		method, path string
		body         any
		authz        string
		status       int
	}{
		{"POST", url + "/v1/orders", orderRequest(7, [2]int64{1, 1}), "none", 401},
		{"POST", url + "/v1/orders", orderRequest(7, [2]int64{1, 1}), bob, 403},
		{"GET", url + "/v1/orders/" + sn, nil, bob, 404},
		{"GET", url + "/v1/orders/" + sn + "/timeline", nil, bob, 404},
		{"POST", url + "/v1/orders/" + sn + "/pay", nil, bob, 404},
		{"GET", url + "/v1/orders?user_id=7", nil, bob, 403},
		{"GET", url + "/v1/users/7/cart", nil, bob, 403},
		{"GET", url + "/v1/orders/" + sn, nil, "Bearer " + strings.Repeat("x", 9000), 401},
		{"PUT", s.inv.url + "/v1/goods/1", map[string]any{"name": "x", "price_cents": 1, "stock": 1000}, ann, 403},
		{"PUT", s.inv.url + "/v1/goods/1", map[string]any{"name": "x", "price_cents": 1, "stock": 1000}, "none", 401},
		{"POST", s.inv.url + "/v1/stock/reback", map[string]any{"order_sn": sn}, ann, 403},
		{"POST", s.inv.url + "/v1/stock/sell", map[string]any{"order_sn": "20260501120000123456789012345678",
			"items": []map[string]any{{"goods_id": 1, "num": 5}}}, ann, 403},
		{"GET", s.inv.url + "/v1/stock/sell-details/" + sn, nil, ann, 403},
	} {
		st, body := call(t, tc.method, tc.path, tc.body, "Authorization", tc.authz)
		if st != tc.status || errCode(body) == "" {
			t.Errorf("%s %s: %d %v, want %d with a JSON error", tc.method, tc.path, st, body, tc.status)
		}
	}
	if got := orderStatus(t, url, sn); got != "WAIT_BUYER_PAY" || s.stock(1) != 8 || len(ordersOf(t, url, 7)) != 1 {
		t.Errorf("after the refusals: %s, stock %d, %d orders", got, s.stock(1), len(ordersOf(t, url, 7)))
	}
	// The owner pays with the simulator and reads their own order without naming the user.
	if st, b := call(t, "POST", url+"/v1/orders/"+sn+"/pay", nil, "Authorization", ann); st != http.StatusOK || b["status"] != "TRADE_SUCCESS" {
		t.Errorf("owner pays: %d %v", st, b)
	}
	if st, b := call(t, "GET", url+"/v1/orders", nil, "Authorization", ann); st != http.StatusOK || b["total"] != float64(1) {
		t.Errorf("own list: %d %v", st, b)
	}
}

// TestSecurity_limits_rateAndUnpaid: ORDER_MAX_UNPAID holds a user to that many unpaid orders
// (409), ORDER_RATE_PER_USER answers 429 with Retry-After; other users are not affected.
func TestSecurity_limits_rateAndUnpaid(t *testing.T) {
	s := newSystem(t)
	s.putGoods(1, 100, 100)
	url, _ := s.startOrderInProcessWith(timeoutNever, map[string]string{"ORDER_MAX_UNPAID": "2"})
	for i := range 2 {
		if st, b := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 1})); st != http.StatusCreated {
			t.Fatalf("order %d: %d %v", i, st, b)
		}
	}
	if st, b := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 1})); st != http.StatusConflict || errCode(b) != "too_many_unpaid_orders" {
		t.Fatalf("third unpaid: %d %v", st, b)
	}
	if st, b := call(t, "POST", url+"/v1/orders", orderRequest(8, [2]int64{1, 1})); st != http.StatusCreated {
		t.Fatalf("another user: %d %v", st, b)
	}
	if s.stock(1) != 97 {
		t.Errorf("stock %d, want 97", s.stock(1))
	}

	url2, _ := s.startOrderInProcessWith(timeoutNever, map[string]string{"ORDER_RATE_PER_USER": "0.01", "ORDER_RATE_BURST": "1"})
	if st, b := call(t, "POST", url2+"/v1/orders", orderRequest(9, [2]int64{1, 1})); st != http.StatusCreated {
		t.Fatalf("first: %d %v", st, b)
	}
	body := strings.NewReader(`{"user_id":9,"address":"a","signer_name":"n","signer_mobile":"1","items":[{"goods_id":1,"num":1}]}`)
	req, _ := http.NewRequestWithContext(context.Background(), "POST", url2+"/v1/orders", body)
	req.Header.Set("Authorization", userToken(t, 9))
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second at once: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if s.stock(1) != 96 {
		t.Errorf("stock %d, want 96", s.stock(1))
	}
}

func TestRun_refusesToStartWithoutAnAuthKey(t *testing.T) {
	err := run(context.Background(), nil, func(k string) string {
		return map[string]string{"ORDER_SQLITE_PATH": t.TempDir() + "/x.db"}[k]
	}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "AUTH_DISABLED=1") || !strings.Contains(err.Error(), "PAYMENT_NOTIFY_SECRET") {
		t.Fatalf("run without keys: %v", err)
	}
}

// TestRun_authDisabled_warnsAtStartAndOnReadyz: AUTH_DISABLED=1 runs without keys, loudly.
func TestRun_authDisabled_warnsAtStartAndOnReadyz(t *testing.T) {
	s := newSystem(t)
	url, logs := s.startOrderInProcessWith(timeoutNever, map[string]string{
		"AUTH_JWT_SECRET": "", "PAYMENT_NOTIFY_SECRET": "", "AUTH_DISABLED": "1"})
	st, body := call(t, "GET", url+"/readyz", nil, "Authorization", "none")
	if w, _ := body["warning"].(string); st != http.StatusOK || !strings.Contains(w, "AUTH_DISABLED=1") {
		t.Errorf("readyz: %d %v, want a warning", st, body)
	}
	if !strings.Contains(logs.String(), "authentication is disabled") {
		t.Errorf("no warning in the log:\n%s", logs.String())
	}
	// Open, as asked: no token needed.
	if st, body := call(t, "GET", url+"/v1/orders?user_id=7", nil, "Authorization", "none"); st != http.StatusOK {
		t.Errorf("open list: %d %v", st, body)
	}
}
