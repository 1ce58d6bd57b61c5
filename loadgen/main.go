// Command loadgen drives a running shopsaga stack with orders and checks that no stock was lost
// or invented. It creates its own goods in inventory_srv (ids from --goods-base, away from demo
// data), then runs --concurrency workers that POST /v1/orders for a random SKU — optionally paying
// a fraction of the created orders and injecting a fraction of fail-local-tx faults — for
// --duration or --orders N. A progress line goes to stderr; the summary (orders/s, latency
// p50/p99/max, outcomes and the stock invariant) is a markdown table on stdout.
//
//	go run ./loadgen --skus 1 --stock 500 --concurrency 16 --duration 20s
//	go run ./loadgen --orders 200 --stock 50        # 50 created, 150 out of stock
//	go run ./loadgen -h                             # every flag
//
// The stock invariant, checked after the system settles (in-flight compensations may return
// stock for a while after the last answer): for every SKU, initial − remaining = the pieces of
// the created orders that still hold stock (not closed by the payment timeout). The exit status
// is non-zero when the invariant fails or transport errors exceed --max-error-ratio.
//
// The engine is package load (loadgen/load), which the demo and the benchmarks use too; this
// command is its flags and output. It is a client only: it talks to the services over HTTP and
// imports none of their code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/shopsaga/shopsaga/loadgen/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		stop()
		os.Exit(1)
	}
}

// run loads the configuration, sets up the goods, runs the load, waits for the stock to settle
// and prints the summary to stdout. The progress line goes to stderr. It returns an error when
// the configuration is invalid, the goods cannot be set up, the invariant fails, transport
// errors exceed the threshold or ctx ends first.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	res, err := load.Run(ctx, cfg.load, load.NewProgress(os.Stderr, cfg.progress))
	if res != nil {
		if _, werr := io.WriteString(stdout, res.Summary()); werr != nil {
			return errors.Join(err, fmt.Errorf("write the summary: %w", werr))
		}
	}
	return err
}
