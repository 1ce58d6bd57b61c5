package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"
)

// config is loadgen's configuration: flags over environment variables over defaults.
type config struct {
	orderURL     string // --order-url, LOADGEN_ORDER_URL
	inventoryURL string // --inventory-url, LOADGEN_INVENTORY_URL

	goodsBase  int64 // --goods-base: the first goods id; the SKUs are goodsBase … goodsBase+skus-1
	skus       int   // --skus: 1 = one hot SKU
	stock      int64 // --stock: initial stock of each SKU
	priceCents int64 // --price-cents: price of each SKU
	num        int64 // --num: pieces per order

	concurrency int           // --concurrency: workers, each with one request in flight
	duration    time.Duration // --duration: how long to send; 0 = until --orders are sent
	orders      int64         // --orders: how many orders to send; 0 = until --duration ends
	payRatio    float64       // --pay-ratio: fraction of created orders paid right away
	faultRatio  float64       // --fault-ratio: fraction of orders sent with X-Fault: fail-local-tx
	timeout     time.Duration // --timeout: bound of one HTTP request
	seed        uint64        // --seed: random seed; 0 = from the clock (printed in the summary)

	settle        time.Duration // --settle: how long to wait for the stock invariant to hold
	maxErrorRatio float64       // --max-error-ratio: transport errors per order sent that fail the run
	progress      progressMode  // --progress
}

func defaultConfig() config {
	return config{
		orderURL:      "http://127.0.0.1:8081",
		inventoryURL:  "http://127.0.0.1:8082",
		goodsBase:     900000,
		skus:          1,
		stock:         1000,
		priceCents:    1000,
		num:           1,
		concurrency:   8,
		duration:      10 * time.Second,
		timeout:       10 * time.Second,
		settle:        30 * time.Second,
		maxErrorRatio: 0.01,
		progress:      progressAuto,
	}
}

// loadConfig reads args (without the program name) and the environment through getenv and
// validates the result, reporting every problem at once. -h prints the usage to usage and
// returns flag.ErrHelp.
func loadConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	c := defaultConfig()
	if v := getenv("LOADGEN_ORDER_URL"); v != "" {
		c.orderURL = v
	}
	if v := getenv("LOADGEN_INVENTORY_URL"); v != "" {
		c.inventoryURL = v
	}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() {
		fmt.Fprint(usage, "loadgen drives a running shopsaga stack with orders and checks the stock invariant.\n\n"+
			"Usage: go run ./loadgen [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.orderURL, "order-url", c.orderURL, "order_srv base URL (env LOADGEN_ORDER_URL)")
	fs.StringVar(&c.inventoryURL, "inventory-url", c.inventoryURL, "inventory_srv base URL (env LOADGEN_INVENTORY_URL)")
	fs.Int64Var(&c.goodsBase, "goods-base", c.goodsBase, "first goods id of the SKUs loadgen creates (their stock is reset)")
	fs.IntVar(&c.skus, "skus", c.skus, "number of SKUs; 1 = one hot SKU")
	fs.Int64Var(&c.stock, "stock", c.stock, "initial stock of each SKU")
	fs.Int64Var(&c.priceCents, "price-cents", c.priceCents, "price of each SKU in cents")
	fs.Int64Var(&c.num, "num", c.num, "pieces per order")
	fs.IntVar(&c.concurrency, "concurrency", c.concurrency, "workers, each with one order request in flight")
	fs.DurationVar(&c.duration, "duration", c.duration, "how long to send orders (ignored when only --orders is given; both: whichever ends first)")
	fs.Int64Var(&c.orders, "orders", c.orders, "number of orders to send (0 = until --duration ends)")
	fs.Float64Var(&c.payRatio, "pay-ratio", c.payRatio, "fraction of created orders to pay right away (0..1)")
	fs.Float64Var(&c.faultRatio, "fault-ratio", c.faultRatio, "fraction of orders sent with X-Fault: fail-local-tx (0..1; the stack needs ORDER_FAULTS=1)")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "bound of one HTTP request")
	fs.Uint64Var(&c.seed, "seed", c.seed, "random seed (0 = from the clock)")
	fs.DurationVar(&c.settle, "settle", c.settle, "how long to wait for the stock invariant after the load (compensations are asynchronous)")
	fs.Float64Var(&c.maxErrorRatio, "max-error-ratio", c.maxErrorRatio, "transport errors per order sent above which the run fails (0..1)")
	progress := string(c.progress)
	fs.StringVar(&progress, "progress", progress, "progress line on stderr: auto (tty: rewritten every 500ms, else a line every 5s), tty, lines or off")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("config: unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.orders > 0 && !set["duration"] {
		c.duration = 0 // --orders alone: run until they are sent
	}
	c.progress = progressMode(progress)
	if c.seed == 0 {
		c.seed = uint64(time.Now().UnixNano())
	}
	if err := c.validate(); err != nil {
		return c, fmt.Errorf("config:\n%w", err)
	}
	return c, nil
}

// validate reports every problem of c at once.
func (c config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, f := range []struct{ name, raw string }{{"--order-url", c.orderURL}, {"--inventory-url", c.inventoryURL}} {
		u, err := url.Parse(f.raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("%s: %q is not an http(s) URL", f.name, f.raw)
		}
	}
	if c.goodsBase <= 0 {
		bad("--goods-base must be positive, got %d", c.goodsBase)
	}
	if c.skus < 1 || c.skus > 100_000 {
		bad("--skus must be between 1 and 100000, got %d", c.skus)
	}
	if c.stock < 0 {
		bad("--stock must not be negative, got %d", c.stock)
	}
	if c.priceCents < 0 {
		bad("--price-cents must not be negative, got %d", c.priceCents)
	}
	if c.num < 1 || c.num > 10_000 {
		bad("--num must be between 1 and 10000 (order_srv's limit per line), got %d", c.num)
	}
	if c.concurrency < 1 || c.concurrency > 10_000 {
		bad("--concurrency must be between 1 and 10000, got %d", c.concurrency)
	}
	if c.duration < 0 {
		bad("--duration must not be negative, got %v", c.duration)
	}
	if c.orders < 0 {
		bad("--orders must not be negative, got %d", c.orders)
	}
	if c.duration == 0 && c.orders == 0 {
		bad("give --duration or --orders (or both)")
	}
	for _, f := range []struct {
		name string
		r    float64
	}{{"--pay-ratio", c.payRatio}, {"--fault-ratio", c.faultRatio}, {"--max-error-ratio", c.maxErrorRatio}} {
		if !(f.r >= 0 && f.r <= 1) { // also refuses NaN
			bad("%s must be between 0 and 1, got %v", f.name, f.r)
		}
	}
	if c.timeout <= 0 {
		bad("--timeout must be positive, got %v", c.timeout)
	}
	if c.settle <= 0 {
		bad("--settle must be positive, got %v", c.settle)
	}
	switch c.progress {
	case progressAuto, progressTTY, progressLines, progressOff:
	default:
		bad("--progress must be auto, tty, lines or off, got %q", c.progress)
	}
	return errors.Join(errs...)
}

// sku returns the goods id of SKU i (0-based).
func (c config) sku(i int) int64 { return c.goodsBase + int64(i) }
