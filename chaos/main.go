//go:build unix

// Command chaos runs a fault campaign against the whole shopsaga stack and checks that the saga
// heals: `go run ./chaos` (from the repository) builds mqbroker, two inventory_srv and two
// order_srv instances (-instances), runs them as processes on SQLite files, drives orders with
// payments and the three X-Fault faults, and meanwhile injects at random:
//
//   - kill -9 of any program (each is restarted by its supervisor, as systemd would);
//   - SIGSTOP … SIGCONT pauses of any program (a GC pause, a stuck disk);
//   - partitions between order_srv and inventory_srv, and between the services and the broker
//     (name server and broker), through fault-injecting TCP proxies on every such path that
//     close the connections (partition) or keep them and drop their bytes (blackhole) — no root
//     needed; or, with -partitions netns (Linux, root), the programs in network namespaces
//     joined by veth pairs and partitions as nft DROP rules (netns_linux.go);
//   - duplicated deliveries: copies of the payment-timeout message of an order that is already
//     paid or closed, and of the stock-return message of a closed order.
//
// The database is SQLite files (-db sqlite, the default: no server process to kill; a kill of a
// service kills its embedded database mid-write) or MariaDB in a Docker container (-db mariadb),
// which the campaign also kills -9 (docker kill --signal KILL, then start: crash recovery on the
// same data) and pauses (docker pause). Afterwards it
// waits for the saga to settle and prints a table of the invariants, the faults and the seed:
// `go run ./chaos -seed N` replays the same choices (timing still varies).
//
// Exit status 1 if an invariant is violated after -settle, or if some kind of fault was never
// injected successfully (failed injections are reported apart and not counted). Unix only
// (SIGSTOP, SIGCONT).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/internal/programs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

type config struct {
	duration   time.Duration
	settle     time.Duration
	seed       uint64
	workers    int
	skus       int
	stock      int64
	faultEvery time.Duration
	faultP     float64
	payP       float64
	dir        string
	keep       bool
	db         string // sqlite or mariadb
	image      string // the MariaDB image for -db mariadb
	instances  int    // of each service
	partitions string // proxy or netns
}

func parseConfig(args []string, out io.Writer) (config, error) {
	c := config{duration: 2 * time.Minute, settle: 4 * time.Minute, workers: 12, instances: 2, skus: 10, stock: 1_000_000,
		faultEvery: 2 * time.Second, faultP: 0.01, payP: 0.6}
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.DurationVar(&c.duration, "duration", c.duration, "how long to drive orders and inject faults")
	fs.DurationVar(&c.settle, "settle", c.settle, "how long to wait afterwards for every invariant to hold")
	fs.Uint64Var(&c.seed, "seed", 0, "random seed (0: from the clock); printed for replay")
	fs.IntVar(&c.workers, "workers", c.workers, "concurrent buyers")
	fs.IntVar(&c.instances, "instances", c.instances, "instances of each service (order_srv, inventory_srv), each behind one address")
	fs.StringVar(&c.partitions, "partitions", "proxy", "proxy (TCP proxies close connections or drop their bytes; no root) or netns (Linux, root: the programs in network namespaces joined by veth pairs, partitions are nft DROP rules; SQLite only)")
	fs.IntVar(&c.skus, "skus", c.skus, "goods ordered")
	fs.Int64Var(&c.stock, "stock", c.stock, "initial stock of each goods")
	fs.DurationVar(&c.faultEvery, "fault-every", c.faultEvery, "mean pause between injected faults")
	fs.Float64Var(&c.faultP, "x-fault-ratio", c.faultP, "fraction of orders sent with an X-Fault header")
	fs.Float64Var(&c.payP, "pay-ratio", c.payP, "fraction of created orders paid")
	fs.StringVar(&c.dir, "dir", "", "working directory (default: a new temporary one)")
	fs.BoolVar(&c.keep, "keep", false, "keep the working directory (logs, databases) afterwards")
	fs.StringVar(&c.db, "db", "sqlite", "sqlite (files) or mariadb (a Docker container the campaign also kills -9 and pauses)")
	fs.StringVar(&c.image, "mariadb-image", "shopsaga/mariadb:10.11", "MariaDB image for -db mariadb (built by deploy/mariadb/build.sh)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var errs []error
	if c.duration <= 0 || c.settle <= 0 || c.faultEvery <= 0 {
		errs = append(errs, errors.New("-duration, -settle and -fault-every must be positive"))
	}
	if c.workers < 1 || c.skus < 1 || c.stock < 1 || c.instances < 1 {
		errs = append(errs, errors.New("-workers, -instances, -skus and -stock must be at least 1"))
	}
	if c.faultP < 0 || c.faultP > 1 || c.payP < 0 || c.payP > 1 {
		errs = append(errs, errors.New("-x-fault-ratio and -pay-ratio must be within 0..1"))
	}
	if c.db != "sqlite" && c.db != "mariadb" {
		errs = append(errs, fmt.Errorf("-db %q: want sqlite or mariadb", c.db))
	}
	switch c.partitions {
	case "proxy":
	case "netns":
		if c.db != "sqlite" {
			errs = append(errs, errors.New("-partitions netns runs on -db sqlite only (the database container is not in the namespaces)"))
		}
		if os.Geteuid() != 0 {
			errs = append(errs, errors.New("-partitions netns needs root (network namespaces, nft)"))
		}
		if err := netnsSupported(); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("-partitions %q: want proxy or netns", c.partitions))
	}
	if c.seed == 0 {
		c.seed = uint64(time.Now().UnixNano())
	}
	return c, errors.Join(errs...)
}

