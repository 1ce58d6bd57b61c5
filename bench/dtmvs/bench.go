package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dtm-labs/dtm/client/dtmcli"
	"github.com/dtm-labs/dtm/dtmutil"
	"github.com/go-sql-driver/mysql"
	"github.com/golang-jwt/jwt/v5"
)

type benchConfig struct {
	dsn         string
	repo        string
	concurrency int
	duration    time.Duration
	rounds      int
	skus        int
	portBase    int
	keep        bool
	dbPID       int
	only        string
}

func runBench(args []string, stdout, stderr io.Writer) error {
	c := benchConfig{}
	fs := flag.NewFlagSet("dtmvs", flag.ContinueOnError)
	fs.StringVar(&c.dsn, "dsn", os.Getenv("BENCH_MYSQL_DSN"), "DSN of a user that may create databases, no database: user:pw@tcp(host:port)/ (BENCH_MYSQL_DSN)")
	fs.StringVar(&c.repo, "repo", "..", "the shopsaga repository whose programs are built")
	fs.IntVar(&c.concurrency, "concurrency", 16, "workers per system, each with one order in flight")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "length of each measured phase")
	fs.IntVar(&c.rounds, "rounds", 2, "rounds; each measures both systems, in alternating order")
	fs.IntVar(&c.skus, "skus", 50, "goods ordered at random; 1 = one hot SKU")
	fs.IntVar(&c.portBase, "port-base", 29500, "first of the 10 loopback ports used")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory (logs)")
	fs.IntVar(&c.dbPID, "db-pid", 0, "process id of the database server on this machine, to count its CPU time per order (0: not counted)")
	fs.StringVar(&c.only, "only", "", "measure one system only: shopsaga or dtm (both still start; empty: both)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var problems []string
	if c.dsn == "" {
		problems = append(problems, "-dsn (or BENCH_MYSQL_DSN) is required")
	}
	if c.concurrency < 1 || c.rounds < 1 || c.skus < 1 || c.duration <= 0 {
		problems = append(problems, "-concurrency, -rounds, -skus and -duration must be positive")
	}
	if c.only != "" && c.only != "shopsaga" && c.only != "dtm" {
		problems = append(problems, "-only must be shopsaga, dtm or empty")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	root, err := mysql.ParseDSN(c.dsn)
	if err != nil {
		return fmt.Errorf("parse -dsn: %w", err)
	}
	work, err := os.MkdirTemp("", "dtmvs-")
	if err != nil {
		return err
	}
	if !c.keep {
		defer os.RemoveAll(work)
	} else {
		fmt.Fprintln(stderr, "work directory:", work)
	}
	ctx := context.Background()

	fmt.Fprintln(stderr, "building shopsaga's programs…")
	bin := filepath.Join(work, "bin")
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./mqbroker", "./inventory_srv", "./order_srv")
	build.Dir, build.Stdout, build.Stderr = c.repo, stderr, stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build shopsaga: %w", err)
	}
	if err := resetDatabases(c.dsn); err != nil {
		return err
	}
	procs := &processes{}
	defer procs.stopAll()

	// shopsaga: broker, inventory, order, each a process on loopback.
	p := func(i int) string { return "127.0.0.1:" + strconv.Itoa(c.portBase+i) }
	dbDSN := func(name string) string {
		cfg := root.Clone()
		cfg.DBName = name
		return cfg.FormatDSN()
	}
	invURL, ordURL := "http://"+p(2), "http://"+p(3)
	// The services check tokens (as they do by default): a secret of this run's, and a token
	// of the scopes admin and service for the load, as loadgen uses.
	secret, token, err := benchToken()
	if err != nil {
		return err
	}
	authEnv := []string{"AUTH_JWT_SECRET=" + secret, "PAYMENT_NOTIFY_SECRET=" + secret}
	if err := procs.start(work, "mqbroker", filepath.Join(bin, "mqbroker"), []string{
		"-namesrv-addr", p(0), "-broker-addr", p(1), "-advertise-addr", p(1), "-admin-addr", "",
		"-data-dir", filepath.Join(work, "mq"), "-log-level", "warn"}, nil, ""); err != nil {
		return err
	}
	if err := waitTCP(ctx, p(0)); err != nil {
		return err
	}
	if err := procs.start(work, "inventory_srv", filepath.Join(bin, "inventory_srv"), nil, append([]string{
		"INVENTORY_HTTP_ADDR=" + p(2), "INVENTORY_MYSQL_DSN=" + dbDSN("vs_shopsaga_inventory"), "MQ_NAMESRV=" + p(0)}, authEnv...), ""); err != nil {
		return err
	}
	if err := procs.start(work, "order_srv", filepath.Join(bin, "order_srv"), nil, append([]string{
		"ORDER_HTTP_ADDR=" + p(3), "ORDER_MYSQL_DSN=" + dbDSN("vs_shopsaga_orders"), "MQ_NAMESRV=" + p(0),
		"INVENTORY_URL=" + invURL}, authEnv...), ""); err != nil {
		return err
	}

	// DTM: its server (MySQL store, database dtm) and the two parts of the order.
	dtmDir, err := moduleDir("github.com/dtm-labs/dtm")
	if err != nil {
		return err
	}
	port, _ := strconv.Atoi(root.Addr[strings.LastIndex(root.Addr, ":")+1:])
	conf := fmt.Sprintf("Store:\n  Driver: 'mysql'\n  Host: '%s'\n  Port: %d\n  User: '%s'\n  Password: '%s'\n  Db: 'dtm'\n"+
		"HttpPort: %d\nGrpcPort: %d\nJsonRpcPort: %d\nLogLevel: 'warn'\n",
		root.Addr[:strings.LastIndex(root.Addr, ":")], port, root.User, root.Passwd, c.portBase+4, c.portBase+5, c.portBase+6)
	confFile := filepath.Join(work, "dtm.yml")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		return err
	}
	dtmutil.RunSQLScript(dtmcli.DBConf{Driver: "mysql", Host: root.Addr[:strings.LastIndex(root.Addr, ":")], Port: int64(port),
		User: root.User, Password: root.Passwd}, filepath.Join(dtmDir, "sqls", "dtmcli.barrier.mysql.sql"), false)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// DTM finds its storage SQL (for -r, which creates its tables) relative to its working directory.
	if err := procs.start(work, "dtm", self, []string{"dtm-server", "-c", confFile, "-r"}, nil, dtmDir); err != nil {
		return err
	}
	dtmAPI := "http://" + p(4) + "/api/dtmsvr"
	if err := waitHTTP(ctx, dtmAPI+"/newGid"); err != nil {
		return err
	}
	if err := procs.start(work, "dtm-app", self, []string{"dtm-app", "-addr", p(7), "-dtm", dtmAPI,
		"-inventory-dsn", dbDSN("vs_dtm_inventory"), "-orders-dsn", dbDSN("vs_dtm_orders")}, nil, ""); err != nil {
		return err
	}
	if err := waitHTTP(ctx, invURL+"/readyz"); err != nil {
		return err
	}
	if err := waitHTTP(ctx, ordURL+"/readyz"); err != nil {
		return err
	}
	if err := waitTCP(ctx, p(7)); err != nil {
		return err
	}

	const stock = 1_000_000_000
	client := &http.Client{Timeout: 30 * time.Second, Transport: bearer{token: token,
		next: &http.Transport{MaxIdleConnsPerHost: 4 * c.concurrency}}}
	for id := 1; id <= c.skus; id++ {
		body := fmt.Sprintf(`{"name":"vs goods %d","price_cents":100,"stock":%d}`, id, stock)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, fmt.Sprintf("%s/v1/goods/%d", invURL, id), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("put goods: %w", err)
		}
		resp.Body.Close()
	}
	dtmInv, err := sql.Open("mysql", dbDSN("vs_dtm_inventory"))
	if err != nil {
		return err
	}
	defer dtmInv.Close()
	for id := 1; id <= c.skus; id++ {
		if _, err := dtmInv.Exec(`INSERT INTO goods (id, price_cents, stock) VALUES (?, 100, ?)`, id, stock); err != nil {
			return fmt.Errorf("dtm goods: %w", err)
		}
	}

	// Orders are counted in the orders databases, not from the answers: an order may be
	// committed although its request failed or timed out (DTM's check-back then submits it).
	ssOrders, err := sql.Open("mysql", dbDSN("vs_shopsaga_orders"))
	if err != nil {
		return err
	}
	defer ssOrders.Close()
	dtmOrders, err := sql.Open("mysql", dbDSN("vs_dtm_orders"))
	if err != nil {
		return err
	}
	defer dtmOrders.Close()

	watched := procs.pids()
	if c.dbPID > 0 {
		watched["database"] = c.dbPID
	}
	watched["load driver"] = os.Getpid()
	if pid := dockerProxyFor(c.dsn); pid > 0 {
		// Published container ports go through Docker's userland proxy: on this machine kind it
		// cost about half the database server's CPU and a copy per packet, both ways.
		fmt.Fprintf(stderr, "warning: the database's port is served by docker-proxy (pid %d); its CPU is counted as \"docker-proxy\". "+
			"Run the database container with --network host, or connect to the container's own address, to measure without it\n", pid)
		watched["docker-proxy"] = pid
	}
	systems := []*system{
		{name: "shopsaga", url: ordURL + "/v1/orders", orders: ssOrders},
		{name: "DTM 2-phase msg", url: "http://" + p(7) + "/order", orders: dtmOrders, settle: func(ctx context.Context) (time.Duration, error) {
			return settleDTM(ctx, dtmInv, dtmOrders, c.skus, stock)
		}},
	}
	switch c.only {
	case "shopsaga":
		systems = systems[:1]
	case "dtm":
		systems = systems[1:]
	}
	serverDB, err := sql.Open("mysql", c.dsn)
	if err != nil {
		return err
	}
	defer serverDB.Close()
	fmt.Fprintf(stderr, "warming up…\n")
	for _, s := range systems {
		if _, err := s.run(ctx, client, c, 2*time.Second); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "\n## dtmvs: %d workers, %d SKU(s), %s per phase, %d round(s), same MariaDB\n\n", c.concurrency, c.skus, c.duration, c.rounds)
	fmt.Fprintln(stdout, "| round | system | orders/s | p50 | p99 | max | failed | load avg | idle | steal | all deducted after |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|---|---|---|")
	totals := map[string]*phase{}
	for r := 1; r <= c.rounds; r++ {
		order := systems
		if r%2 == 0 {
			order = slices.Clone(systems)
			slices.Reverse(order)
		}
		for _, s := range order {
			cpu0 := processCPU(watched)
			st0, err := serverStatus(ctx, serverDB)
			if err != nil {
				return err
			}
			ph, err := s.run(ctx, client, c, c.duration)
			if err != nil {
				return err
			}
			ph.procCPU = diffCounts(processCPU(watched), cpu0)
			st1, err := serverStatus(ctx, serverDB)
			if err != nil {
				return err
			}
			ph.dbStatus = diffCounts(st1, st0)
			fmt.Fprintf(stdout, "| %d | %s | %.1f | %s | %s | %s | %s | %s | %.0f %% | %.0f %% | %s |\n", r, s.name, ph.rate(),
				ms(ph.quantile(0.50)), ms(ph.quantile(0.99)), ms(ph.quantile(1)), failedCell(ph), ph.load, ph.cpu.idle, ph.cpu.steal, settled(ph))
			if totals[s.name] == nil {
				totals[s.name] = &phase{}
			}
			totals[s.name].merge(ph)
		}
	}
	fmt.Fprintln(stdout, "\nCPU time per created order, by process (ms; user + system), summed over the rounds:")
	fmt.Fprintln(stdout)
	names := slices.Sorted(maps.Keys(watched))
	fmt.Fprintln(stdout, "| system | "+strings.Join(names, " | ")+" | all |")
	fmt.Fprintln(stdout, "|---|"+strings.Repeat("---|", len(names)+1))
	for _, s := range systems {
		t := totals[s.name]
		var row []string
		var all float64
		for _, n := range names {
			if other := otherSystems[s.name]; slices.Contains(other, n) {
				row = append(row, "—") // the other system's process, idle meanwhile
				continue
			}
			v := t.procCPU[n] * 1000 / float64(t.created)
			all += v
			row = append(row, fmt.Sprintf("%.2f", v))
		}
		fmt.Fprintf(stdout, "| %s | %s | %.2f |\n", s.name, strings.Join(row, " | "), all)
	}
	fmt.Fprintln(stdout, "\nDatabase server counters per created order (SHOW GLOBAL STATUS deltas over the phases; the whole server):")
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "| system | "+strings.Join(statusNames, " | ")+" |")
	fmt.Fprintln(stdout, "|---|"+strings.Repeat("---|", len(statusNames)))
	for _, s := range systems {
		t := totals[s.name]
		var row []string
		for _, n := range statusNames {
			row = append(row, fmt.Sprintf("%.2f", t.dbStatus[n]/float64(t.created)))
		}
		fmt.Fprintf(stdout, "| %s | %s |\n", s.name, strings.Join(row, " | "))
	}
	if len(systems) < 2 {
		return nil
	}
	ss, dt := totals[systems[0].name], totals[systems[1].name]
	fmt.Fprintf(stdout, "\nAll rounds: shopsaga %.1f orders/s (p50 %s, p99 %s), DTM %.1f orders/s (p50 %s, p99 %s): throughput ×%.2f, p99 ×%.2f.\n",
		ss.rate(), ms(ss.quantile(0.5)), ms(ss.quantile(0.99)), dt.rate(), ms(dt.quantile(0.5)), ms(dt.quantile(0.99)),
		ss.rate()/dt.rate(), float64(ss.quantile(0.99))/float64(dt.quantile(0.99)))
	return nil
}

