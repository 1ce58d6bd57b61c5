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

	"github.com/shopsaga/shopsaga/internal/mysqltest"
	"github.com/shopsaga/shopsaga/internal/openapitest"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/httpapi"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/sqlstore"
	"github.com/shopsaga/shopsaga/migrations"
)

func TestMain(m *testing.M) { mysqltest.Main(m) }

// contract validates every exchange of the API tests against the OpenAPI document.
var contract = mustContract()

func mustContract() *openapitest.Contract {
	c, err := openapitest.Parse(httpapi.OpenAPI)
	if err != nil {
		panic(err)
	}
	return c
}

var discard = slog.New(slog.DiscardHandler)

// newAPI serves the real use cases on a fresh database.
func newAPI(t *testing.T, checks ...httpapi.Check) (*httptest.Server, *sqlstore.Store) {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{MySQLDSN: mysqltest.New(t, migrations.Inventory)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv := httptest.NewServer(contract.Wrap(t, httpapi.Router(inventory.NewService(st, discard), checks, discard)))
	t.Cleanup(srv.Close)
	return srv, st
}

type response struct {
	status int
	body   map[string]any
	raw    string
}

// errorCode returns error.code, failing t unless the body is {"error":{"code","message"}}.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	e, ok := r.body["error"].(map[string]any)
	if !ok {
		t.Fatalf("status %d, body %s: no error object", r.status, r.raw)
	}
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	if code == "" || msg == "" {
		t.Fatalf("status %d, body %s: error lacks code or message", r.status, r.raw)
	}
	return code
}

func do(t *testing.T, srv *httptest.Server, method, path, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
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
	r := response{status: resp.StatusCode, raw: string(raw)}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: content type %q, body %s", method, path, ct, raw)
	}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %s", method, path, raw)
	}
	return r
}

func mustStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.raw)
	}
}

func TestGoods_putCreatesThenUpdates_andGetsReadThem(t *testing.T) {
	srv, _ := newAPI(t)
	r := do(t, srv, "PUT", "/v1/goods/2", `{"name":" Tea ","price_cents":350,"stock":10}`)
	mustStatus(t, r, http.StatusCreated)
	if r.body["name"] != "Tea" || r.body["price_cents"] != 350.0 || r.body["stock"] != 10.0 || r.body["id"] != 2.0 {
		t.Errorf("created %s", r.raw)
	}
	mustStatus(t, do(t, srv, "PUT", "/v1/goods/2", `{"id":2,"name":"Tea","price_cents":400,"stock":9}`), http.StatusOK)
	mustStatus(t, do(t, srv, "PUT", "/v1/goods/1", `{"name":"Coffee","price_cents":0,"stock":0}`), http.StatusCreated)

	r = do(t, srv, "GET", "/v1/goods/2", "")
	mustStatus(t, r, http.StatusOK)
	if r.body["price_cents"] != 400.0 || r.body["stock"] != 9.0 {
		t.Errorf("get %s", r.raw)
	}
	r = do(t, srv, "GET", "/v1/goods?ids=2,99,1,2", "")
	mustStatus(t, r, http.StatusOK)
	goods := r.body["goods"].([]any)
	if len(goods) != 2 || goods[0].(map[string]any)["id"] != 2.0 || goods[1].(map[string]any)["id"] != 1.0 {
		t.Errorf("list %s: want goods 2 then 1", r.raw)
	}
	if fmt.Sprint(r.body["missing_ids"]) != "[99]" {
		t.Errorf("list %s: want missing_ids [99]", r.raw)
	}
}

