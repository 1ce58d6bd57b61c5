//go:build !race

package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

// BenchmarkCreateOrder measures the whole order flow on this machine: HTTP into order_srv (run
// in-process), the reback half message on mqbroker (in-process, async flush), inventory_srv's
// sell (a process, its own MariaDB transaction), order_srv's local MariaDB transaction (barrier,
// order, items), the delayed timeout message and END_TRANSACTION. 64 concurrent clients; it
// reports orders/s and the p50/p99 latency of POST /v1/orders. MariaDB is whatever mysqltest
// gives (SHOPSAGA_TEST_MYSQL_DSN or the container).
//
//	go test -run '^$' -bench CreateOrder -benchtime 3000x ./order_srv
func BenchmarkCreateOrder(b *testing.B) {
	// The broker's default check-back timing (first check after 6 s), as in production.
	s := newSystem(b, brokertest.WithTxTimeout(6*time.Second), brokertest.WithTxCheckInterval(time.Minute))
	const skus = 1000
	for id := int64(1); id <= skus; id++ {
		s.putGoods(id, 100+id, 1_000_000_000)
	}
	url := s.startOrderInProcess(timeoutNever)

	b.Run("hot_sku", func(b *testing.B) { benchOrders(b, url, func(*rand.Rand) int64 { return 1 }) })
	b.Run("many_skus", func(b *testing.B) {
		benchOrders(b, url, func(r *rand.Rand) int64 { return 1 + r.Int64N(skus) })
	})
}

func benchOrders(b *testing.B, url string, goods func(*rand.Rand) int64) {
	b.SetParallelism(32) // × GOMAXPROCS clients
	var mu sync.Mutex
	var latencies []time.Duration
	var failures []string
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			st, body := call(b, "POST", url+"/v1/orders", orderRequest(1+r.Int64N(10_000), [2]int64{goods(r), 1}))
			mine = append(mine, time.Since(t0))
			if st != http.StatusCreated {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%d %v", st, body))
				mu.Unlock()
			}
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(failures) > 0 {
		b.Fatalf("%d of %d orders failed, e.g. %s", len(failures), b.N, failures[0])
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orders/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(0, "ns/op") // meaningless for a parallel end-to-end flow
}
