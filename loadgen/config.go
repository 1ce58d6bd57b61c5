package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/loadgen/load"
)

// config is loadgen's configuration: flags over environment variables over defaults.
type config struct {
	load     load.Config       // every flag but --progress; env LOADGEN_ORDER_URL, LOADGEN_INVENTORY_URL
	progress load.ProgressMode // --progress
}

func defaultConfig() config {
	return config{load: load.DefaultConfig(), progress: load.ProgressAuto}
}

// loadConfig reads args (without the program name) and the environment through getenv and
// validates the result, reporting every problem at once. -h prints the usage to usage and
// returns flag.ErrHelp.
func loadConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	c := defaultConfig()
	if v := getenv("LOADGEN_ORDER_URL"); v != "" {
		c.load.OrderURL = v
	}
	if v := getenv("LOADGEN_INVENTORY_URL"); v != "" {
		c.load.InventoryURL = v
	}
	// The token: LOADGEN_TOKEN as given, or minted from the stack's AUTH_JWT_SECRET (environment
	// only: secrets never go on a command line).
	c.load.Token = getenv("LOADGEN_TOKEN")
	if secret := getenv("AUTH_JWT_SECRET"); c.load.Token == "" && secret != "" {
		tok, err := auth.Mint(secret, "loadgen", 24*time.Hour, auth.ScopeAdmin, auth.ScopeService)
		if err != nil {
			return c, fmt.Errorf("config: AUTH_JWT_SECRET: %w", err)
		}
		c.load.Token = tok
	}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() {
		fmt.Fprint(usage, "loadgen drives a running shopsaga stack with orders and checks the stock invariant.\n\n"+
			"Usage: go run ./loadgen [flags]\n\n"+
			"Authentication (environment only): LOADGEN_TOKEN, a bearer token of the scopes admin and service,\n"+
			"or AUTH_JWT_SECRET, the stack's secret, to mint one. The stack needs ORDER_PAYMENT_SIMULATOR=1 for\n"+
			"--pay-ratio above 0.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.load.OrderURL, "order-url", c.load.OrderURL, "order_srv base URL (env LOADGEN_ORDER_URL)")
	fs.StringVar(&c.load.InventoryURL, "inventory-url", c.load.InventoryURL, "inventory_srv base URL (env LOADGEN_INVENTORY_URL)")
	fs.Int64Var(&c.load.GoodsBase, "goods-base", c.load.GoodsBase, "first goods id of the SKUs loadgen creates (their stock is reset)")
	fs.IntVar(&c.load.SKUs, "skus", c.load.SKUs, "number of SKUs; 1 = one hot SKU")
	fs.Int64Var(&c.load.Stock, "stock", c.load.Stock, "initial stock of each SKU")
	fs.Int64Var(&c.load.PriceCents, "price-cents", c.load.PriceCents, "price of each SKU in cents")
	fs.Int64Var(&c.load.Num, "num", c.load.Num, "pieces per order")
	fs.IntVar(&c.load.Concurrency, "concurrency", c.load.Concurrency, "workers, each with one order request in flight")
	fs.DurationVar(&c.load.Duration, "duration", c.load.Duration, "how long to send orders (ignored when only --orders is given; both: whichever ends first)")
	fs.Int64Var(&c.load.Orders, "orders", c.load.Orders, "number of orders to send (0 = until --duration ends)")
	fs.Float64Var(&c.load.PayRatio, "pay-ratio", c.load.PayRatio, "fraction of created orders to pay right away (0..1)")
	fs.Float64Var(&c.load.FaultRatio, "fault-ratio", c.load.FaultRatio, "fraction of orders sent with X-Fault: fail-local-tx (0..1; the stack needs ORDER_FAULTS=1, the token the admin scope)")
	fs.DurationVar(&c.load.Timeout, "timeout", c.load.Timeout, "bound of one HTTP request")
	fs.Uint64Var(&c.load.Seed, "seed", c.load.Seed, "random seed (0 = from the clock)")
	fs.DurationVar(&c.load.Settle, "settle", c.load.Settle, "how long to wait for the stock invariant after the load (compensations are asynchronous)")
	fs.Float64Var(&c.load.MaxErrorRatio, "max-error-ratio", c.load.MaxErrorRatio, "transport errors per order sent above which the run fails (0..1)")
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
	if c.load.Orders > 0 && !set["duration"] {
		c.load.Duration = 0 // --orders alone: run until they are sent
	}
	c.progress = load.ProgressMode(progress)
	if c.load.Seed == 0 {
		c.load.Seed = uint64(time.Now().UnixNano())
	}
	if err := c.validate(); err != nil {
		return c, fmt.Errorf("config:\n%w", err)
	}
	return c, nil
}

// validate reports every problem of c at once.
func (c config) validate() error {
	var errs []error
	if err := c.load.Validate(); err != nil {
		errs = append(errs, err)
	}
	if !c.progress.Valid() {
		errs = append(errs, fmt.Errorf("--progress must be auto, tty, lines or off, got %q", c.progress))
	}
	return errors.Join(errs...)
}
