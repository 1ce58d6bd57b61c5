package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeShop is a small in-memory stand-in for order_srv and inventory_srv with the same HTTP
// contract as far as loadgen uses it, and knobs that break it in the ways loadgen must notice.
type fakeShop struct {
	inventory, orderSrv *httptest.Server

	// Knobs, set before the run.
	returnDelay  time.Duration // fail-local-tx returns the stock this long after the 503
	leakEvery    int           // every n-th created order deducts its stock twice (a bug to catch)
	hangUpEvery  int           // every n-th created order's connection is closed instead of answered
	closeOnWrite bool          // every created order is closed (timeout) and its stock returned at once

	mu     sync.Mutex // guards the fields below
	stock  map[int64]int64
	orders map[string]fakeOrder
	byUser map[int64][]string
	seq    int
}

// The fake's view of the services' JSON, and order_srv's statuses it uses.
type line struct {
	GoodsID int64 `json:"goods_id"`
	Num     int64 `json:"num"`
}

type orderRequest struct {
	UserID       int64  `json:"user_id"`
	Address      string `json:"address"`
	SignerName   string `json:"signer_name"`
	SignerMobile string `json:"signer_mobile"`
	Post         string `json:"post"`
	Items        []line `json:"items"`
}

const (
	statusWaitBuyerPay = "WAIT_BUYER_PAY"
	statusTradeClosed  = "TRADE_CLOSED"
)

type fakeOrder struct {
	SN     string `json:"order_sn"`
	UserID int64  `json:"user_id"`
	Status string `json:"status"`
	Post   string `json:"post"`
	Items  []line `json:"items"`
}

func newFakeShop(t *testing.T, configure func(*fakeShop)) *fakeShop {
	t.Helper()
	f := &fakeShop{stock: map[int64]int64{}, orders: map[string]fakeOrder{}, byUser: map[int64][]string{}}
	if configure != nil {
		configure(f)
	}
	inv := http.NewServeMux()
	inv.HandleFunc("PUT /v1/goods/{id}", f.putGoods)
	inv.HandleFunc("GET /v1/goods", f.listGoods)
	ord := http.NewServeMux()
	ord.HandleFunc("POST /v1/orders", f.createOrder)
	ord.HandleFunc("GET /v1/orders/{sn}", f.getOrder)
	ord.HandleFunc("POST /v1/orders/{sn}/pay", f.pay)
	ord.HandleFunc("GET /v1/orders", f.listOrders)
	f.inventory, f.orderSrv = httptest.NewServer(inv), httptest.NewServer(ord)
	t.Cleanup(f.inventory.Close)
	t.Cleanup(f.orderSrv.Close)
	return f
}

// args are the flags that point loadgen at the fake.
func (f *fakeShop) args(more ...string) []string {
	return append([]string{"--order-url", f.orderSrv.URL, "--inventory-url", f.inventory.URL, "--progress", "off"}, more...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": code}})
}

func (f *fakeShop) putGoods(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var body struct {
		Stock *int64 `json:"stock"`
	}
	if err != nil || json.NewDecoder(r.Body).Decode(&body) != nil || body.Stock == nil {
		writeErr(w, http.StatusBadRequest, "invalid_argument")
		return
	}
	f.mu.Lock()
	_, existed := f.stock[id]
	f.stock[id] = *body.Stock
	f.mu.Unlock()
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"id": id, "stock": *body.Stock})
}

func (f *fakeShop) listGoods(w http.ResponseWriter, r *http.Request) {
	var goods []map[string]int64
	missing := []int64{}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, part := range strings.Split(r.URL.Query().Get("ids"), ",") {
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "invalid_argument")
			return
		}
		if s, ok := f.stock[id]; ok {
			goods = append(goods, map[string]int64{"id": id, "stock": s})
		} else {
			missing = append(missing, id)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"goods": goods, "missing_ids": missing})
}

func (f *fakeShop) createOrder(w http.ResponseWriter, r *http.Request) {
	var req orderRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.UserID <= 0 || len(req.Items) == 0 ||
		req.Address == "" || req.SignerName == "" || req.SignerMobile == "" {
		writeErr(w, http.StatusBadRequest, "invalid_argument")
		return
	}
	f.mu.Lock()
	for _, it := range req.Items {
		if s, ok := f.stock[it.GoodsID]; !ok {
			f.mu.Unlock()
			writeErr(w, http.StatusNotFound, "goods_not_found")
			return
		} else if s < it.Num {
			f.mu.Unlock()
			writeErr(w, http.StatusConflict, "insufficient_stock")
			return
		}
	}
	for _, it := range req.Items {
		f.stock[it.GoodsID] -= it.Num
	}
	if r.Header.Get("X-Fault") == "fail-local-tx" {
		f.mu.Unlock()
		time.AfterFunc(f.returnDelay, func() { // the committed half message, consumed later
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, it := range req.Items {
				f.stock[it.GoodsID] += it.Num
			}
		})
		writeErr(w, http.StatusServiceUnavailable, "unavailable")
		return
	}
	f.seq++
	o := fakeOrder{SN: fmt.Sprintf("%020d", f.seq), UserID: req.UserID, Status: statusWaitBuyerPay, Post: req.Post, Items: req.Items}
	if f.leakEvery > 0 && f.seq%f.leakEvery == 0 {
		for _, it := range req.Items {
			f.stock[it.GoodsID] -= it.Num
		}
	}
	if f.closeOnWrite {
		o.Status = statusTradeClosed
		for _, it := range req.Items {
			f.stock[it.GoodsID] += it.Num
		}
	}
	f.orders[o.SN] = o
	f.byUser[o.UserID] = append(f.byUser[o.UserID], o.SN)
	hangUp := f.hangUpEvery > 0 && f.seq%f.hangUpEvery == 0
	f.mu.Unlock()
	if hangUp {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
		return
	}
	writeJSON(w, http.StatusCreated, o)
}

func (f *fakeShop) getOrder(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	o, ok := f.orders[r.PathValue("sn")]
	f.mu.Unlock()
	if !ok {
		writeErr(w, http.StatusNotFound, "order_not_found")
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (f *fakeShop) pay(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.orders[r.PathValue("sn")]
	switch {
	case !ok:
		writeErr(w, http.StatusNotFound, "order_not_found")
	case o.Status == statusTradeClosed:
		writeErr(w, http.StatusConflict, "order_closed")
	default:
		o.Status = "TRADE_SUCCESS"
		f.orders[o.SN] = o
		writeJSON(w, http.StatusOK, o)
	}
}

func (f *fakeShop) listOrders(w http.ResponseWriter, r *http.Request) {
	uid, err := strconv.ParseInt(r.URL.Query().Get("user_id"), 10, 64)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "invalid_argument")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []fakeOrder{}
	for _, sn := range f.byUser[uid] {
		out = append(out, f.orders[sn])
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": out, "total": len(out)})
}

// paidOrders counts the fake's paid orders.
func (f *fakeShop) paidOrders() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, o := range f.orders {
		if o.Status == "TRADE_SUCCESS" {
			n++
		}
	}
	return n
}
