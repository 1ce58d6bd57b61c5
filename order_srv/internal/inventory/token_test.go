package inventory_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/order_srv/internal/inventory"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// TestWithToken_sendsTheServiceToken_alsoWithTracing: every call carries the bearer token from
// the source, and tracing, wrapped around it, does not drop it.
func TestWithToken_sendsTheServiceToken_alsoWithTracing(t *testing.T) {
	const secret = "inventory-client-token-test-0123456789ab"
	var mu sync.Mutex // guards seen
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"order_sn":"` + string(sn) + `","outcome":"returned"}`))
	}))
	t.Cleanup(srv.Close)
	ts, err := auth.NewServiceTokenSource(secret, "order_srv")
	if err != nil {
		t.Fatal(err)
	}
	c, err := inventory.New(srv.URL, time.Second, inventory.WithToken(ts),
		inventory.WithTracing(tracenoop.NewTracerProvider(), propagation.TraceContext{}))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.Reback(context.Background(), order.SN(sn)); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := auth.NewVerifier(context.Background(), auth.Config{JWTSecret: secret})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != seen[1] || len(seen[0]) < 8 {
		t.Fatalf("Authorization headers %q: want the same cached token twice", seen)
	}
	if p, err := v.Verify(seen[0][len("Bearer "):]); err != nil || !p.Has(auth.ScopeService) {
		t.Fatalf("token %+v %v", p, err)
	}
}
