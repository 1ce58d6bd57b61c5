package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// config is the demo's configuration, from flags over environment variables over defaults.
type config struct {
	dataDir string // --data-dir, DEMO_DATA_DIR: binaries, logs, broker store, SQLite files; "" = <repository>/data/demo
	keep    bool   // --keep: reuse the data dir of the previous run instead of starting fresh
	exit    bool   // --exit, or CI=true: exit after the scenarios

	ports ports

	// Both or neither: with them the services use MySQL instead of SQLite files. They come
	// from the environment (DEMO_MYSQL_DSN_INVENTORY, DEMO_MYSQL_DSN_ORDER) or the flags.
	mysqlInventoryDSN string
	mysqlOrderDSN     string

	txTimeout       time.Duration // broker --tx-timeout: age of a half message before its first check-back
	txCheckInterval time.Duration // broker --tx-check-interval: pause between check-backs
	speedup         int           // the delay levels run this many times faster than RocketMQ's table

	loadDuration time.Duration // --load-duration: scenario 6's load; 0 skips it
	loadBuyers   int           // --load-buyers: scenario 6's concurrent buyers

	// replicas is the instances of each service (--replicas, DEMO_REPLICAS): with 2, two
	// inventory_srv and two order_srv run on free loopback ports, each pair behind a
	// round-robin balancer on the service's port.
	replicas int
}

// ports are the loopback ports of the stack.
type ports struct {
	namesrv, broker, admin, inventory, order int
}

// defaultDelayLevels is RocketMQ's default delay-level table (and mqbroker's); level n delays a
// message by the n-th entry.
const defaultDelayLevels = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"

// payTimeoutLevel is the delay level of order_srv's payment timeout: 30 minutes in the default
// table (order_srv's default ORDER_PAY_TIMEOUT_LEVEL).
const payTimeoutLevel = 16

func defaultConfig() config {
	return config{
		ports:           ports{namesrv: 9876, broker: 10911, admin: 8080, inventory: 8082, order: 8081},
		txTimeout:       3 * time.Second,
		txCheckInterval: 3 * time.Second,
		speedup:         180, // the 30-minute payment timeout takes 10 s
		loadDuration:    5 * time.Second,
		loadBuyers:      8,
		replicas:        1,
	}
}

// loadConfig reads args (without the program name) and the environment through getenv, and
// validates the result, reporting every problem at once. -h prints the usage to usage and
// returns flag.ErrHelp.
func loadConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	c := defaultConfig()
	var errs []error
	if v := getenv("DEMO_DATA_DIR"); v != "" {
		c.dataDir = v
	}
	c.mysqlInventoryDSN = getenv("DEMO_MYSQL_DSN_INVENTORY")
	c.mysqlOrderDSN = getenv("DEMO_MYSQL_DSN_ORDER")
	if v := getenv("DEMO_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DEMO_REPLICAS %q is not a number", v))
		}
		c.replicas = n
	}
	switch ci := strings.ToLower(getenv("CI")); ci {
	case "", "0", "false":
	default:
		c.exit = true
	}

	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&c.dataDir, "data-dir", c.dataDir, "data directory: binaries, logs, broker store, SQLite files; emptied at start unless --keep (env DEMO_DATA_DIR; default: data/demo in the repository)")
	fs.BoolVar(&c.keep, "keep", c.keep, "keep the data of the previous run instead of starting fresh")
	fs.BoolVar(&c.exit, "exit", c.exit, "exit after the scenarios instead of leaving the stack running (default true when CI=true)")
	fs.IntVar(&c.ports.namesrv, "namesrv-port", c.ports.namesrv, "mqbroker name-server port")
	fs.IntVar(&c.ports.broker, "broker-port", c.ports.broker, "mqbroker broker port")
	fs.IntVar(&c.ports.admin, "admin-port", c.ports.admin, "mqbroker admin HTTP port")
	fs.IntVar(&c.ports.inventory, "inventory-port", c.ports.inventory, "inventory_srv HTTP port")
	fs.IntVar(&c.ports.order, "order-port", c.ports.order, "order_srv HTTP port")
	fs.StringVar(&c.mysqlInventoryDSN, "mysql-dsn-inventory", c.mysqlInventoryDSN, "use MySQL: inventory database DSN, e.g. user:pw@tcp(127.0.0.1:3306)/inventory (env DEMO_MYSQL_DSN_INVENTORY, better for a password)")
	fs.StringVar(&c.mysqlOrderDSN, "mysql-dsn-order", c.mysqlOrderDSN, "use MySQL: order database DSN (env DEMO_MYSQL_DSN_ORDER)")
	fs.DurationVar(&c.txTimeout, "tx-timeout", c.txTimeout, "broker: age of an undecided half message before it is checked back (production default 6s)")
	fs.DurationVar(&c.txCheckInterval, "tx-check-interval", c.txCheckInterval, "broker: pause between check-backs of one half message (production default 60s)")
	fs.IntVar(&c.speedup, "speedup", c.speedup, "delay levels run this many times faster than RocketMQ's table (180: the 30-minute payment timeout takes 10s)")
	fs.DurationVar(&c.loadDuration, "load-duration", c.loadDuration, "scenario 6: how long the concurrent buyers send orders (0 skips the scenario)")
	fs.IntVar(&c.loadBuyers, "load-buyers", c.loadBuyers, "scenario 6: concurrent buyers, each with one order in flight")
	fs.IntVar(&c.replicas, "replicas", c.replicas, "instances of inventory_srv and of order_srv (1 or 2); with 2, a round-robin balancer serves each service's port (env DEMO_REPLICAS)")
	fs.Usage = func() {
		fmt.Fprintf(usage, "Usage: go run ./demo [flags]\n\n"+
			"Builds and starts mqbroker, inventory_srv and order_srv, plays the saga's scenarios,\n"+
			"then leaves the stack running until Ctrl-C.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		errs = append(errs, err)
	} else if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if err := errors.Join(append(errs, c.validate())...); err != nil {
		return c, fmt.Errorf("config:\n%w", err)
	}
	return c, nil
}

