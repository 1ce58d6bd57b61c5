package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/httpapi"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

const testSecret = "inventory-httpapi-test-secret-0123456789"

// recordingInventory answers every use case and counts the calls, so a refused request can be
// shown to have reached nothing.
type recordingInventory struct {
	mu    sync.Mutex // guards calls
	calls []string
}

func (r *recordingInventory) record(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, name)
}

func (r *recordingInventory) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func (r *recordingInventory) PutGoods(_ context.Context, _ inventory.Goods) (bool, error) {
	r.record("put")
	return true, nil
}

func (r *recordingInventory) Goods(_ context.Context, id int64) (inventory.Goods, error) {
	r.record("goods")
	return inventory.Goods{ID: id, Name: "tea", PriceCents: 100, Stock: 5}, nil
}

func (r *recordingInventory) GoodsList(_ context.Context, ids []int64) ([]inventory.Goods, []int64, error) {
	r.record("list")
	return nil, ids, nil
}

func (r *recordingInventory) Sell(_ context.Context, req inventory.SellRequest) (inventory.SellResult, error) {
	r.record("sell")
	return inventory.SellResult{OrderSN: req.OrderSN}, nil
}

func (r *recordingInventory) Reback(context.Context, string) (inventory.RebackOutcome, error) {
	r.record("reback")
	return inventory.Returned, nil
}

func (r *recordingInventory) SellDetail(_ context.Context, sn string) (inventory.SellDetail, error) {
	r.record("detail")
	return inventory.SellDetail{OrderSN: sn, Status: inventory.StatusDeducted}, nil
}

func (r *recordingInventory) DeductedSells(context.Context, inventory.DeductedSellsQuery) (inventory.DeductedSellsPage, error) {
	r.record("deducted")
	return inventory.DeductedSellsPage{}, nil
}

func newAuthAPI(t *testing.T) (*httptest.Server, *recordingInventory) {
	t.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.Config{JWTSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	inv := &recordingInventory{}
	srv := httptest.NewServer(contract.Wrap(t, httpapi.Router(inv, nil, discard, httpapi.WithAuth(v, ""))))
	t.Cleanup(srv.Close)
	return srv, inv
}

func token(t *testing.T, sub string, scopes ...string) string {
	t.Helper()
	tok, err := auth.Mint(testSecret, sub, time.Minute, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// TestAuth_scopesPerRoute: goods reads are public, goods writes need admin, sell and reback need
// service, sell details service or admin; a refused call reaches no use case.
func TestAuth_scopesPerRoute(t *testing.T) {
	t.Parallel()
	srv, inv := newAuthAPI(t)
	user, admin, service := token(t, "5"), token(t, "1", "admin"), token(t, "order_srv", "service")
	wrongKey, _ := auth.Mint("another-secret-another-secret-another", "1", time.Minute, "admin", "service")
	goods := `{"name":"tea","price_cents":100,"stock":5}`
	sell := `{"order_sn":"x1","items":[{"goods_id":1,"num":1}]}`
	for _, tc := range []struct {
		method, path, body, authz string
		status                    int
	}{
		{"GET", "/openapi.json", "", "", 200},
		{"GET", "/v1/goods/1", "", "", 200},
		{"GET", "/v1/goods?ids=1", "", "", 200},
		{"PUT", "/v1/goods/1", goods, "", 401},
		{"PUT", "/v1/goods/1", goods, "Bearer " + wrongKey, 401},
		{"PUT", "/v1/goods/1", goods, user, 403},
		{"PUT", "/v1/goods/1", goods, service, 403},
		{"PUT", "/v1/goods/1", goods, admin, 201},
		{"POST", "/v1/stock/sell", sell, "", 401},
		{"POST", "/v1/stock/sell", sell, user, 403},
		{"POST", "/v1/stock/sell", sell, admin, 403},
		{"POST", "/v1/stock/sell", sell, service, 200},
		{"POST", "/v1/stock/reback", `{"order_sn":"x1"}`, user, 403},
		{"POST", "/v1/stock/reback", `{"order_sn":"x1"}`, admin, 403},
		{"POST", "/v1/stock/reback", `{"order_sn":"x1"}`, service, 200},
		{"GET", "/v1/stock/sell-details/x1", "", user, 403},
		{"GET", "/v1/stock/sell-details/x1", "", admin, 200},
		{"GET", "/v1/stock/sell-details/x1", "", service, 200},
		{"GET", "/v1/stock/sells?status=deducted&created_before=2026-01-01T00:00:00Z", "", "", 401},
		{"GET", "/v1/stock/sells?status=deducted&created_before=2026-01-01T00:00:00Z", "", user, 403},
		{"GET", "/v1/stock/sells?status=deducted&created_before=2026-01-01T00:00:00Z", "", admin, 403},
		{"GET", "/v1/stock/sells?status=deducted&created_before=2026-01-01T00:00:00Z", "", service, 200},
	} {
		before := inv.count()
		var hdr []string
		if tc.authz != "" {
			hdr = []string{"Authorization", tc.authz}
		}
		r := do(t, srv, tc.method, tc.path, tc.body, hdr...)
		if r.status != tc.status {
			t.Errorf("%s %s (%.20s): %d %s, want %d", tc.method, tc.path, tc.authz, r.status, r.raw, tc.status)
			continue
		}
		if tc.status >= 400 {
			want := map[int]string{401: "unauthenticated", 403: "forbidden"}[tc.status]
			if code := r.errorCode(t); code != want {
				t.Errorf("%s %s: code %q, want %q", tc.method, tc.path, code, want)
			}
			if inv.count() != before {
				t.Errorf("%s %s was refused but reached the use case", tc.method, tc.path)
			}
		}
	}
}

// TestAuth_oversizedAuthorizationHeader_is4xx sends a 64 KiB bearer token.
func TestAuth_oversizedAuthorizationHeader_is4xx(t *testing.T) {
	t.Parallel()
	srv, inv := newAuthAPI(t)
	req, _ := http.NewRequest("PUT", srv.URL+"/v1/goods/1", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("x", 64<<10))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 || inv.count() != 0 {
		t.Fatalf("status %d, calls %d", resp.StatusCode, inv.count())
	}
}
