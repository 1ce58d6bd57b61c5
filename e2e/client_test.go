package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// The JSON of the services' public APIs, as a client sees it (inventory_srv/internal/httpapi,
// order_srv/internal/httpapi). Written out here on purpose: the tests are black-box.

type goods struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Stock      int64  `json:"stock"`
}

// line is one goods and quantity of an order or a sell.
type line struct {
	GoodsID int64 `json:"goods_id"`
	Num     int64 `json:"num"`
}

type orderRequest struct {
	UserID       int64  `json:"user_id"`
	Address      string `json:"address"`
	SignerName   string `json:"signer_name"`
	SignerMobile string `json:"signer_mobile"`
	Post         string `json:"post,omitempty"`
	Items        []line `json:"items"`
}

type orderItem struct {
	GoodsID    int64 `json:"goods_id"`
	Num        int64 `json:"num"`
	PriceCents int64 `json:"price_cents"`
}

type orderView struct {
	OrderSN    string      `json:"order_sn"`
	UserID     int64       `json:"user_id"`
	Status     string      `json:"status"`
	TotalCents int64       `json:"total_cents"`
	Items      []orderItem `json:"items"`
}

type orderList struct {
	Orders []orderView `json:"orders"`
	Total  int64       `json:"total"`
}

type sellDetail struct {
	OrderSN string `json:"order_sn"`
	Status  string `json:"status"`
	Items   []line `json:"items"`
}

// Order statuses, sell-detail statuses and reback outcomes.
const (
	statusWaitBuyerPay = "WAIT_BUYER_PAY"
	statusTradeSuccess = "TRADE_SUCCESS"
	statusTradeClosed  = "TRADE_CLOSED"

	detailDeducted = "deducted"
	detailReturned = "returned"

	outcomeReturned        = "returned"
	outcomeAlreadyReturned = "already_returned"
	outcomeNotSold         = "not_sold"
)

// Faults order_srv injects on request (ORDER_FAULTS=1, header X-Fault).
const (
	faultFailLocalTx      = "fail-local-tx"
	faultCrashAfterDeduct = "crash-after-deduct"
	faultCrashAfterCommit = "crash-after-commit"
)

// apiError is an error answer of a service: its status and {"error":{"code","message"}}.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// call sends a JSON request and decodes a 2xx answer into out (if not nil). Any other answer is
// an *apiError; a transport failure is returned as it is.
func (s *stack) call(ctx context.Context, method, u string, header http.Header, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token) // scopes admin and service (the broker ignores it)
	for k, v := range header {
		req.Header[k] = v
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, u, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Error.Code == "" {
			return &apiError{Status: resp.StatusCode, Code: "?", Message: fmt.Sprintf("not an error body: %q", raw)}
		}
		return &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode %q: %w", method, u, raw, err)
	}
	return nil
}

// requestTimeout bounds one API call of a test.
const requestTimeout = time.Minute

// putGoods creates goods with an initial stock and records it in the ledger.
func (s *stack) putGoods(t *testing.T, id int64, name string, priceCents, stock int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	in := map[string]any{"name": name, "price_cents": priceCents, "stock": stock}
	var g goods
	if err := s.call(ctx, http.MethodPut, s.inventory()+"/v1/goods/"+strconv.FormatInt(id, 10), nil, in, &g); err != nil {
		t.Fatalf("create goods %d: %v", id, err)
	}
	if g.ID != id || g.Stock != stock || g.PriceCents != priceCents {
		t.Fatalf("create goods %d: stored %+v", id, g)
	}
	s.ledger.addGoods(id, stock)
}

func (s *stack) stock(ctx context.Context, id int64) (int64, error) {
	var g goods
	err := s.call(ctx, http.MethodGet, s.inventory()+"/v1/goods/"+strconv.FormatInt(id, 10), nil, nil, &g)
	return g.Stock, err
}

// requireStock checks the stock of goods id now.
func (s *stack) requireStock(t *testing.T, id, want int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	got, err := s.stock(ctx, id)
	if err != nil {
		t.Fatalf("stock of goods %d: %v", id, err)
	}
	if got != want {
		t.Fatalf("stock of goods %d = %d, want %d", id, got, want)
	}
}

// awaitStock waits until the stock of goods id is want.
func (s *stack) awaitStock(t *testing.T, timeout time.Duration, id, want int64) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("stock of goods %d becomes %d", id, want), func(ctx context.Context) error {
		got, err := s.stock(ctx, id)
		if err == nil && got != want {
			err = fmt.Errorf("stock is %d", got)
		}
		return err
	})
}