func TestStock_sellRetryRebackAndLateSell(t *testing.T) {
	srv, _ := newAPI(t)
	mustStatus(t, do(t, srv, "PUT", "/v1/goods/1", `{"name":"Tea","price_cents":350,"stock":10}`), http.StatusCreated)
	mustStatus(t, do(t, srv, "PUT", "/v1/goods/2", `{"name":"Cup","price_cents":1200,"stock":1}`), http.StatusCreated)
	sell := `{"order_sn":"20260101-000001","items":[{"goods_id":2,"num":1},{"goods_id":1,"num":3}]}`

	r := do(t, srv, "POST", "/v1/stock/sell", sell)
	mustStatus(t, r, http.StatusOK)
	want := `{"order_sn":"20260101-000001","items":[{"goods_id":1,"name":"Tea","num":3,"price_cents":350},` +
		`{"goods_id":2,"name":"Cup","num":1,"price_cents":1200}],"replayed":false}`
	if r.raw != want {
		t.Errorf("sell:\n got %s\nwant %s", r.raw, want)
	}
	r = do(t, srv, "POST", "/v1/stock/sell", sell)
	mustStatus(t, r, http.StatusOK)
	if r.body["replayed"] != true {
		t.Errorf("retried sell %s: want replayed", r.raw)
	}

	r = do(t, srv, "POST", "/v1/stock/sell", `{"order_sn":"o-2","items":[{"goods_id":1,"num":7},{"goods_id":2,"num":1}]}`)
	mustStatus(t, r, http.StatusConflict)
	if r.errorCode(t) != "insufficient_stock" ||
		fmt.Sprint(r.body["error"].(map[string]any)["items"]) != "[map[available:0 goods_id:2 requested:1]]" {
		t.Errorf("short sell %s", r.raw)
	}
	r = do(t, srv, "POST", "/v1/stock/sell", `{"order_sn":"20260101-000001","items":[{"goods_id":1,"num":1}]}`)
	mustStatus(t, r, http.StatusConflict)
	if r.errorCode(t) != "order_conflict" {
		t.Errorf("conflicting sell %s", r.raw)
	}

	for i, outcome := range []string{"returned", "already_returned"} {
		r = do(t, srv, "POST", "/v1/stock/reback", `{"order_sn":"20260101-000001"}`)
		mustStatus(t, r, http.StatusOK)
		if r.body["outcome"] != outcome {
			t.Errorf("reback %d: %s, want outcome %s", i, r.raw, outcome)
		}
	}
	r = do(t, srv, "POST", "/v1/stock/sell", sell)
	mustStatus(t, r, http.StatusConflict)
	if r.errorCode(t) != "order_already_returned" {
		t.Errorf("late sell %s", r.raw)
	}
	r = do(t, srv, "GET", "/v1/goods/1", "")
	if r.body["stock"] != 10.0 {
		t.Errorf("stock after reback %s, want 10", r.raw)
	}

	r = do(t, srv, "GET", "/v1/stock/sell-details/20260101-000001", "")
	mustStatus(t, r, http.StatusOK)
	if r.body["status"] != "returned" || len(r.body["items"].([]any)) != 2 {
		t.Errorf("sell detail %s", r.raw)
	}
	r = do(t, srv, "POST", "/v1/stock/reback", `{"order_sn":"never-sold"}`)
	if r.body["outcome"] != "not_sold" {
		t.Errorf("reback of an unknown order %s, want not_sold", r.raw)
	}
}

