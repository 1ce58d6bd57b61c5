package load

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config is one run. The problems Validate reports name loadgen's flags (--skus for SKUs, …),
// which map one to one onto the fields.
type Config struct {
	OrderURL     string // order_srv base URL
	InventoryURL string // inventory_srv base URL
	// Token is the bearer token sent with every request: one of the scopes admin and service
	// (loadgen orders for many users, writes goods and pays with the payment simulator); "" for
	// a stack with AUTH_DISABLED=1. Secret: not shown in the summary.
	Token string

	GoodsBase  int64 // the first goods id; the SKUs are GoodsBase … GoodsBase+SKUs-1 (their stock is reset)
	SKUs       int   // 1 = one hot SKU
	Stock      int64 // initial stock of each SKU
	PriceCents int64 // price of each SKU
	Num        int64 // pieces per order

	Concurrency int           // workers, each with one request in flight
	Duration    time.Duration // how long to send; 0 = until Orders are sent
	Orders      int64         // how many orders to send; 0 = until Duration ends; both: whichever ends first
	PayRatio    float64       // fraction of created orders paid right away
	FaultRatio  float64       // fraction of orders sent with X-Fault: fail-local-tx (the stack needs ORDER_FAULTS=1)
	Timeout     time.Duration // bound of one HTTP request
	Seed        uint64        // random seed of the SKU, fault and payment choices (shown in the summary)

	Settle        time.Duration // how long to wait for the stock invariant after the load
	MaxErrorRatio float64       // transport errors per order sent above which the run fails
}

// DefaultConfig is loadgen's defaults: the services on their default local ports, one hot SKU
// of 1000 pieces at goods id 900000, 8 workers for 10 s. Seed is 0: set one.
func DefaultConfig() Config {
	return Config{
		OrderURL:      "http://127.0.0.1:8081",
		InventoryURL:  "http://127.0.0.1:8082",
		GoodsBase:     900000,
		SKUs:          1,
		Stock:         1000,
		PriceCents:    1000,
		Num:           1,
		Concurrency:   8,
		Duration:      10 * time.Second,
		Timeout:       10 * time.Second,
		Settle:        30 * time.Second,
		MaxErrorRatio: 0.01,
	}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, f := range []struct{ name, raw string }{{"--order-url", c.OrderURL}, {"--inventory-url", c.InventoryURL}} {
		u, err := url.Parse(f.raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("%s: %q is not an http(s) URL", f.name, f.raw)
		}
	}
	if c.GoodsBase <= 0 {
		bad("--goods-base must be positive, got %d", c.GoodsBase)
	}
	if c.SKUs < 1 || c.SKUs > 100_000 {
		bad("--skus must be between 1 and 100000, got %d", c.SKUs)
	}
	if c.Stock < 0 {
		bad("--stock must not be negative, got %d", c.Stock)
	}
	if c.PriceCents < 0 {
		bad("--price-cents must not be negative, got %d", c.PriceCents)
	}
	if c.Num < 1 || c.Num > 10_000 {
		bad("--num must be between 1 and 10000 (order_srv's limit per line), got %d", c.Num)
	}
	if c.Concurrency < 1 || c.Concurrency > 10_000 {
		bad("--concurrency must be between 1 and 10000, got %d", c.Concurrency)
	}
	if c.Duration < 0 {
		bad("--duration must not be negative, got %v", c.Duration)
	}
	if c.Orders < 0 {
		bad("--orders must not be negative, got %d", c.Orders)
	}
	if c.Duration == 0 && c.Orders == 0 {
		bad("give --duration or --orders (or both)")
	}
	for _, f := range []struct {
		name string
		r    float64
	}{{"--pay-ratio", c.PayRatio}, {"--fault-ratio", c.FaultRatio}, {"--max-error-ratio", c.MaxErrorRatio}} {
		if !(f.r >= 0 && f.r <= 1) { // also refuses NaN
			bad("%s must be between 0 and 1, got %v", f.name, f.r)
		}
	}
	if c.Timeout <= 0 {
		bad("--timeout must be positive, got %v", c.Timeout)
	}
	if c.Settle <= 0 {
		bad("--settle must be positive, got %v", c.Settle)
	}
	return errors.Join(errs...)
}

// sku returns the goods id of SKU i (0-based).
func (c Config) sku(i int) int64 { return c.GoodsBase + int64(i) }
