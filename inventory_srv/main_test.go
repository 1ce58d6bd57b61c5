package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/internal/mysqltest"
	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

func TestMain(m *testing.M) { mysqltest.Main(m) }

// syncBuffer is an io.Writer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestRun_servesMigratesConsumesAndShutsDown(t *testing.T) {
	testRunServesMigratesConsumesAndShutsDown(t, "INVENTORY_MYSQL_DSN", mysqltest.New(t, nil)) // empty: run migrates it
}

func TestRun_onSQLite_createsTheFile_migratesServesAndShutsDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "inventory.db") // neither the file nor its directory exists
	testRunServesMigratesConsumesAndShutsDown(t, "INVENTORY_SQLITE_PATH", path)
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("database file: %v, %v", fi, err)
	}
}

// testRunServesMigratesConsumesAndShutsDown runs the service on the database that dbEnv=dbValue
// names, empty so that run migrates it.
func testRunServesMigratesConsumesAndShutsDown(t *testing.T, dbEnv, dbValue string) {
	b := brokertest.Start(t)
	addr := freeAddr(t)
	environment := env(map[string]string{
		dbEnv:                 dbValue,
		"INVENTORY_HTTP_ADDR": addr,
		"AUTH_JWT_SECRET":     testAuthSecret,
		"MQ_NAMESRV":          "localhost:" + strings.Split(b.NamesrvAddr(), ":")[1], // a host name, resolved
	})
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-reback-group", "inventory_reback_test"}, environment, &logs) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})

	base := "http://" + addr
	eventually(t, 30*time.Second, "the service is ready", func() bool {
		return status(t, "GET", base+"/readyz", "") == http.StatusOK
	})
	if err := run(ctx, []string{"healthcheck"}, environment, io.Discard); err != nil {
		t.Errorf("healthcheck of a running server: %v", err)
	}

	if s := statusWith(t, "", "PUT", base+"/v1/goods/1", `{"name":"Tea","price_cents":350,"stock":10}`); s != http.StatusUnauthorized {
		t.Fatalf("put goods without a token: %d, want 401", s)
	}
	if s := status(t, "PUT", base+"/v1/goods/1", `{"name":"Tea","price_cents":350,"stock":10}`); s != http.StatusCreated {
		t.Fatalf("put goods: %d", s)
	}
	if s := status(t, "POST", base+"/v1/stock/sell", `{"order_sn":"o-1","items":[{"goods_id":1,"num":4}]}`); s != http.StatusOK {
		t.Fatalf("sell: %d", s)
	}
	sendReback(t, b.NamesrvAddr(), "o-1")
	eventually(t, 30*time.Second, "the reback message returned the stock", func() bool {
		return stock(t, base) == 10
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	if err := run(context.Background(), []string{"healthcheck", "-http-addr", addr}, env(nil), io.Discard); err == nil {
		t.Error("healthcheck of a stopped server succeeded")
	}
	for _, want := range []string{"applied migration", "inventory_srv listening", "reback consumer started", "inventory_srv stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q", want)
		}
	}
}

func TestRun_reportsEveryConfigProblemAtOnce(t *testing.T) {
	err := run(context.Background(), []string{"-http-addr", "nope", "-reback-topic", "a b"},
		env(map[string]string{"INVENTORY_LOG_LEVEL": "loud"}), io.Discard)
	if err == nil {
		t.Fatal("run accepted a bad configuration")
	}
	for _, want := range []string{"http addr", "a database is required", "reback topic", "INVENTORY_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRun_refusesToStartWithoutAnAuthKey(t *testing.T) {
	err := run(context.Background(), nil, func(k string) string {
		return map[string]string{"INVENTORY_SQLITE_PATH": filepath.Join(t.TempDir(), "x.db")}[k]
	}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "AUTH_DISABLED=1") {
		t.Fatalf("run without AUTH_JWT_SECRET/AUTH_JWKS_URL: %v; want a refusal naming AUTH_DISABLED=1", err)
	}
}

func TestRun_help(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"-h"}, env(nil), &out); err != nil || !strings.Contains(out.String(), "healthcheck") {
		t.Errorf("-h: %v, %q", err, out.String())
	}
}

// testAuthSecret is the AUTH_JWT_SECRET of the tests' services.
const testAuthSecret = "inventory-srv-test-secret-0123456789abcdef"

// status sends a request with a token of the scopes admin and service.
func status(t *testing.T, method, url, body string) int {
	t.Helper()
	tok, err := auth.Mint(testAuthSecret, "test", time.Minute, auth.ScopeAdmin, auth.ScopeService)
	if err != nil {
		t.Fatal(err)
	}
	return statusWith(t, tok, method, url, body)
}

// statusWith sends a request with token (none when empty).
func statusWith(t *testing.T, token, method, url, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0 // not up yet
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func stock(t *testing.T, base string) int64 {
	t.Helper()
	resp, err := http.Get(base + "/v1/goods/1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var g struct {
		Stock int64 `json:"stock"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&g); err != nil {
		t.Fatal(err)
	}
	return g.Stock
}

func sendReback(t *testing.T, namesrv, orderSN string) {
	t.Helper()
	p, err := rocketmq.NewProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{namesrv})),
		producer.WithGroupName("test_order_producer"),
		producer.WithInstanceName(mqclient.InstanceName("test-producer")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Shutdown() }()
	msg := primitive.NewMessage("order_reback", []byte(`{"order_sn":"`+orderSN+`","items":[{"goods_id":1,"num":4}]}`))
	msg.WithKeys([]string{orderSN})
	if _, err := p.SendSync(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