// createOrder asks order_srv for an order, with the fault injected if fault is not empty. The
// user is recorded in the ledger first: whatever happens, the invariant check looks at their
// orders.
func (s *stack) createOrder(ctx context.Context, userID int64, fault string, lines ...line) (orderView, error) {
	s.ledger.addUser(userID)
	in := orderRequest{UserID: userID, Address: "1 Test Street, Testville", SignerName: "E2E Tester",
		SignerMobile: "+1 555 0100", Post: "12345", Items: lines}
	header := http.Header{}
	if fault != "" {
		header.Set("X-Fault", fault)
	}
	var o orderView
	err := s.call(ctx, http.MethodPost, s.order()+"/v1/orders", header, in, &o)
	return o, err
}

// mustCreateOrder creates an order that must succeed, and checks what order_srv answers.
func (s *stack) mustCreateOrder(t *testing.T, userID int64, priceCents map[int64]int64, lines ...line) orderView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	o, err := s.createOrder(ctx, userID, "", lines...)
	if err != nil {
		t.Fatalf("create order for user %d: %v", userID, err)
	}
	var total int64
	for _, l := range lines {
		total += priceCents[l.GoodsID] * l.Num
	}
	if o.OrderSN == "" || o.UserID != userID || o.Status != statusWaitBuyerPay || o.TotalCents != total || len(o.Items) != len(lines) {
		t.Fatalf("created order %+v; want user %d, %s, total %d cents, %d items", o, userID, statusWaitBuyerPay, total, len(lines))
	}
	return o
}

func (s *stack) getOrder(ctx context.Context, sn string) (orderView, error) {
	var o orderView
	err := s.call(ctx, http.MethodGet, s.order()+"/v1/orders/"+url.PathEscape(sn), nil, nil, &o)
	return o, err
}

// ordersOf returns every order of a user, all pages.
func (s *stack) ordersOf(ctx context.Context, userID int64) ([]orderView, error) {
	const pageSize = 100
	var all []orderView
	for page := 1; ; page++ {
		var l orderList
		u := fmt.Sprintf("%s/v1/orders?user_id=%d&page=%d&page_size=%d", s.order(), userID, page, pageSize)
		if err := s.call(ctx, http.MethodGet, u, nil, nil, &l); err != nil {
			return nil, err
		}
		all = append(all, l.Orders...)
		if len(l.Orders) < pageSize || int64(len(all)) >= l.Total {
			return all, nil
		}
	}
}

func (s *stack) pay(ctx context.Context, sn string) (orderView, error) {
	var o orderView
	err := s.call(ctx, http.MethodPost, s.order()+"/v1/orders/"+url.PathEscape(sn)+"/pay", nil, nil, &o)
	return o, err
}

func (s *stack) sellDetail(ctx context.Context, sn string) (sellDetail, error) {
	var d sellDetail
	err := s.call(ctx, http.MethodGet, s.inventory()+"/v1/stock/sell-details/"+url.PathEscape(sn), nil, nil, &d)
	return d, err
}

// requireDetail checks the status of an order's sell detail now.
func (s *stack) requireDetail(t *testing.T, sn, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	d, err := s.sellDetail(ctx, sn)
	if err != nil {
		t.Fatalf("sell detail of %s: %v", sn, err)
	}
	if d.Status != want {
		t.Fatalf("sell detail of %s is %s, want %s", sn, d.Status, want)
	}
}

// reback asks inventory_srv to return an order's stock, as the reback consumer and the timeout
// path do, and returns the outcome.
func (s *stack) reback(ctx context.Context, sn string) (string, error) {
	var r struct {
		OrderSN string `json:"order_sn"`
		Outcome string `json:"outcome"`
	}
	err := s.call(ctx, http.MethodPost, s.inventory()+"/v1/stock/reback", nil, map[string]string{"order_sn": sn}, &r)
	return r.Outcome, err
}

// sell deducts stock for sn directly through inventory_srv's API, recording the sell in the
// ledger first.
func (s *stack) sell(ctx context.Context, sn string, lines ...line) error {
	s.ledger.addDirectSell(sn)
	return s.call(ctx, http.MethodPost, s.inventory()+"/v1/stock/sell", nil,
		map[string]any{"order_sn": sn, "items": lines}, nil)
}

// requireAPIError checks that err is an error answer with the given status and code.
func requireAPIError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var e *apiError
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want an HTTP %d %s answer", err, status, code)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("got %v, want HTTP %d %s", e, status, code)
	}
}

// pollInterval is the pause between two looks at the system while awaiting a state.
const pollInterval = 200 * time.Millisecond

// eventually calls check until it returns nil, and fails t with check's last error if that does
// not happen within timeout. check may also fail t itself, for a state that must never occur.
func eventually(t *testing.T, timeout time.Duration, what string, check func(ctx context.Context) error) {
	t.Helper()
	if err := poll(timeout, check); err != nil {
		t.Fatalf("%s: not within %v: %v", what, timeout, err)
	}
}

// poll calls check until it returns nil or timeout has passed; it returns check's last error
// then.
func poll(timeout time.Duration, check func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(requestTimeout))
		err := check(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(pollInterval)
	}
}