// failedCell is the failed requests, and how many orders were committed without a 201 answer.
func failedCell(ph *phase) string {
	if d := ph.created - ph.answered201; d != 0 {
		return fmt.Sprintf("%d (%+d orders in the database without a 201)", ph.failed, d)
	}
	return strconv.FormatInt(ph.failed, 10)
}

func settled(ph *phase) string {
	if ph.settle == 0 {
		return "answered"
	}
	return fmt.Sprintf("+%s", ph.settle.Round(time.Millisecond))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// system is one side of the comparison: where its orders go, the database that holds them,
// and how to wait for the work an answered order leaves behind.
type system struct {
	name   string
	url    string
	orders *sql.DB // the orders database: created orders are counted in its table orders
	seq    atomic.Int64
	settle func(ctx context.Context) (time.Duration, error)
}

// countOrders is the number of orders committed in s's orders database.
func (s *system) countOrders(ctx context.Context) (int64, error) {
	var n int64
	if err := s.orders.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders`).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: count orders: %w", s.name, err)
	}
	return n, nil
}

// phase is one measured run of one system.
type phase struct {
	created     int64 // orders committed during the phase (and its settling), counted in the database
	answered201 int64 // 201 answers: created minus the orders whose answer was lost or an error
	failed      int64
	elapsed     time.Duration
	settle      time.Duration // after the last answer, until the system's work was done
	lat         []time.Duration
	sorted      bool
	load        string
	cpu         cpuShare
	procCPU     map[string]float64 // process name → CPU seconds during the phase
	dbStatus    map[string]float64 // server status counter → its increase during the phase
}

func (p *phase) rate() float64 {
	return float64(p.created) / (p.elapsed + p.settle).Seconds()
}

func (p *phase) quantile(q float64) time.Duration {
	if len(p.lat) == 0 {
		return 0
	}
	if !p.sorted {
		slices.Sort(p.lat)
		p.sorted = true
	}
	i := int(q*float64(len(p.lat))+0.5) - 1
	return p.lat[min(max(i, 0), len(p.lat)-1)]
}

func (p *phase) merge(o *phase) {
	p.created += o.created
	p.answered201 += o.answered201
	p.failed += o.failed
	p.elapsed += o.elapsed
	p.settle += o.settle
	p.lat = append(p.lat, o.lat...)
	p.sorted = false
	if p.procCPU == nil {
		p.procCPU = map[string]float64{}
	}
	for k, v := range o.procCPU {
		p.procCPU[k] += v
	}
	if p.dbStatus == nil {
		p.dbStatus = map[string]float64{}
	}
	for k, v := range o.dbStatus {
		p.dbStatus[k] += v
	}
}

// run sends orders for d from c.concurrency workers, each with one order in flight.
func (s *system) run(ctx context.Context, client *http.Client, c benchConfig, d time.Duration) (*phase, error) {
	ph := &phase{load: loadAvg()}
	before, err := s.countOrders(ctx)
	if err != nil {
		return nil, err
	}
	cpu0 := readCPU()
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	var firstErr error
	for w := range c.concurrency {
		wg.Go(func() {
			var lat []time.Duration
			var created, failed int64
			for time.Now().Before(deadline) {
				n := s.seq.Add(1)
				body := fmt.Sprintf(`{"user_id":%d,"address":"1 Bench Street","signer_name":"dtmvs","signer_mobile":"13800000000","post":"","items":[{"goods_id":%d,"num":1}]}`,
					1_000_000+n, 1+(int(n)*7919+w)%c.skus)
				t0 := time.Now()
				resp, err := client.Post(s.url, "application/json", bytes.NewBufferString(body))
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, fmt.Errorf("%s: %w", s.name, err))
					mu.Unlock()
					failed++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				if resp.StatusCode == http.StatusCreated {
					created++
				} else {
					failed++
				}
			}
			mu.Lock()
			ph.lat = append(ph.lat, lat...)
			ph.answered201 += created
			ph.failed += failed
			mu.Unlock()
		})
	}
	wg.Wait()
	ph.elapsed = time.Since(start)
	if s.settle != nil {
		wait, err := s.settle(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		ph.settle = wait
	}
	ph.cpu = readCPU().since(cpu0)
	after, err := s.countOrders(ctx)
	if err != nil {
		return nil, err
	}
	ph.created = after - before
	if ph.created == 0 {
		return nil, fmt.Errorf("%s: no order created (%v)", s.name, firstErr)
	}
	return ph, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// settleDTM waits until DTM has called every committed order's branch: the stock deducted
// equals the orders in the orders database (one piece each, counted there: an order whose answer
// was an error may still have been committed and submitted). A branch runs only after its order
// committed, so more deducted than ordered means a branch applied twice: it fails then.
func settleDTM(ctx context.Context, inv, orders *sql.DB, skus int, stock int64) (time.Duration, error) {
	start := time.Now()
	for {
		var left, created int64
		// The stock first: every deduction it shows belongs to an order committed before it, which
		// the count read after it includes.
		if err := inv.QueryRowContext(ctx, `SELECT COALESCE(SUM(stock), 0) FROM goods`).Scan(&left); err != nil {
			return 0, err
		}
		if err := orders.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders`).Scan(&created); err != nil {
			return 0, err
		}
		deducted := int64(skus)*stock - left
		switch {
		case deducted == created:
			return time.Since(start), nil
		case deducted > created:
			return 0, fmt.Errorf("%d pieces deducted for %d orders", deducted, created)
		case time.Since(start) > time.Minute:
			return 0, fmt.Errorf("after a minute %d of %d orders deducted", deducted, created)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// otherSystems names, for each system, the processes that belong to the other one: they are
// left out of its CPU per order (they idle, DTM's server polls its store, during its phase).
var otherSystems = map[string][]string{
	"shopsaga":        {"dtm", "dtm-app"},
	"DTM 2-phase msg": {"mqbroker", "inventory_srv", "order_srv"},
}

// statusNames are the server status counters reported per order: statements (Questions counts
// what clients sent, including the few of dtmvs's own counting), the statements by kind,
// commits (explicit COMMITs; autocommitted statements are not among them) and the InnoDB
// fsyncs (redo log, and all data files).
var statusNames = []string{"Questions", "Com_insert", "Com_update", "Com_select", "Com_begin", "Com_commit",
	"Innodb_os_log_fsyncs", "Innodb_data_fsyncs"}

// serverStatus reads statusNames from SHOW GLOBAL STATUS.
func serverStatus(ctx context.Context, db *sql.DB) (map[string]float64, error) {
	rows, err := db.QueryContext(ctx, `SHOW GLOBAL STATUS`)
	if err != nil {
		return nil, fmt.Errorf("show global status: %w", err)
	}
	defer rows.Close()
	m := make(map[string]float64, len(statusNames))
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, fmt.Errorf("show global status: %w", err)
		}
		if slices.Contains(statusNames, name) {
			m[name], _ = strconv.ParseFloat(value, 64)
		}
	}
	return m, rows.Err()
}

