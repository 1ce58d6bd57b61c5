//go:build !race

// The official RocketMQ client has data races of its own, so the tests that drive it run
// without -race (as mqbroker's client tests do).

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/internal/mysqltest"
	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

// The saga tests run the whole system on this machine: mqbroker in-process (brokertest),
// inventory_srv as a process (built once by TestMain), order_srv either in-process or as a
// process — the test binary itself, re-executed with envAsOrderSrv=1, which runs main — so that
// the crash faults can really end it. Each test gets fresh databases (sqltest: MariaDB, or SQLite files).

// envAsOrderSrv makes the test binary run order_srv's main instead of the tests.
const envAsOrderSrv = "ORDER_SRV_TEST_AS_MAIN"

// shortDelayLevels keeps the delay-level table's shape with short delays: level 1 = 1 s, level 2
// = 2 s … level 18 = 1 h. Consumer retries use level 3 + n.
const shortDelayLevels = "1s 2s 3s 3s 3s 3s 3s 3s 3s 3s 3s 3s 3s 3s 3s 3s 3s 1h"

// Pay-timeout levels of the test table.
const (
	timeoutSoon  = "2"  // 2 s
	timeoutNever = "18" // 1 h: longer than any test
)

var inventoryBin struct {
	path string
	err  error
}

func TestMain(m *testing.M) {
	if os.Getenv(envAsOrderSrv) == "1" {
		main()
		os.Exit(0)
	}
	inventoryBin.path, inventoryBin.err = buildInventory()
	mysqltest.Main(m)
}

// buildInventory builds inventory_srv into a per-user directory (overwritten by each run).
func buildInventory() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("shopsaga-order-srv-test-%d", os.Getuid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, fmt.Sprintf("inventory_srv.%d", os.Getpid()))
	cmd := exec.Command("go", "build", "-o", tmp, "./inventory_srv")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./inventory_srv: %w\n%s", err, out)
	}
	bin := filepath.Join(dir, "inventory_srv")
	return bin, os.Rename(tmp, bin)
}

// proc is a service running as a process.
type proc struct {
	t    testing.TB
	name string
	url  string
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{}
	err  error // set when done is closed
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs bin with env, waits until /readyz answers 200, and stops it when t ends.
func start(t testing.TB, name, bin, addr string, env []string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, url: "http://" + addr, logs: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, p.logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited while starting: %v\n%s", name, p.err, p.logs.String())
		default:
		}
		if resp, err := http.Get(p.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60 s:\n%s", name, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process gracefully (SIGTERM), or kills it after 20 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// exitCode waits for the process to end by itself and returns its exit status.
func (p *proc) exitCode(within time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		p.t.Fatalf("%s still running after %v", p.name, within)
	}
	return p.cmd.ProcessState.ExitCode()
}

// system is one broker, one inventory_srv and the settings of order_srv instances.
type system struct {
	t       testing.TB
	broker  *brokertest.Broker
	inv     *proc
	orderDB sqltest.DB // order_srv's database
}

// newSystem starts the broker (short delay levels, check-backs after 1 s; opts may override),
// inventory_srv and the databases, on MariaDB.
func newSystem(t testing.TB, opts ...brokertest.Option) *system {
	t.Helper()
	return newSystemOn(t, sqldb.MySQL, opts...)
}

// newSystemOn is newSystem with both services' databases on dialect d.
func newSystemOn(t testing.TB, d sqldb.Dialect, opts ...brokertest.Option) *system {
	t.Helper()
	return newSystemWith(t, d, nil, opts...)
}

// newSystemWith is newSystemOn with invEnv added to inventory_srv's environment.
func newSystemWith(t testing.TB, d sqldb.Dialect, invEnv []string, opts ...brokertest.Option) *system {
	t.Helper()
	if testing.Short() {
		t.Skip("saga tests start a broker, MariaDB databases and inventory_srv; skipped in -short mode")
	}
	if inventoryBin.err != nil {
		t.Fatalf("inventory_srv: %v", inventoryBin.err)
	}
	s := &system{t: t}
	s.broker = brokertest.Start(t, append([]brokertest.Option{
		brokertest.WithDelayLevels(shortDelayLevels),
		brokertest.WithTxTimeout(time.Second),
		brokertest.WithTxCheckInterval(time.Second),
	}, opts...)...)
	invDB := sqltest.New(t, d, sqltest.Inventory)
	s.orderDB = sqltest.New(t, d, sqltest.Order)
	invDBEnv := "INVENTORY_MYSQL_DSN=" + invDB.MySQLDSN
	if d == sqldb.SQLite {
		invDBEnv = "INVENTORY_SQLITE_PATH=" + invDB.SQLitePath
	}
	addr := freeAddr(t)
	s.inv = start(t, "inventory_srv", inventoryBin.path, addr, append([]string{
		"INVENTORY_HTTP_ADDR=" + addr,
		invDBEnv,
		"MQ_NAMESRV=" + s.broker.NamesrvAddr(),
		"INVENTORY_LOG_LEVEL=warn",
		"AUTH_JWT_SECRET=" + testAuthSecret,
	}, invEnv...))
	return s
}

// orderEnv is the environment of an order_srv listening on addr.
func (s *system) orderEnv(addr, payTimeoutLevel string) map[string]string {
	env := map[string]string{
		"ORDER_HTTP_ADDR":         addr,
		"ORDER_MYSQL_DSN":         s.orderDB.MySQLDSN,
		"ORDER_SQLITE_PATH":       s.orderDB.SQLitePath,
		"MQ_NAMESRV":              s.broker.NamesrvAddr(),
		"INVENTORY_URL":           s.inv.url,
		"ORDER_PAY_TIMEOUT_LEVEL": payTimeoutLevel,
		"ORDER_FAULTS":            "1",
		"ORDER_LOG_LEVEL":         "info",
		"AUTH_JWT_SECRET":         testAuthSecret,
		"PAYMENT_NOTIFY_SECRET":   testNotifySecret,
		"ORDER_PAYMENT_SIMULATOR": "1",
		"ORDER_RATE_PER_USER":     "0", // the saga tests create orders as fast as they can
		"ORDER_MAX_UNPAID":        "0",
	}
	maps.DeleteFunc(env, func(_, v string) bool { return v == "" }) // the database not in use
	return env
}

// startOrderProcess runs order_srv as a process (the test binary as main).
func (s *system) startOrderProcess(payTimeoutLevel string) *proc {
	s.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		s.t.Fatal(err)
	}
	addr := freeAddr(s.t)
	env := []string{envAsOrderSrv + "=1"}
	for k, v := range s.orderEnv(addr, payTimeoutLevel) {
		env = append(env, k+"="+v)
	}
	return start(s.t, "order_srv", exe, addr, env)
}