// validate reports every problem of c at once.
func (c config) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	seen := map[int]string{}
	for _, p := range c.ports.list() {
		switch {
		case p.port < 1 || p.port > 65535:
			add("%s port %d is not 1-65535", p.name, p.port)
		case seen[p.port] != "":
			add("%s and %s cannot share port %d", seen[p.port], p.name, p.port)
		default:
			seen[p.port] = p.name
		}
	}
	if (c.mysqlInventoryDSN == "") != (c.mysqlOrderDSN == "") {
		add("give both MySQL DSNs (inventory and order) or neither (SQLite)")
	}
	if c.txTimeout <= 0 || c.txCheckInterval <= 0 {
		add("tx timeout and tx check interval must be positive")
	}
	if c.speedup < 1 {
		add("speedup must be at least 1, got %d", c.speedup)
	}
	if c.loadDuration < 0 || c.loadDuration > time.Hour {
		add("load duration must be between 0 (no load) and 1h, got %v", c.loadDuration)
	}
	if c.replicas < 1 || c.replicas > 2 {
		add("replicas must be 1 or 2, got %d", c.replicas)
	}
	if c.loadBuyers < 1 || c.loadBuyers > 1000 {
		add("load buyers must be between 1 and 1000, got %d", c.loadBuyers)
	}
	return errors.Join(errs...)
}

func (c config) mysql() bool { return c.mysqlInventoryDSN != "" }

type namedPort struct {
	name string
	port int
}

func (p ports) list() []namedPort {
	return []namedPort{
		{"mqbroker name server", p.namesrv}, {"mqbroker broker", p.broker}, {"mqbroker admin", p.admin},
		{"inventory_srv", p.inventory}, {"order_srv", p.order},
	}
}

// delayLevels returns RocketMQ's default delay-level table divided by speedup, in the syntax of
// mqbroker --delay-levels: the level numbers keep their meaning, only the delays shrink.
func delayLevels(speedup int) (string, error) {
	fields := strings.Fields(defaultDelayLevels)
	out := make([]string, len(fields))
	for i, f := range fields {
		d, err := time.ParseDuration(f)
		if err != nil {
			return "", fmt.Errorf("delay level %d %q: %w", i+1, f, err)
		}
		ms := max(1, (d / time.Duration(speedup)).Milliseconds())
		if ms%1000 == 0 {
			out[i] = strconv.FormatInt(ms/1000, 10) + "s"
		} else {
			out[i] = strconv.FormatInt(ms, 10) + "ms"
		}
	}
	return strings.Join(out, " "), nil
}

// levelDelay returns the delay of level (1-based) in a table made by delayLevels.
func levelDelay(table string, level int) time.Duration {
	fields := strings.Fields(table)
	if level < 1 || level > len(fields) {
		return 0
	}
	d, _ := time.ParseDuration(fields[level-1])
	return d
}

// defaultLevelDelay returns the delay of level in RocketMQ's default table.
func defaultLevelDelay(level int) time.Duration { return levelDelay(defaultDelayLevels, level) }

// fmtDuration writes whole minutes and hours without the trailing zero units: 30m, 2h, 10s.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}
