package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/httpapi"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

const sn = "20260501120000123456789012345678"

// service records what the transport asked for and answers with err, or a fixed order.
type service struct {
	err      error
	replayed bool
	created  app.CreateOrder
	page     app.Page
	cartPut  [4]int64
	notices  []app.PaymentNotice
}

func (s *service) anOrder() order.Order {
	paid := time.Date(2026, 5, 1, 12, 1, 0, 0, time.UTC)
	return order.Order{SN: sn, UserID: 7, Status: order.StatusTradeSuccess, TotalCents: 399,
		Shipping:  order.Shipping{Address: "a", SignerName: "n", SignerMobile: "1", Post: "p"},
		Items:     []order.Item{{GoodsID: 1, Num: 2, PriceCents: 150}, {GoodsID: 2, Num: 1, PriceCents: 99}},
		CreatedAt: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), PaidAt: &paid}
}

func (s *service) CreateOrder(_ context.Context, cmd app.CreateOrder) (app.Created, error) {
	s.created = cmd
	return app.Created{Order: s.anOrder(), Replayed: s.replayed}, s.err
}
func (s *service) Order(_ context.Context, got string) (order.Order, error) {
	if got != sn {
		return order.Order{}, fmt.Errorf("order %s: %w", got, order.ErrNotFound)
	}
	return s.anOrder(), s.err
}
func (s *service) OrdersOfUser(_ context.Context, uid int64, p app.Page) ([]order.Order, int64, error) {
	s.page = p
	return []order.Order{s.anOrder()}, 11, s.err
}
func (s *service) Pay(context.Context, string) (order.Order, error) { return s.anOrder(), s.err }
func (s *service) PutCartItem(_ context.Context, uid, gid int64, num int32, checked bool) (order.CartItem, error) {
	c := int64(0)
	if checked {
		c = 1
	}
	s.cartPut = [4]int64{uid, gid, int64(num), c}
	return order.CartItem{UserID: uid, GoodsID: gid, Num: num, Checked: checked}, s.err
}
func (s *service) CartItems(_ context.Context, uid int64) ([]order.CartItem, error) {
	return []order.CartItem{{UserID: uid, GoodsID: 3, Num: 1, Checked: true}}, s.err
}
func (s *service) DeleteCartItem(context.Context, int64, int64) error { return s.err }
func (s *service) Timeline(_ context.Context, got string) ([]app.SagaStep, error) {
	return timelineOf(got)
}

// ApplyPayment and Payments make service an httpapi.PaymentService for the payment simulator.
func (s *service) ApplyPayment(_ context.Context, n app.PaymentNotice) (app.Payment, error) {
	s.notices = append(s.notices, n)
	return app.Payment{TradeNo: n.TradeNo, OrderSN: n.OrderSN, AmountCents: n.AmountCents, Status: app.PaymentApplied}, s.err
}
func (s *service) Payments(context.Context, string) ([]app.Payment, error) { return nil, nil }

func serve(t *testing.T, svc *service, faults bool, ready error) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(contract.Wrap(t, httpapi.Router(svc, httpapi.Options{
		Payments: svc, NotifySecret: "httpapi-test-notify-secret-0123456789", PaymentSimulator: true,
		Faults:    faults,
		Readiness: []httpapi.Check{{Name: "db", Func: func(context.Context) error { return ready }}},
		Log:       slog.New(slog.DiscardHandler),
	})))
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t *testing.T, srv *httptest.Server, method, path, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: answer %q is not a JSON object: %v", method, path, raw, err)
		}
	}
	return r
}

func errorCode(r response) string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	if msg, _ := e["message"].(string); code != "" && msg == "" {
		return code + " (without message)"
	}
	return code
}

const orderBody = `{"user_id":7,"address":"a","signer_name":"n","signer_mobile":"1","post":"p","items":[{"goods_id":1,"num":2},{"goods_id":2,"num":1}]}`