// resetDatabases drops and creates the four application databases (DTM's own, dtm and
// dtm_barrier, are created by its scripts).
func resetDatabases(dsn string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, name := range []string{"vs_shopsaga_inventory", "vs_shopsaga_orders", "vs_dtm_inventory", "vs_dtm_orders"} {
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
			return err
		}
		if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
			return err
		}
	}
	if _, err := db.Exec("CREATE DATABASE IF NOT EXISTS dtm"); err != nil {
		return err
	}
	for dbName, stmts := range map[string][]string{"vs_dtm_inventory": dtmInventorySchema, "vs_dtm_orders": dtmOrderSchema} {
		for _, s := range stmts {
			if _, err := db.Exec(strings.Replace(s, "CREATE TABLE IF NOT EXISTS ", "CREATE TABLE IF NOT EXISTS "+dbName+".", 1)); err != nil {
				return fmt.Errorf("%s: %w", dbName, err)
			}
		}
	}
	return nil
}

// moduleDir is the directory of module path in the module cache.
func moduleDir(path string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", path).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", path, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// processes are the children started, stopped in reverse order.
type processes struct {
	cmds  []*exec.Cmd
	names []string
}

func (ps *processes) start(work, name, path string, args, env []string, dir string) error {
	log, err := os.Create(filepath.Join(work, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr, cmd.Dir = log, log, dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	ps.cmds = append(ps.cmds, cmd)
	ps.names = append(ps.names, name)
	return nil
}

// pids maps each started process's name to its id.
func (ps *processes) pids() map[string]int {
	m := make(map[string]int, len(ps.cmds))
	for i, cmd := range ps.cmds {
		m[ps.names[i]] = cmd.Process.Pid
	}
	return m
}

func (ps *processes) stopAll() {
	for i := len(ps.cmds) - 1; i >= 0; i-- {
		cmd := ps.cmds[i]
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

func waitTCP(ctx context.Context, addr string) error {
	return await(ctx, addr, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

func waitHTTP(ctx context.Context, url string) error {
	return await(ctx, url, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

func await(ctx context.Context, what string, try func() error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := try()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// loadAvg is the 1-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// cpuTimes are the machine's CPU counters from /proc/stat (zero where unavailable).
type cpuTimes struct{ total, idle, steal float64 }

type cpuShare struct{ idle, steal float64 } // percent

func readCPU() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:]
	var t cpuTimes
	for i, s := range f {
		v, _ := strconv.ParseFloat(s, 64)
		t.total += v
		switch i {
		case 3, 4: // idle, iowait
			t.idle += v
		case 7:
			t.steal = v
		}
	}
	return t
}

func (t cpuTimes) since(t0 cpuTimes) cpuShare {
	d := t.total - t0.total
	if d <= 0 {
		return cpuShare{}
	}
	return cpuShare{idle: 100 * (t.idle - t0.idle) / d, steal: 100 * (t.steal - t0.steal) / d}
}

// dockerProxyFor returns the id of the docker-proxy process that forwards the DSN's host port
// (a container published with -p), or 0.
func dockerProxyFor(dsn string) int {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return 0
	}
	_, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return 0
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) == 0 || filepath.Base(args[0]) != "docker-proxy" {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-host-port" && args[i+1] == port {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
				return pid
			}
		}
	}
	return 0
}

// processCPU reads the CPU seconds (user + system) each process has used so far.
func processCPU(pids map[string]int) map[string]float64 {
	const ticks = 100 // USER_HZ on Linux
	m := make(map[string]float64, len(pids))
	for name, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 on
		u, _ := strconv.ParseFloat(f[11], 64)                    // field 14: utime
		st, _ := strconv.ParseFloat(f[12], 64)                   // field 15: stime
		m[name] = (u + st) / ticks
	}
	return m
}

func diffCounts(a, b map[string]float64) map[string]float64 {
	d := make(map[string]float64, len(a))
	for k, v := range a {
		d[k] = v - b[k]
	}
	return d
}

// benchToken returns a random secret for the services' AUTH_JWT_SECRET and an HS256 token of the
// scopes admin and service signed with it, valid for a day.
func benchToken() (secret, token string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	secret = hex.EncodeToString(b)
	now := time.Now()
	token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "dtmvs", "scope": "admin service", "iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(),
	}).SignedString([]byte(secret))
	return secret, token, err
}

// bearer adds the token to every request (DTM's side ignores the header).
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}
