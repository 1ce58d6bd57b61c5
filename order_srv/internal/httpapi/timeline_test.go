package httpapi_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopsaga/shopsaga/internal/httpmetrics"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/httpapi"
	"github.com/shopsaga/shopsaga/order_srv/internal/metrics"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// failedSN is an order whose saga failed: it has steps but no order.
const failedSN = "20260501120000999999999999999999"

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func timelineOf(got string) ([]app.SagaStep, error) {
	switch got {
	case sn:
		return []app.SagaStep{
			{Step: app.StepHalfSent, Detail: "goods 1 × 2", At: t0},
			{Step: app.StepStockDeducted, At: t0.Add(40 * time.Millisecond)},
			{Step: app.StepLocalCommitted, At: t0.Add(55 * time.Millisecond)},
			{Step: app.StepPaid, Detail: "WAIT_BUYER_PAY → TRADE_SUCCESS", At: t0.Add(90 * time.Second)},
		}, nil
	case failedSN:
		return []app.SagaStep{
			{Step: app.StepHalfSent, At: t0},
			{Step: app.StepStockDeducted, At: t0.Add(time.Second)},
			{Step: app.StepCheckBackAsked, Detail: "<script>alert(1)</script>", At: t0.Add(7 * time.Second)},
		}, nil
	}
	if _, err := order.ParseSN(got); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("order %s: %w", got, order.ErrNotFound)
}

func serveWithMetrics(t *testing.T) *httptest.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(contract.Wrap(t, httpapi.Router(&service{}, httpapi.Options{
		Requests: m, Metrics: httpmetrics.Handler(reg), Log: slog.New(slog.DiscardHandler),
	})))
	t.Cleanup(srv.Close)
	return srv
}

func TestTimeline_answersTheStepsAsJSON_evenWithoutAnOrder(t *testing.T) {
	srv := serve(t, &service{}, false, nil)
	r := do(t, srv, "GET", "/v1/orders/"+sn+"/timeline", "")
	steps, _ := r.body["steps"].([]any)
	if r.status != 200 || r.body["order_sn"] != sn || len(steps) != 4 {
		t.Fatalf("timeline: %d %v", r.status, r.raw)
	}
	first, last := steps[0].(map[string]any), steps[3].(map[string]any)
	if first["step"] != "half_sent" || first["detail"] != "goods 1 × 2" || first["at"] != "2026-05-01T12:00:00Z" ||
		last["step"] != "paid" || last["at"] != "2026-05-01T12:01:30Z" {
		t.Errorf("steps = %v", steps)
	}
	if r := do(t, srv, "GET", "/v1/orders/"+failedSN+"/timeline", ""); r.status != 200 || len(r.body["steps"].([]any)) != 3 {
		t.Errorf("failed order's timeline: %d %v", r.status, r.raw)
	}
	if r := do(t, srv, "GET", "/v1/orders/20260501120000000000000000000000/timeline", ""); r.status != 404 || errCodeOf(r) != "order_not_found" {
		t.Errorf("unknown order: %d %v", r.status, r.raw)
	}
	if r := do(t, srv, "GET", "/v1/orders/nope/timeline", ""); r.status != 400 || errCodeOf(r) != "invalid_argument" {
		t.Errorf("bad order number: %d %v", r.status, r.raw)
	}
}

func errCodeOf(r response) string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestTimelinePage_rendersTheStepsWithRelativeTimes_escaped(t *testing.T) {
	srv := serve(t, &service{}, false, nil)
	resp, err := srv.Client().Get(srv.URL + "/v1/orders/" + sn + "/timeline/page")
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"Order status: <b>TRADE_SUCCESS</b>", "half_sent", "+40ms", "+55ms", "+1m30s", "WAIT_BUYER_PAY → TRADE_SUCCESS", "2026-05-01 12:01:30.000 UTC"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "<link") {
		t.Error("the page refers to external assets")
	}

	resp, err = srv.Client().Get(srv.URL + "/v1/orders/" + failedSN + "/timeline/page")
	if err != nil {
		t.Fatal(err)
	}
	page = readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(page, "No order was committed") || !strings.Contains(page, "+7.0s") {
		t.Errorf("failed order's page: %d\n%s", resp.StatusCode, page)
	}
	if strings.Contains(page, "<script>") || !strings.Contains(page, "&lt;script&gt;") {
		t.Error("a step's detail is not escaped")
	}
	if r := do(t, srv, "GET", "/v1/orders/20260501120000000000000000000000/timeline/page", ""); r.status != 404 {
		t.Errorf("unknown order's page: %d %v", r.status, r.raw)
	}
}

func TestMetrics_countRequestsByRouteTemplate(t *testing.T) {
	srv := serveWithMetrics(t)
	do(t, srv, "GET", "/v1/orders/"+sn, "")
	do(t, srv, "GET", "/v1/orders/"+failedSN, "")
	do(t, srv, "GET", "/v1/orders/"+sn+"/timeline", "")
	do(t, srv, "GET", "/no/such/path", "")
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text := readAll(t, resp)
	for _, want := range []string{
		`http_requests_total{code="200",method="GET",route="/v1/orders/:order_sn"} 1`,
		`http_requests_total{code="404",method="GET",route="/v1/orders/:order_sn"} 1`,
		`http_requests_total{code="200",method="GET",route="/v1/orders/:order_sn/timeline"} 1`,
		`http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`http_request_duration_seconds_count{method="GET",route="/v1/orders/:order_sn"} 2`,
		`orders_created_total 0`,
		`orders_rolled_back_total{reason="check_back"} 0`,
		`check_backs_total{answer="deliver-reback"} 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, failedSN) {
		t.Error("a raw path leaked into a label")
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