func TestCreateOrder_passesTheRequestOn_andAnswers201WithTheOrder(t *testing.T) {
	t.Parallel()
	svc := &service{}
	srv := serve(t, svc, false, nil)
	r := do(t, srv, "POST", "/v1/orders", orderBody, "Idempotency-Key", "k-1", "X-Fault", "crash-after-commit")
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	c := svc.created
	if c.UserID != 7 || c.Shipping.Address != "a" || c.Shipping.Post != "p" || len(c.Lines) != 2 ||
		c.Lines[0] != (order.Line{GoodsID: 1, Num: 2}) || c.IdempotencyKey != "k-1" || c.FromCart {
		t.Errorf("command = %+v", c)
	}
	if c.Fault != app.NoFault {
		t.Errorf("fault %q passed on with faults disabled", c.Fault)
	}
	if r.body["order_sn"] != sn || r.body["status"] != "TRADE_SUCCESS" || r.body["total_cents"] != float64(399) {
		t.Errorf("body = %s", r.raw)
	}
	items, _ := r.body["items"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["price_cents"] != float64(150) {
		t.Errorf("items = %v", r.body["items"])
	}
	if r.header.Get("Idempotent-Replayed") != "" {
		t.Error("a first answer is marked replayed")
	}
}

func TestCreateOrder_fromCart_andReplay_andFaults(t *testing.T) {
	t.Parallel()
	svc := &service{replayed: true}
	srv := serve(t, svc, true, nil)
	r := do(t, srv, "POST", "/v1/orders", `{"user_id":7,"from_cart":true,"address":"a","signer_name":"n","signer_mobile":"1"}`,
		"X-Fault", "fail-local-tx")
	if r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("status %d, replayed %q: %s", r.status, r.header.Get("Idempotent-Replayed"), r.raw)
	}
	if !svc.created.FromCart || svc.created.Lines != nil || svc.created.Fault != app.FaultFailLocalTx {
		t.Errorf("command = %+v", svc.created)
	}
	if r := do(t, srv, "POST", "/v1/orders", orderBody, "X-Fault", "explode"); r.status != 400 || errorCode(r) != "invalid_argument" {
		t.Errorf("unknown fault: %d %s", r.status, r.raw)
	}
}

func TestErrors_areJSON_withTheMappedStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("%w: user_id must be positive", order.ErrInvalid), 400, "invalid_argument"},
		{app.ErrCartEmpty, 400, "cart_empty"},
		{fmt.Errorf("%w: 9", app.ErrGoodsNotFound), 404, "goods_not_found"},
		{fmt.Errorf("%w: goods 1", app.ErrInsufficientStock), 409, "insufficient_stock"},
		{fmt.Errorf("pay: %w", order.ErrOrderClosed), 409, "order_closed"},
		{app.ErrRequestInProgress, 409, "request_in_progress"},
		{app.ErrIdempotencyKeyReused, 422, "idempotency_key_reused"},
		{fmt.Errorf("%w: sell: dial tcp: refused", app.ErrUnavailable), 503, "unavailable"},
		{fmt.Errorf("%w: commit order: refused", app.ErrOutcomeUnknown), 503, "outcome_unknown"},
		{context.DeadlineExceeded, 503, "unavailable"},
		{errors.New("boom"), 500, "internal"},
	}
	for _, tt := range tests {
		srv := serve(t, &service{err: tt.err}, false, nil)
		r := do(t, srv, "POST", "/v1/orders", orderBody)
		if r.status != tt.status || errorCode(r) != tt.code {
			t.Errorf("%v: %d %s, want %d %s", tt.err, r.status, r.raw, tt.status, tt.code)
		}
		if tt.status >= 500 && strings.Contains(r.raw, "refused") {
			t.Errorf("%v: internal details leaked: %s", tt.err, r.raw)
		}
	}
}

func TestErrors_commitOutcomeUnknown_says503OutcomeUnknown_notNothingLeftBehind(t *testing.T) {
	t.Parallel()
	srv := serve(t, &service{err: fmt.Errorf("%w: commit order: conn reset", app.ErrOutcomeUnknown)}, false, nil)
	r := do(t, srv, "POST", "/v1/orders", orderBody)
	if r.status != 503 || errorCode(r) != "outcome_unknown" {
		t.Fatalf("%d %s, want 503 outcome_unknown", r.status, r.raw)
	}
	if strings.Contains(r.raw, "nothing was left behind") || !strings.Contains(r.raw, "may have been created") {
		t.Errorf("message %s must say the order may exist", r.raw)
	}
}

