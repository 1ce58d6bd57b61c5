package inventory_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/inventory"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

const sn order.SN = "20260501120000123456789012345678"

// answer serves one canned answer and records the request body.
func answer(t *testing.T, status int, body string, got *map[string]any) *inventory.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got != nil {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("read request: %v", err)
			}
			if err := json.Unmarshal(b, got); err != nil {
				t.Errorf("request body %q: %v", b, err)
			}
			(*got)["_path"] = r.Method + " " + r.URL.Path
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := inventory.New(srv.URL, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSell_sendsTheOrder_andReadsThePricedItems(t *testing.T) {
	t.Parallel()
	var req map[string]any
	c := answer(t, 200, `{"order_sn":"`+string(sn)+`","items":[{"goods_id":1,"name":"x","num":2,"price_cents":150}],"replayed":false}`, &req)
	items, err := c.Sell(context.Background(), sn, []order.Line{{GoodsID: 1, Num: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0] != (order.Item{GoodsID: 1, Num: 2, PriceCents: 150}) {
		t.Errorf("items = %+v", items)
	}
	if req["_path"] != "POST /v1/stock/sell" || req["order_sn"] != string(sn) {
		t.Errorf("request = %v", req)
	}
}

func TestSell_mapsInventoryErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		body   string
		want   error // nil: an unknown outcome, no sentinel
	}{
		{409, `{"error":{"code":"insufficient_stock","message":"short"}}`, app.ErrInsufficientStock},
		{404, `{"error":{"code":"goods_not_found","message":"goods 9"}}`, app.ErrGoodsNotFound},
		{409, `{"error":{"code":"order_already_returned","message":"x"}}`, app.ErrSellRejected},
		{409, `{"error":{"code":"order_conflict","message":"x"}}`, app.ErrSellRejected},
		{500, `{"error":{"code":"internal","message":"x"}}`, nil},
		{503, `<html>proxy</html>`, nil},
		{200, `not json`, nil},
		{200, `{"order_sn":"other","items":[]}`, nil},
	}
	for _, tt := range tests {
		c := answer(t, tt.status, tt.body, nil)
		_, err := c.Sell(context.Background(), sn, []order.Line{{GoodsID: 1, Num: 1}})
		if err == nil {
			t.Errorf("%d %s: no error", tt.status, tt.body)
			continue
		}
		for _, sentinel := range []error{app.ErrInsufficientStock, app.ErrGoodsNotFound, app.ErrSellRejected} {
			if errors.Is(err, sentinel) != (sentinel == tt.want) {
				t.Errorf("%d %s: error %v; errors.Is(%v) = %v", tt.status, tt.body, err, sentinel, !(sentinel == tt.want))
			}
		}
	}
}

func TestSell_unreachableInventory_isAnUnknownOutcome(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c, err := inventory.New(srv.URL, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Sell(context.Background(), sn, []order.Line{{GoodsID: 1, Num: 1}})
	if err == nil || errors.Is(err, app.ErrSellRejected) || errors.Is(err, app.ErrInsufficientStock) {
		t.Fatalf("error = %v, want an unknown outcome", err)
	}
}

func TestRebackAndCheckGoods(t *testing.T) {
	t.Parallel()
	var req map[string]any
	c := answer(t, 200, `{"order_sn":"`+string(sn)+`","outcome":"returned"}`, &req)
	if err := c.Reback(context.Background(), sn); err != nil || req["_path"] != "POST /v1/stock/reback" || req["order_sn"] != string(sn) {
		t.Fatalf("reback = %v, request %v", err, req)
	}
	if err := answer(t, 500, `{}`, nil).Reback(context.Background(), sn); err == nil {
		t.Error("reback answered 500: no error")
	}
	if err := answer(t, 200, `{"id":3}`, nil).CheckGoods(context.Background(), 3); err != nil {
		t.Error(err)
	}
	if err := answer(t, 404, `{"error":{"code":"goods_not_found"}}`, nil).CheckGoods(context.Background(), 3); !errors.Is(err, app.ErrGoodsNotFound) {
		t.Errorf("CheckGoods(404) = %v", err)
	}
	if err := answer(t, 502, ``, nil).CheckGoods(context.Background(), 3); !errors.Is(err, app.ErrUnavailable) {
		t.Errorf("CheckGoods(502) = %v", err)
	}
}

func TestNew_rejectsBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "127.0.0.1:8082", "ftp://x", "http://"} {
		if _, err := inventory.New(u, time.Second); err == nil {
			t.Errorf("New(%q): no error", u)
		}
	}
}
