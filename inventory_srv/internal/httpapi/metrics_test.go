package httpapi_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopsaga/shopsaga/internal/httpmetrics"
	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/httpapi"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/metrics"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/sqlstore"
)

// TestMetrics_countSellsAndReturnsByResult_andRequestsByRoute scripts sells and returns
// (applied, duplicate, unknown order) through the API and scrapes /metrics, on both backends.
func TestMetrics_countSellsAndReturnsByResult_andRequestsByRoute(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		st, err := sqlstore.Open(context.Background(), sqlstore.Options{MySQLDSN: db.MySQLDSN, SQLitePath: db.SQLitePath})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		reg := prometheus.NewRegistry()
		m, err := metrics.New(reg)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(contract.Wrap(t, httpapi.Router(inventory.NewService(st, discard, inventory.WithMetrics(m)), nil, discard,
			httpapi.WithRequestObserver(m), httpapi.WithMetrics(httpmetrics.Handler(reg)))))
		t.Cleanup(srv.Close)

		const a, b, unknown = "20260501120000000000000000000001", "20260501120000000000000000000002", "20260501120000000000000000000003"
		for _, c := range []struct {
			method, path, body string
			want               int
		}{
			{"PUT", "/v1/goods/1", `{"name":"tea","price_cents":150,"stock":3}`, 201},
			{"POST", "/v1/stock/sell", `{"order_sn":"` + a + `","items":[{"goods_id":1,"num":2}]}`, 200},
			{"POST", "/v1/stock/sell", `{"order_sn":"` + a + `","items":[{"goods_id":1,"num":2}]}`, 200}, // replayed
			{"POST", "/v1/stock/sell", `{"order_sn":"` + b + `","items":[{"goods_id":1,"num":2}]}`, 409}, // short
			{"POST", "/v1/stock/reback", `{"order_sn":"` + a + `"}`, 200},                                // applied
			{"POST", "/v1/stock/reback", `{"order_sn":"` + a + `"}`, 200},                                // duplicate
			{"POST", "/v1/stock/reback", `{"order_sn":"` + unknown + `"}`, 200},                          // fenced
			{"GET", "/v1/goods/1", "", 200},
			{"GET", "/v1/goods/2", "", 404},
		} {
			if r := do(t, srv, c.method, c.path, c.body); r.status != c.want {
				t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, r.status, r.raw, c.want)
			}
		}
		resp, err := srv.Client().Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		for _, want := range []string{
			`stock_sells_total{result="sold"} 1`,
			`stock_sells_total{result="replayed"} 1`,
			`stock_sells_total{result="insufficient_stock"} 1`,
			`stock_sells_total{result="error"} 0`,
			`inventory_goods_cache_total{result="miss"} 1`, // the first sell of goods 1
			`inventory_goods_cache_total{result="hit"} 2`,  // the replayed and the short sell
			`inventory_goods_cache_total{result="stale"} 0`,
			`stock_returns_total{result="applied"} 1`,
			`stock_returns_total{result="duplicate"} 1`,
			`stock_returns_total{result="unknown_order"} 1`,
			`http_requests_total{code="200",method="POST",route="/v1/stock/sell"} 2`,
			`http_requests_total{code="409",method="POST",route="/v1/stock/sell"} 1`,
			`http_requests_total{code="200",method="GET",route="/v1/goods/:id"} 1`,
			`http_requests_total{code="404",method="GET",route="/v1/goods/:id"} 1`,
			`http_request_duration_seconds_count{method="POST",route="/v1/stock/reback"} 3`,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})
}