// startOrderInProcess runs order_srv's run in this process and returns its base URL.
func (s *system) startOrderInProcess(payTimeoutLevel string) string {
	s.t.Helper()
	url, _ := s.startOrderInProcessWith(payTimeoutLevel, nil)
	return url
}

// startOrderInProcessWith is startOrderInProcess with extra environment; it also returns what
// run writes to its stdout.
func (s *system) startOrderInProcessWith(payTimeoutLevel string, extraEnv map[string]string) (string, *lockedBuffer) {
	s.t.Helper()
	addr := freeAddr(s.t)
	env := s.orderEnv(addr, payTimeoutLevel)
	env["ORDER_LOG_LEVEL"] = "warn"
	maps.Copy(env, extraEnv)
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, logs) }()
	s.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			s.t.Errorf("order_srv run: %v", err)
		}
		if s.t.Failed() {
			s.t.Logf("order_srv logs:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	eventually(s.t, 60*time.Second, "order_srv ready", func() bool {
		select {
		case err := <-done:
			s.t.Fatalf("order_srv run ended while starting: %v\n%s", err, logs.String())
		default:
		}
		st, _ := call(s.t, "GET", url+"/readyz", nil)
		return st == http.StatusOK
	})
	return url, logs
}

func (s *system) putGoods(id, priceCents, stock int64) {
	s.t.Helper()
	st, body := call(s.t, "PUT", fmt.Sprintf("%s/v1/goods/%d", s.inv.url, id),
		map[string]any{"name": fmt.Sprintf("goods %d", id), "price_cents": priceCents, "stock": stock})
	if st != http.StatusOK && st != http.StatusCreated {
		s.t.Fatalf("put goods %d: %d %v", id, st, body)
	}
}

func (s *system) stock(id int64) int64 {
	s.t.Helper()
	st, body := call(s.t, "GET", fmt.Sprintf("%s/v1/goods/%d", s.inv.url, id), nil)
	if st != http.StatusOK {
		s.t.Fatalf("get goods %d: %d %v", id, st, body)
	}
	return int64(body["stock"].(float64))
}

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

// The secrets of the test systems.
const (
	testAuthSecret   = "order-srv-harness-auth-secret-0123456789"
	testNotifySecret = "order-srv-harness-notify-secret-01234567"
)

// adminToken is a token of the scopes admin and service, which may call everything.
func adminToken(t testing.TB) string {
	t.Helper()
	tok, err := auth.Mint(testAuthSecret, "1", time.Hour, auth.ScopeAdmin, auth.ScopeService)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// call sends JSON and decodes a JSON object answer; headers come in name, value pairs. Without
// an Authorization header it sends adminToken's.
func call(t testing.TB, method, url string, in any, headers ...string) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", adminToken(t))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if req.Header.Get("Authorization") == "none" {
		req.Header.Del("Authorization")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, map[string]any{"transport_error": err.Error()}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, map[string]any{"transport_error": err.Error()}
	}
	out := map[string]any{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: answer %q is not a JSON object", method, url, raw)
		}
	}
	return resp.StatusCode, out
}

func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func orderRequest(userID int64, items ...[2]int64) map[string]any {
	lines := make([]map[string]any, len(items))
	for i, it := range items {
		lines[i] = map[string]any{"goods_id": it[0], "num": it[1]}
	}
	return map[string]any{"user_id": userID, "address": "1 Main St", "signer_name": "Ann",
		"signer_mobile": "13800000000", "post": "leave at the door", "items": lines}
}

// ordersOf lists a user's orders (first page of 100).
func ordersOf(t testing.TB, orderURL string, userID int64) []map[string]any {
	t.Helper()
	st, body := call(t, "GET", fmt.Sprintf("%s/v1/orders?user_id=%d&page_size=100", orderURL, userID), nil)
	if st != http.StatusOK {
		t.Fatalf("list orders: %d %v", st, body)
	}
	var out []map[string]any
	for _, o := range body["orders"].([]any) {
		out = append(out, o.(map[string]any))
	}
	return out
}

func orderStatus(t testing.TB, orderURL, sn string) string {
	t.Helper()
	st, body := call(t, "GET", orderURL+"/v1/orders/"+sn, nil)
	if st != http.StatusOK {
		t.Fatalf("get order %s: %d %v", sn, st, body)
	}
	return body["status"].(string)
}

func splitHostPort(t testing.TB, url string) (string, string, error) {
	t.Helper()
	host, port, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return host, port, nil
}