// The broker's delay levels in the campaign: the shape of the default table, in seconds. Level 6
// (6 s) is the payment timeout; consumer retries wait level 3 + n (3 s … 10 s).
const (
	delayLevels     = "1s 2s 3s 4s 5s 6s 7s 8s 9s 10s 10s 10s 10s 10s 10s 10s 10s 10s"
	payTimeoutLevel = 6
	payTimeout      = 6 * time.Second
)

func run(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parseConfig(args, out)
	if err != nil {
		return err
	}
	rnd := rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x5eed))
	fmt.Fprintf(out, "chaos: seed %d (replay: go run ./chaos -seed %d -duration %v)\n", cfg.seed, cfg.seed, cfg.duration)
	goTool, root, err := programs.FindModule(ctx)
	if err != nil {
		return err
	}
	dir := cfg.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "shopsaga-chaos-"); err != nil {
			return err
		}
	}
	if !cfg.keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Fprintf(out, "chaos: working directory %s\n", dir)
	}
	bin := filepath.Join(dir, "bin")
	if err := programs.Build(ctx, goTool, root, bin); err != nil {
		return err
	}
	var db *mariadb
	if cfg.db == "mariadb" {
		// The driver logs every connection the kill -9 of the server breaks; the campaign expects them.
		_ = mysqldriver.SetLogger(log.New(io.Discard, "", 0))
		port, err := freePort()
		if err != nil {
			return err
		}
		db = &mariadb{name: fmt.Sprintf("shopsaga-chaos-heal-%d", cfg.seed%1_000_000), image: cfg.image, port: port, password: "chaos"}
	}
	var nl *netLayout
	if cfg.partitions == "netns" {
		if nl, err = newNetLayout(ctx, int(cfg.seed%80)); err != nil {
			return err
		}
		defer func() { _ = nl.heal(""); nl.remove() }() // after the stack's stop (deferred later)
	}
	s, err := startStack(ctx, dir, bin, db, nl, cfg.instances)
	if s != nil {
		defer s.stop()
	}
	if err != nil {
		return err
	}
	initial := map[int64]int64{}
	var skus []int64
	for i := range cfg.skus {
		id := int64(700000 + i)
		skus = append(skus, id)
		initial[id] = cfg.stock
		if err := putGoods(ctx, s.invURL, id, cfg.stock); err != nil {
			return err
		}
	}

	mqclient.Setup(discardLogger())
	dup, err := rocketmq.NewProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{s.namesrv})),
		producer.WithGroupName("chaos_duplicates"),
		producer.WithInstanceName(mqclient.InstanceName("chaos")),
		producer.WithRetry(2),
	)
	if err != nil {
		return err
	}
	if err := dup.Start(); err != nil {
		return err
	}
	defer func() { _ = dup.Shutdown() }()

	led := newLedger()
	var users atomic.Int64
	users.Store(time.Now().Unix() % 1_000_000 * 1000)
	d := &driver{orderURLs: s.orderURLs, skus: skus, faultP: cfg.faultP, payP: cfg.payP, payWithin: payTimeout + 2*time.Second,
		led: led, client: &http.Client{Timeout: 30 * time.Second}, nextUser: func() int64 { return users.Add(1) }}
	in := &injector{s: s, rnd: rand.New(rand.NewPCG(rnd.Uint64(), rnd.Uint64())), led: led, dup: dup, start: time.Now()}

	fmt.Fprintf(out, "chaos: driving %d buyers for %v, a fault every ~%v\n", cfg.workers, cfg.duration, cfg.faultEvery)
	cctx, cancel := context.WithTimeout(ctx, cfg.duration)
	var wg sync.WaitGroup
	for range cfg.workers {
		wg.Add(1)
		go d.worker(cctx, rand.New(rand.NewPCG(rnd.Uint64(), rnd.Uint64())), &wg)
	}
	in.run(cctx, cfg.faultEvery)
	wg.Wait()
	cancel()
	in.wg.Wait()
	for _, p := range s.programs {
		_ = p.signal(syscall.SIGCONT) // one exited and restarting is not stopped either
	}
	for _, p := range s.proxies {
		p.heal()
	}
	var healErr error
	if nl != nil { // the nft partitions still running, not left to their timers
		if healErr = nl.heal(""); healErr != nil {
			fmt.Fprintf(out, "chaos: healing the nft partitions failed: %v\n", healErr)
		}
	}
	if db != nil {
		db.ensureRunning(ctx)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	fmt.Fprintf(out, "chaos: %s\nchaos: faults stopped; waiting up to %v for the saga to settle\n", led.summary(), cfg.settle)
	settleStart := time.Now()
	var checks []check
	var readErr error
	for {
		st, err := readState(ctx, s.dbOptions("orders"), s.dbOptions("inventory"), s.adminURL)
		readErr = err
		if err == nil {
			checks = verify(st, initial, led)
			if allOK(checks) {
				break
			}
		}
		if time.Since(settleStart) > cfg.settle || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	settled := time.Since(settleStart).Round(100 * time.Millisecond)
	missing := report(out, cfg, in, checks, settled, led)
	var errs []error
	if readErr != nil {
		errs = append(errs, fmt.Errorf("read the final state: %w", readErr))
	}
	if !allOK(checks) {
		errs = append(errs, fmt.Errorf("invariants violated after %v (seed %d); logs kept with -keep", cfg.settle, cfg.seed))
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("fault kinds never injected successfully: %s (see failed injections)", strings.Join(missing, ", ")))
	}
	if healErr != nil {
		errs = append(errs, fmt.Errorf("heal the nft partitions: %w", healErr))
	}
	return errors.Join(errs...)
}

