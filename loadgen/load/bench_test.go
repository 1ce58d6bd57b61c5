package load

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// BenchmarkSaga is the black-box benchmark of the whole saga over HTTP: mqbroker in-process,
// inventory_srv and order_srv as processes on SQLite files, 8 workers sending b.N orders for one
// SKU with enough stock that every order is created, then the stock invariant. It reports
// orders/s and the latency p50/p99 of POST /v1/orders; ns/op is the wall time per order.
// order_srv's BenchmarkCreateOrder is the white-box one: order_srv in-process on MariaDB with 64
// clients; this one is what a client of the processes sees, through the loadgen engine.
//
//	go test -run '^$' -bench BenchmarkSaga -benchtime 500x ./loadgen/load
func BenchmarkSaga(b *testing.B) {
	if testing.Short() {
		b.Skip("builds and starts the whole stack; skipped in -short mode")
	}
	if _, err := exec.LookPath("go"); err != nil {
		b.Skip("no go command to build the services")
	}
	b.StopTimer()
	orderURL, invURL := startStack(b)
	cfg := DefaultConfig()
	cfg.OrderURL, cfg.InventoryURL = orderURL, invURL
	cfg.Token = stackToken(b)
	cfg.Duration, cfg.Orders, cfg.Stock, cfg.Seed = 0, int64(b.N), int64(b.N), 1
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	b.StartTimer()
	r, err := Run(ctx, cfg, nil)
	b.StopTimer()
	if err != nil {
		if r != nil {
			b.Log(r.Summary())
		}
		b.Fatalf("run: %v", err)
	}
	if r.Created != int64(b.N) {
		b.Fatalf("created %d of %d orders\n%s", r.Created, b.N, r.Summary())
	}
	b.ReportMetric(r.OrdersPerSecond(), "orders/s")
	b.ReportMetric(float64(r.P50)/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(r.P99)/float64(time.Millisecond), "p99-ms")
}