func TestBadInput_getsA4xxJSONError(t *testing.T) {
	srv, _ := newAPI(t)
	mustStatus(t, do(t, srv, "PUT", "/v1/goods/1", `{"name":"Tea","price_cents":350,"stock":10}`), http.StatusCreated)
	manyIDs := make([]string, 101)
	for i := range manyIDs {
		manyIDs[i] = fmt.Sprint(i + 1)
	}
	tests := []struct {
		method, path, body string
		header             []string
		status             int
		code               string
	}{
		{"PUT", "/v1/goods/abc", `{}`, nil, 400, "invalid_argument"},
		{"PUT", "/v1/goods/0", `{}`, nil, 400, "invalid_argument"},
		{"PUT", "/v1/goods/-3", `{}`, nil, 400, "invalid_argument"},
		{"PUT", "/v1/goods/99999999999999999999", `{}`, nil, 400, "invalid_argument"},
		{"PUT", "/v1/goods/1", ``, nil, 400, "invalid_json"},
		{"PUT", "/v1/goods/1", `{`, nil, 400, "invalid_json"},
		{"PUT", "/v1/goods/1", `{"name":}`, nil, 400, "invalid_json"},
		{"PUT", "/v1/goods/1", `[]`, nil, 400, "invalid_json"},
		{"PUT", "/v1/goods/1", `"x"`, nil, 400, "invalid_json"},
		{"PUT", "/v1/goods/1", `{"name":"x","price_cents":"12","stock":1}`, nil, 400, "invalid_json"},
		{"PUT", "/v1/goods/1", `{"name":"x","price_cents":1.5,"stock":1}`, nil, 400, "invalid_json"},
		{"PUT", "/v1/goods/1", `{"name":"x","price_cents":1e30,"stock":1}`, nil, 400, "invalid_json"},
		{"PUT", "/v1/goods/1", `{"name":"x","price_cents":99999999999999999999,"stock":1}`, nil, 400, "invalid_json"},
		{"PUT", "/v1/goods/1", `{"name":"x","price_cents":1,"stock":1,"colour":"red"}`, nil, 400, "invalid_json"},
		{"PUT", "/v1/goods/1", `{"name":"x","price_cents":1,"stock":1}{}`, nil, 400, "invalid_json"},
		{"PUT", "/v1/goods/1", `{"name":"x"}`, nil, 400, "invalid_argument"},
		{"PUT", "/v1/goods/1", `{"name":null,"price_cents":1,"stock":1}`, nil, 400, "invalid_argument"},
		{"PUT", "/v1/goods/1", `{"name":" ","price_cents":-1,"stock":-1}`, nil, 400, "invalid_argument"},
		{"PUT", "/v1/goods/1", `{"name":"x","price_cents":1,"stock":10000000000000}`, nil, 400, "invalid_argument"},
		{"PUT", "/v1/goods/1", `{"id":2,"name":"x","price_cents":1,"stock":1}`, nil, 400, "invalid_argument"},
		{"PUT", "/v1/goods/1", `{"name":"x","price_cents":1,"stock":1}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"PUT", "/v1/goods/1", `{"name":"x","price_cents":1,"stock":1}`, []string{"Content-Type", "multipart/form-data; boundary=x"}, 415, "unsupported_media_type"},
		{"PUT", "/v1/goods/1", `name=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 400, "invalid_json"},
		{"PUT", "/v1/goods/1", `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, nil, 413, "body_too_large"},
		{"GET", "/v1/goods/404", ``, nil, 404, "goods_not_found"},
		{"GET", "/v1/goods/x", ``, nil, 400, "invalid_argument"},
		{"GET", "/v1/goods", ``, nil, 400, "invalid_argument"},
		{"GET", "/v1/goods?ids=", ``, nil, 400, "invalid_argument"},
		{"GET", "/v1/goods?ids=1,x", ``, nil, 400, "invalid_argument"},
		{"GET", "/v1/goods?ids=1,0", ``, nil, 400, "invalid_argument"},
		{"GET", "/v1/goods?ids=" + strings.Join(manyIDs, ","), ``, nil, 400, "invalid_argument"},
		{"POST", "/v1/stock/sell", `{}`, nil, 400, "invalid_argument"},
		{"POST", "/v1/stock/sell", `null`, nil, 400, "invalid_argument"},
		{"POST", "/v1/stock/sell", `{"order_sn":"o-1","items":null}`, nil, 400, "invalid_argument"},
		{"POST", "/v1/stock/sell", `{"order_sn":"o-1","items":{}}`, nil, 400, "invalid_json"},
		{"POST", "/v1/stock/sell", `{"order_sn":"o 1","items":[{"goods_id":1,"num":0}]}`, nil, 400, "invalid_argument"},
		{"POST", "/v1/stock/sell", `{"order_sn":"o-1","items":[{"goods_id":1,"num":1},{"goods_id":1,"num":2}]}`, nil, 400, "invalid_argument"},
		{"POST", "/v1/stock/sell", `{"order_sn":"o-1","items":[{"goods_id":1,"num":-1}]}`, nil, 400, "invalid_argument"},
		{"POST", "/v1/stock/sell", `{"order_sn":"o-1","items":[{"goods_id":1,"num":1,"price_cents":1}]}`, nil, 400, "invalid_json"},
		{"POST", "/v1/stock/sell", `{"order_sn":"o-1","items":[{"goods_id":404,"num":1}]}`, nil, 404, "goods_not_found"},
		{"POST", "/v1/stock/sell", `{"order_sn":"o-1","items":[{"goods_id":1,"num":11}]}`, nil, 409, "insufficient_stock"},
		{"POST", "/v1/stock/reback", `{}`, nil, 400, "invalid_argument"},
		{"POST", "/v1/stock/reback", `{"order_sn":5}`, nil, 400, "invalid_json"},
		{"POST", "/v1/stock/reback", `{"order_sn":"` + strings.Repeat("9", 65) + `"}`, nil, 400, "invalid_argument"},
		{"GET", "/v1/stock/sell-details/nope", ``, nil, 404, "sell_detail_not_found"},
		{"GET", "/v1/stock/sell-details/bad%20sn", ``, nil, 400, "invalid_argument"},
		{"GET", "/v1/nothing", ``, nil, 404, "not_found"},
		{"GET", "/v1/goods/", ``, nil, 404, "not_found"},
		{"DELETE", "/v1/goods/1", ``, nil, 405, "method_not_allowed"},
		{"GET", "/v1/stock/sell", ``, nil, 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		name := tt.method + " " + tt.path + " " + tt.body
		if len(name) > 120 {
			name = name[:120]
		}
		t.Run(name, func(t *testing.T) {
			r := do(t, srv, tt.method, tt.path, tt.body, tt.header...)
			t.Log(r.raw)
			if r.status != tt.status || r.errorCode(t) != tt.code {
				t.Errorf("got %d %s, want %d %s", r.status, r.raw, tt.status, tt.code)
			}
		})
	}
	// Nothing above changed the goods.
	if r := do(t, srv, "GET", "/v1/goods/1", ""); r.body["stock"] != 10.0 || r.body["name"] != "Tea" {
		t.Errorf("goods after bad input: %s", r.raw)
	}
}

func TestReadyz_reportsEveryFailedCheck(t *testing.T) {
	srv, st := newAPI(t,
		httpapi.Check{Name: "database", Func: func(ctx context.Context) error { return nil }},
		httpapi.Check{Name: "broker", Func: func(ctx context.Context) error { return errors.New("connection refused") }},
	)
	_ = st
	r := do(t, srv, "GET", "/readyz", "")
	mustStatus(t, r, http.StatusServiceUnavailable)
	if r.errorCode(t) != "not_ready" || !strings.Contains(r.raw, "broker: connection refused") || strings.Contains(r.raw, "database") {
		t.Errorf("readyz %s", r.raw)
	}
	mustStatus(t, do(t, srv, "GET", "/healthz", ""), http.StatusOK)
}

func TestDatabaseOutage_isA5xxJSONError(t *testing.T) {
	srv, st := newAPI(t, httpapi.Check{Name: "database", Func: func(ctx context.Context) error { return nil }})
	mustStatus(t, do(t, srv, "PUT", "/v1/goods/1", `{"name":"Tea","price_cents":350,"stock":10}`), http.StatusCreated)
	_ = st.Close() // the database is gone
	r := do(t, srv, "POST", "/v1/stock/sell", `{"order_sn":"o-1","items":[{"goods_id":1,"num":1}]}`)
	if r.status < 500 || r.errorCode(t) != "internal" || strings.Contains(r.raw, "sql") {
		t.Errorf("sell during an outage: %d %s; want a 5xx without internals", r.status, r.raw)
	}
}

// panicky is the real inventory with one use case that panics, for the recovery middleware.
type panicky struct{ httpapi.Inventory }

func (panicky) Goods(context.Context, int64) (inventory.Goods, error) { panic("bug") }

func TestPanic_isA500JSONError(t *testing.T) {
	srv := httptest.NewServer(contract.Wrap(t, httpapi.Router(panicky{}, nil, discard)))
	defer srv.Close()
	r := do(t, srv, "GET", "/v1/goods/1", "")
	mustStatus(t, r, http.StatusInternalServerError)
	if r.errorCode(t) != "internal" {
		t.Errorf("panic answered %s", r.raw)
	}
}
