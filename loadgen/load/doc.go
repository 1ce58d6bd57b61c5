// Package load drives a running shopsaga stack with orders and checks that no stock was lost or
// invented: the engine of the loadgen command, also used by the demo and the benchmarks.
//
// Run creates (or resets) the run's own goods in inventory_srv, runs Config.Concurrency workers
// that POST /v1/orders for a random SKU — optionally paying a fraction of the created orders and
// injecting a fraction of fail-local-tx faults — for Config.Duration or Config.Orders, then waits
// for the stock invariant: for every SKU, initial − remaining = the pieces of the created orders
// that still hold stock (not closed by the payment timeout). Compensations are asynchronous, so
// it polls until the invariant holds or Config.Settle passes. The Result has the numbers
// (orders/s, latency p50/p99/max, outcomes) and Summary renders them as a markdown table.
//
// The package is a client only: it talks to the services over HTTP and imports none of their
// code.
package load