func partitionsName(mode string) string {
	if mode == "netns" {
		return "network namespaces joined by veth pairs: partition = nft DROP rules; blackhole = the proxies drop bytes"
	}
	return "TCP proxies: partition closes connections, blackhole drops their bytes (no root needed)"
}

func dbName(db string) string {
	if db == "mariadb" {
		return "MariaDB in a container (killed -9 and paused too)"
	}
	return "SQLite files (no server process)"
}

func allOK(cs []check) bool {
	for _, c := range cs {
		if !c.ok {
			return false
		}
	}
	return len(cs) > 0
}

// report prints the tables and returns the fault kinds never injected successfully.
func report(out io.Writer, cfg config, in *injector, checks []check, settled time.Duration, led *ledger) []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	kinds, failedKinds, nInjected, nFailed, missing := faultCounts(in.faults)
	led.mu.Lock()
	fmt.Fprintf(out, "\n| campaign | value |\n|---|---|\n| seed | %d |\n| duration | %v |\n| orders sent | %d (%.1f/s) |\n| orders created (201) | %d |\n| payments answered success | %d |\n| X-Fault requests | %v |\n| injected faults | %d %v |\n| failed injections (not counted) | %d %v |\n| database | %s |\n| instances | %d order_srv, %d inventory_srv |\n| partitions by | %s |\n| time to settle | %v |\n",
		cfg.seed, cfg.duration, led.sent, float64(led.sent)/cfg.duration.Seconds(), len(led.created), len(led.paid), led.faulted,
		nInjected, kinds, nFailed, failedKinds, dbName(cfg.db), cfg.instances, cfg.instances, partitionsName(cfg.partitions), settled)
	led.mu.Unlock()
	fmt.Fprintf(out, "\n| invariant | result |\n|---|---|\n")
	for _, c := range checks {
		mark := "ok"
		if !c.ok {
			mark = "VIOLATED — " + c.detail
		}
		fmt.Fprintf(out, "| %s | %s |\n", c.name, mark)
	}
	fmt.Fprintf(out, "\nfaults (for replay):\n")
	for _, f := range in.faults {
		d := ""
		if f.d > 0 {
			d = " for " + f.d.Round(time.Millisecond).String()
		}
		failed := ""
		if f.err != nil {
			failed = " (FAILED, not counted: " + f.err.Error() + ")"
		}
		fmt.Fprintf(out, "  +%v %s %s%s%s\n", f.at, f.kind, f.target, d, failed)
	}
	if len(missing) > 0 {
		fmt.Fprintf(out, "\nchaos: FAILED — fault kinds never injected successfully: %s\n", strings.Join(missing, ", "))
	}
	return missing
}

func putGoods(ctx context.Context, invURL string, id, stock int64) error {
	body := fmt.Sprintf(`{"name":"chaos %d","price_cents":100,"stock":%d}`, id, stock)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, invURL+"/v1/goods/"+strconv.FormatInt(id, 10), strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("put goods %d: %s", id, resp.Status)
	}
	return nil
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
