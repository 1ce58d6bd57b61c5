package e2e

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/internal/paynotify"
)

// TestSecurity_tokensScopesAndTheSignedNotify_inContainers: the images take their secrets from
// the environment; a user's token cannot reach inventory's internal calls or another user's
// order; the provider's signed notify pays an order, a forged one changes nothing.
func TestSecurity_tokensScopesAndTheSignedNotify_inContainers(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{payTimeoutLevel: payTimeoutNever})
	const tea, buyer, stranger = 501, 5001, 5002
	s.putGoods(t, tea, "tea", 250, 10)
	o := s.mustCreateOrder(t, buyer, map[int64]int64{tea: 250}, line{tea, 2})

	as := func(uid int64) http.Header {
		tok, err := auth.MintUser(authSecret, uid, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Authorization": {"Bearer " + tok}}
	}
	none := http.Header{"Authorization": {""}}
	requireAPIError(t, s.call(ctxFor(t), http.MethodGet, s.order()+"/v1/orders/"+o.OrderSN, none, nil, nil), http.StatusUnauthorized, "unauthenticated")
	requireAPIError(t, s.call(ctxFor(t), http.MethodGet, s.order()+"/v1/orders/"+o.OrderSN, as(stranger), nil, nil), http.StatusNotFound, "order_not_found")
	var mine orderView
	if err := s.call(ctxFor(t), http.MethodGet, s.order()+"/v1/orders/"+o.OrderSN, as(buyer), nil, &mine); err != nil || mine.OrderSN != o.OrderSN {
		t.Fatalf("the buyer's own order: %+v %v", mine, err)
	}
	requireAPIError(t, s.call(ctxFor(t), http.MethodPost, s.inventory()+"/v1/stock/reback", as(buyer),
		map[string]string{"order_sn": o.OrderSN}, nil), http.StatusForbidden, "forbidden")
	requireAPIError(t, s.call(ctxFor(t), http.MethodPut, s.inventory()+"/v1/goods/"+strconv.Itoa(tea), as(buyer),
		map[string]any{"name": "tea", "price_cents": 1, "stock": 1000}, nil), http.StatusForbidden, "forbidden")
	s.requireStock(t, tea, 8)

	post := func(secret string, cents int64) (int, string) {
		t.Helper()
		v := paynotify.Signed(secret, paynotify.Notice{OutTradeNo: o.OrderSN, TradeNo: "E2E" + o.OrderSN[:20],
			AmountCents: cents, TradeStatus: paynotify.TradeStatus, NotifyTime: time.Now()})
		resp, err := s.http.PostForm(s.order()+"/v1/payments/notify", v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := post("a-forger-secret-0123456789abcdef0123456", 500); st != http.StatusBadRequest {
		t.Fatalf("forged notify: %d %s", st, body)
	}
	if st, body := post(notifySecret, 499); st != http.StatusBadRequest {
		t.Fatalf("a cent short: %d %s", st, body)
	}
	if cur, err := s.getOrder(ctxFor(t), o.OrderSN); err != nil || cur.Status != statusWaitBuyerPay {
		t.Fatalf("after refused notifies: %+v %v", cur, err)
	}
	for range 2 {
		if st, body := post(notifySecret, 500); st != http.StatusOK || body != "success" {
			t.Fatalf("signed notify: %d %s", st, body)
		}
	}
	if cur, err := s.getOrder(ctxFor(t), o.OrderSN); err != nil || cur.Status != statusTradeSuccess {
		t.Fatalf("after the notify: %+v %v", cur, err)
	}
}