func TestBadRequests_get4xxJSON_neverAPanic(t *testing.T) {
	t.Parallel()
	srv := serve(t, &service{}, false, nil)
	tests := []struct {
		method, path, body string
		headers            []string
		status             int
		code               string
	}{
		{"POST", "/v1/orders", ``, nil, 400, "invalid_json"},
		{"POST", "/v1/orders", `{"user_id":`, nil, 400, "invalid_json"},
		{"POST", "/v1/orders", `{"user_id":"7"}`, nil, 400, "invalid_json"},
		{"POST", "/v1/orders", `{"user_id":7,"price_cents":1}`, nil, 400, "invalid_json"},
		{"POST", "/v1/orders", `{} {}`, nil, 400, "invalid_json"},
		{"POST", "/v1/orders", `[]`, nil, 400, "invalid_json"},
		{"POST", "/v1/orders", `{"items":[{"goods_id":1,"num":1e30}]}`, nil, 400, "invalid_json"},
		{"POST", "/v1/orders", `{"x":"` + strings.Repeat("a", 70000) + `"}`, nil, 413, "body_too_large"},
		{"POST", "/v1/orders", orderBody, []string{"Idempotency-Key", "clé"}, 400, "invalid_argument"},
		{"POST", "/v1/orders", orderBody, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"PUT", "/v1/users/0/cart/1", `{"num":1}`, nil, 400, "invalid_argument"},
		{"PUT", "/v1/users/x/cart/1", `{"num":1}`, nil, 400, "invalid_argument"},
		{"PUT", "/v1/users/1/cart/99999999999999999999", `{"num":1}`, nil, 400, "invalid_argument"},
		{"PUT", "/v1/users/1/cart/1", `{"checked":true}`, nil, 400, "invalid_argument"},
		{"GET", "/v1/orders", ``, nil, 400, "invalid_argument"},
		{"GET", "/v1/orders?user_id=1&page=x", ``, nil, 400, "invalid_argument"},
		{"GET", "/v1/orders/nope", ``, nil, 404, "order_not_found"},
		{"GET", "/v1/nothing", ``, nil, 404, "not_found"},
		{"DELETE", "/v1/orders", ``, nil, 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		r := do(t, srv, tt.method, tt.path, tt.body, tt.headers...)
		if r.status != tt.status || errorCode(r) != tt.code {
			t.Errorf("%s %s %.40q: %d %.200s, want %d %s", tt.method, tt.path, tt.body, r.status, r.raw, tt.status, tt.code)
		}
	}
}

func TestCartAndQueries(t *testing.T) {
	t.Parallel()
	svc := &service{}
	srv := serve(t, svc, false, nil)
	r := do(t, srv, "PUT", "/v1/users/5/cart/3", `{"num":4}`)
	if r.status != 200 || svc.cartPut != [4]int64{5, 3, 4, 1} || r.body["checked"] != true {
		t.Errorf("put cart: %d %s, call %v", r.status, r.raw, svc.cartPut)
	}
	do(t, srv, "PUT", "/v1/users/5/cart/3", `{"num":4,"checked":false}`)
	if svc.cartPut[3] != 0 {
		t.Error("checked:false not passed on")
	}
	if r := do(t, srv, "PUT", "/v1/users/5/cart/3", `{"num":99999999999}`); r.status != 200 || svc.cartPut[2] != -1 {
		t.Errorf("out-of-range num must reach the domain as invalid: %d, %v", r.status, svc.cartPut)
	}
	if r := do(t, srv, "GET", "/v1/users/5/cart", ""); r.status != 200 || r.body["user_id"] != float64(5) || len(r.body["items"].([]any)) != 1 {
		t.Errorf("get cart: %d %s", r.status, r.raw)
	}
	if r := do(t, srv, "DELETE", "/v1/users/5/cart/3", ""); r.status != 204 {
		t.Errorf("delete cart: %d %s", r.status, r.raw)
	}
	if r := do(t, srv, "GET", "/v1/orders/"+sn, ""); r.status != 200 || r.body["order_sn"] != sn || r.body["paid_at"] == nil || r.body["closed_at"] != nil {
		t.Errorf("get order: %d %s", r.status, r.raw)
	}
	r = do(t, srv, "GET", "/v1/orders?user_id=7&page=2&page_size=5", "")
	if r.status != 200 || svc.page != (app.Page{Number: 2, Size: 5}) || r.body["total"] != float64(11) || len(r.body["orders"].([]any)) != 1 {
		t.Errorf("list: %d %s, page %+v", r.status, r.raw, svc.page)
	}
	do(t, srv, "GET", "/v1/orders?user_id=7", "")
	if svc.page != (app.Page{Number: 1, Size: 20}) {
		t.Errorf("default page = %+v", svc.page)
	}
	if r := do(t, srv, "POST", "/v1/orders/"+sn+"/pay", ""); r.status != 200 || r.body["status"] != "TRADE_SUCCESS" {
		t.Errorf("pay: %d %s", r.status, r.raw)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	if r := do(t, serve(t, &service{}, false, nil), "GET", "/readyz", ""); r.status != 200 {
		t.Errorf("ready: %d %s", r.status, r.raw)
	}
	r := do(t, serve(t, &service{}, false, errors.New("db down")), "GET", "/readyz", "")
	if r.status != 503 || errorCode(r) != "not_ready" || !strings.Contains(r.raw, "db down") {
		t.Errorf("not ready: %d %s", r.status, r.raw)
	}
	if r := do(t, serve(t, &service{}, false, errors.New("db down")), "GET", "/healthz", ""); r.status != 200 {
		t.Errorf("healthz: %d %s", r.status, r.raw)
	}
}
