//go:build unix

// Command chaos runs a fault campaign against the whole shopsaga stack and checks that the saga
// heals: `go run ./chaos` (from the repository) builds mqbroker, inventory_srv and two order_srv
// instances, runs them as processes on SQLite files, drives orders with payments and the three
// X-Fault faults, and meanwhile injects at random:
//
//   - kill -9 of any program (each is restarted by its supervisor, as systemd would);
//   - SIGSTOP … SIGCONT pauses of any program (a GC pause, a stuck disk);
//   - partitions between order_srv and inventory_srv, and between the services and the broker
//     (name server and broker), through fault-injecting TCP proxies on every such path — the
//     campaign needs no root, so no network namespaces;
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
// Exit status 1 if an invariant is violated after -settle. Unix only (SIGSTOP, SIGCONT).
package main

import (
	"context"
	"encoding/json"
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
	"sort"
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
	"github.com/shopsaga/shopsaga/internal/sqldb"
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
}

func parseConfig(args []string, out io.Writer) (config, error) {
	c := config{duration: 2 * time.Minute, settle: 4 * time.Minute, workers: 6, skus: 10, stock: 1_000_000,
		faultEvery: 2 * time.Second, faultP: 0.01, payP: 0.6}
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.DurationVar(&c.duration, "duration", c.duration, "how long to drive orders and inject faults")
	fs.DurationVar(&c.settle, "settle", c.settle, "how long to wait afterwards for every invariant to hold")
	fs.Uint64Var(&c.seed, "seed", 0, "random seed (0: from the clock); printed for replay")
	fs.IntVar(&c.workers, "workers", c.workers, "concurrent buyers")
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
	if c.workers < 1 || c.skus < 1 || c.stock < 1 {
		errs = append(errs, errors.New("-workers, -skus and -stock must be at least 1"))
	}
	if c.faultP < 0 || c.faultP > 1 || c.payP < 0 || c.payP > 1 {
		errs = append(errs, errors.New("-x-fault-ratio and -pay-ratio must be within 0..1"))
	}
	if c.db != "sqlite" && c.db != "mariadb" {
		errs = append(errs, fmt.Errorf("-db %q: want sqlite or mariadb", c.db))
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

// stack is the running system.
type stack struct {
	mq, inv   *program
	orders    []*program
	orderURLs []string
	invURL    string
	adminURL  string
	namesrv   string // direct, for the duplicating producer
	orderDB   string
	invDB     string
	db        *mariadb // nil on SQLite
	pInv      *proxy   // order_srv → inventory_srv
	pBroker   []*proxy // services → name server, services → broker
	programs  []*program
	logs      []*os.File
	proxies   []*proxy
}

func startStack(ctx context.Context, dir, bin string, db *mariadb) (*stack, error) {
	s := &stack{orderDB: filepath.Join(dir, "order.db"), invDB: filepath.Join(dir, "inventory.db"), db: db}
	invDBEnv, orderDBEnv := "INVENTORY_SQLITE_PATH="+s.invDB, "ORDER_SQLITE_PATH="+s.orderDB
	if db != nil {
		if err := db.start(ctx); err != nil {
			return s, err
		}
		invDBEnv, orderDBEnv = "INVENTORY_MYSQL_DSN="+db.dsn("inventory"), "ORDER_MYSQL_DSN="+db.dsn("orders")
	}
	ports := make([]int, 6)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	ns, br, adm, inv := localAddr(ports[0]), localAddr(ports[1]), localAddr(ports[2]), localAddr(ports[3])
	s.namesrv, s.adminURL, s.invURL = ns, "http://"+adm, "http://"+inv
	var err error
	pNS, err := newProxy("services→namesrv", ns)
	if err != nil {
		return nil, err
	}
	pBR, err := newProxy("services→broker", br)
	if err != nil {
		return nil, err
	}
	if s.pInv, err = newProxy("order_srv→inventory_srv", inv); err != nil {
		return nil, err
	}
	s.pBroker = []*proxy{pNS, pBR}
	s.proxies = []*proxy{pNS, pBR, s.pInv}

	logf := func(name string) (*os.File, error) {
		f, err := os.Create(filepath.Join(dir, name+".log"))
		if err == nil {
			s.logs = append(s.logs, f)
		}
		return f, err
	}
	mk := func(name, exe string, args, env []string, ready string) (*program, error) {
		f, err := logf(name)
		if err != nil {
			return nil, err
		}
		p := &program{name: name, bin: filepath.Join(bin, exe), args: args, env: env, log: f, readyURL: ready}
		s.programs = append(s.programs, p)
		return p, nil
	}
	if s.mq, err = mk("mqbroker", "mqbroker", []string{
		"--namesrv-addr", ns, "--broker-addr", br, "--advertise-addr", pBR.addr(), "--admin-addr", adm,
		"--data-dir", filepath.Join(dir, "mqbroker"), "--delay-levels", delayLevels,
		"--tx-timeout", "1s", "--tx-check-interval", "1s", "--log-level", "warn",
	}, nil, ""); err != nil {
		return nil, err
	}
	if s.inv, err = mk("inventory_srv", "inventory_srv", nil, []string{
		"INVENTORY_HTTP_ADDR=" + inv, invDBEnv, "MQ_NAMESRV=" + pNS.addr(), "INVENTORY_LOG_LEVEL=warn",
		// Chaos tests failures, not authentication: the services run open (loudly) on loopback.
		"AUTH_DISABLED=1",
	}, s.invURL+"/readyz"); err != nil {
		return nil, err
	}
	for i, port := range ports[4:] {
		addr := localAddr(port)
		p, err := mk(fmt.Sprintf("order_srv_%d", i+1), "order_srv", nil, []string{
			"ORDER_HTTP_ADDR=" + addr, orderDBEnv, "MQ_NAMESRV=" + pNS.addr(),
			"INVENTORY_URL=http://" + s.pInv.addr(), "ORDER_FAULTS=1", "ORDER_LOG_LEVEL=warn",
			"ORDER_PAY_TIMEOUT_LEVEL=" + strconv.Itoa(payTimeoutLevel),
			"AUTH_DISABLED=1", "ORDER_PAYMENT_SIMULATOR=1", // see inventory_srv's; pay() uses the simulator
			// The reconciler: often, and past the broker's check budget here (15 s saga + 1 s +
			// 15 × 1 s checks); its payment deadline is level 6 of the default table (2 min).
			"ORDER_RECONCILE_INTERVAL=2s", "ORDER_RECONCILE_SELL_AGE=40s", "ORDER_RECONCILE_GRACE=5s",
		}, "http://"+addr+"/readyz")
		if err != nil {
			return nil, err
		}
		s.orders = append(s.orders, p)
		s.orderURLs = append(s.orderURLs, "http://"+addr)
	}
	if err := s.mq.start(); err != nil {
		return s, err
	}
	// The broker has no readiness URL of its own here; its admin API answers once it runs.
	s.mq.readyURL = s.adminURL + "/api/stats"
	for _, p := range s.programs {
		if p != s.mq {
			if err := p.start(); err != nil {
				return s, err
			}
		}
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := p.waitReady(rctx)
		cancel()
		if err != nil {
			return s, err
		}
	}
	return s, nil
}

func (s *stack) stop() {
	for i := len(s.programs) - 1; i >= 0; i-- {
		s.programs[i].stop()
	}
	for _, p := range s.proxies {
		p.close()
	}
	for _, f := range s.logs {
		_ = f.Close()
	}
	if s.db != nil {
		s.db.remove()
	}
}

// fault is one injected fault, for the report.
type fault struct {
	at     time.Duration
	kind   string
	target string
	d      time.Duration
}

var faultKinds = []string{"kill-9", "pause", "partition", "duplicate"}

// injector injects random faults until ctx ends.
type injector struct {
	s      *stack
	rnd    *rand.Rand
	led    *ledger
	dup    rocketmq.Producer
	start  time.Time
	mu     sync.Mutex // guards faults
	faults []fault
	wg     sync.WaitGroup
}

func (in *injector) record(f fault) {
	in.mu.Lock()
	defer in.mu.Unlock()
	f.at = time.Since(in.start).Round(time.Millisecond)
	in.faults = append(in.faults, f)
}

func (in *injector) run(ctx context.Context, every time.Duration) {
	order := in.rnd.Perm(len(faultKinds)) // every kind at least once, first
	for i := 0; ctx.Err() == nil; i++ {
		wait := every/2 + time.Duration(in.rnd.Int64N(int64(every)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		kind := faultKinds[in.rnd.IntN(len(faultKinds))]
		if i < len(order) {
			kind = faultKinds[order[i]]
		}
		in.inject(ctx, kind)
	}
}

func (in *injector) inject(ctx context.Context, kind string) {
	progs := in.s.programs
	if db := in.s.db; db != nil && (kind == "kill-9" || kind == "pause") && in.rnd.IntN(len(progs)+1) == 0 {
		if kind == "kill-9" {
			err := db.kill9(ctx)
			in.record(fault{kind: kind, target: "mariadb" + errSuffix(err)})
			return
		}
		d := 500*time.Millisecond + time.Duration(in.rnd.Int64N(int64(2500*time.Millisecond)))
		in.record(fault{kind: kind, target: "mariadb", d: d})
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			_ = db.pause(ctx, d)
		}()
		return
	}
	switch kind {
	case "kill-9":
		p := progs[in.rnd.IntN(len(progs))]
		p.signal(syscall.SIGKILL) // the supervisor restarts it
		in.record(fault{kind: kind, target: p.name})
	case "pause":
		p := progs[in.rnd.IntN(len(progs))]
		d := 500*time.Millisecond + time.Duration(in.rnd.Int64N(int64(2500*time.Millisecond)))
		p.signal(syscall.SIGSTOP)
		in.record(fault{kind: kind, target: p.name, d: d})
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			time.Sleep(d) // the pause itself
			p.signal(syscall.SIGCONT)
		}()
	case "partition":
		d := time.Second + time.Duration(in.rnd.Int64N(int64(3*time.Second)))
		if in.rnd.IntN(2) == 0 {
			in.s.pInv.partition(d)
			in.record(fault{kind: kind, target: in.s.pInv.name, d: d})
		} else {
			for _, p := range in.s.pBroker {
				p.partition(d)
			}
			in.record(fault{kind: kind, target: "services→broker (name server and broker)", d: d})
		}
	case "duplicate":
		target := in.duplicate(ctx)
		in.record(fault{kind: kind, target: target})
	}
}

// duplicate sends again the timeout message of a paid or closed order, and for a closed order
// its stock-return message: both must change nothing.
func (in *injector) duplicate(ctx context.Context) string {
	in.led.mu.Lock()
	var sns []string
	for sn := range in.led.created {
		sns = append(sns, sn)
	}
	in.led.mu.Unlock()
	sort.Strings(sns)
	in.rnd.Shuffle(len(sns), func(i, j int) { sns[i], sns[j] = sns[j], sns[i] })
	for _, sn := range sns[:min(len(sns), 20)] {
		status := orderStatusOf(ctx, in.s.orderURLs[0], sn)
		if status != "TRADE_SUCCESS" && status != "TRADE_CLOSED" {
			continue
		}
		body := []byte(`{"order_sn":"` + sn + `"}`)
		sent := []string{"order_timeout"}
		msgs := []*primitive.Message{primitive.NewMessage("order_timeout", body).WithKeys([]string{sn})}
		if status == "TRADE_CLOSED" {
			msgs = append(msgs, primitive.NewMessage("order_reback", body).WithKeys([]string{sn}))
			sent = append(sent, "order_reback")
		}
		for _, m := range msgs {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := in.dup.SendSync(sctx, m)
			cancel()
			if err != nil {
				return "duplicate of " + sn + " not sent: " + err.Error()
			}
		}
		return fmt.Sprintf("%s of %s order %s", strings.Join(sent, " + "), status, sn)
	}
	return "no paid or closed order yet"
}

func errSuffix(err error) string {
	if err != nil {
		return " (failed: " + err.Error() + ")"
	}
	return ""
}

func orderStatusOf(ctx context.Context, orderURL, sn string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, orderURL+"/v1/orders/"+sn, nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var o struct {
		Status string `json:"status"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&o) // no status: not counted as paid or closed
	return o.Status
}

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
	s, err := startStack(ctx, dir, bin, db)
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
		p.signal(syscall.SIGCONT)
	}
	for _, p := range s.proxies {
		p.heal()
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
	report(out, cfg, in, checks, settled, led)
	if readErr != nil {
		return fmt.Errorf("read the final state: %w", readErr)
	}
	if !allOK(checks) {
		return fmt.Errorf("invariants violated after %v (seed %d); logs kept with -keep", cfg.settle, cfg.seed)
	}
	return nil
}

func dbName(db string) string {
	if db == "mariadb" {
		return "MariaDB in a container (killed -9 and paused too)"
	}
	return "SQLite files (no server process)"
}

// dbOptions opens database name ("orders" or "inventory") of the stack.
func (s *stack) dbOptions(name string) sqldb.Options {
	quiet := slog.New(slog.DiscardHandler)
	if s.db != nil {
		return sqldb.Options{MySQLDSN: s.db.dsn(name), Logger: quiet}
	}
	if name == "orders" {
		return sqldb.Options{SQLitePath: s.orderDB, Logger: quiet}
	}
	return sqldb.Options{SQLitePath: s.invDB, Logger: quiet}
}

func allOK(cs []check) bool {
	for _, c := range cs {
		if !c.ok {
			return false
		}
	}
	return len(cs) > 0
}

func report(out io.Writer, cfg config, in *injector, checks []check, settled time.Duration, led *ledger) {
	in.mu.Lock()
	defer in.mu.Unlock()
	kinds := map[string]int{}
	for _, f := range in.faults {
		kinds[f.kind]++
	}
	led.mu.Lock()
	fmt.Fprintf(out, "\n| campaign | value |\n|---|---|\n| seed | %d |\n| duration | %v |\n| orders sent | %d |\n| orders created (201) | %d |\n| payments answered success | %d |\n| X-Fault requests | %v |\n| injected faults | %d %v |\n| database | %s |\n| partitions by | TCP proxies (no root needed) |\n| time to settle | %v |\n",
		cfg.seed, cfg.duration, led.sent, len(led.created), len(led.paid), led.faulted, len(in.faults), kinds, dbName(cfg.db), settled)
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
		fmt.Fprintf(out, "  +%v %s %s%s\n", f.at, f.kind, f.target, d)
	}
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
