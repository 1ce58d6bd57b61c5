package load

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

// TestRun_againstTheRealStack_sellsTheHotSKUExactly runs the engine against the real system:
// mqbroker in-process, inventory_srv and order_srv built and run as processes on SQLite files.
func TestRun_againstTheRealStack_sellsTheHotSKUExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the whole stack; skipped in -short mode")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build the services")
	}
	orderURL, invURL := startStack(t)
	cfg := DefaultConfig()
	cfg.OrderURL, cfg.InventoryURL = orderURL, invURL
	cfg.Token = stackToken(t)
	cfg.Duration, cfg.Orders, cfg.Concurrency, cfg.SKUs, cfg.Stock, cfg.Seed = 0, 200, 8, 1, 50, 1

	r := runLoad(t, cfg)
	if r.Created != 50 || r.OutOfStock != 150 || !r.InvariantOK {
		t.Errorf("created %d, out of stock %d, invariant %q; want 50, 150, ok", r.Created, r.OutOfStock, r.Invariant)
	}

	// Faults and payments on other goods: every fail-local-tx is a 503 whose stock the broker
	// and inventory_srv return asynchronously; the engine must wait for them.
	cfg.GoodsBase, cfg.Orders, cfg.SKUs, cfg.Stock, cfg.FaultRatio, cfg.PayRatio, cfg.Seed = 910000, 120, 4, 100, 0.3, 0.5, 3
	r = runLoad(t, cfg)
	injected := r.t.injected.Load()
	if injected == 0 || r.Failed != injected || r.Created != 120-injected {
		t.Errorf("faults injected %d, failed %d, created %d: want every fault failed and every other order created", injected, r.Failed, r.Created)
	}
	if r.inv.found != 0 || r.inv.noOrder != int(injected) || r.inv.unknowns != 0 {
		t.Errorf("unknown outcomes: %d found, %d without an order, %d unreadable; want 0, %d, 0 (no order behind a 503, none of the first run's)",
			r.inv.found, r.inv.noOrder, r.inv.unknowns, injected)
	}
	if !r.InvariantOK {
		t.Errorf("invariant = %q, want ok", r.Invariant)
	}
}

// runLoad runs cfg and fails t unless the run passed its checks.
func runLoad(t *testing.T, cfg Config) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Run(ctx, cfg, nil)
	if r != nil {
		t.Log(r.Summary())
	}
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return r
}

// startStack starts a broker, inventory_srv and order_srv (ORDER_FAULTS=1) and returns the
// services' base URLs. Everything stops when t ends.
func startStack(t testing.TB) (orderURL, inventoryURL string) {
	t.Helper()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "./inventory_srv", "./order_srv")
	build.Dir = filepath.Join("..", "..") // the module root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build the services: %v\n%s", err, out)
	}
	broker := brokertest.Start(t)
	data := t.TempDir()

	invAddr := freeAddr(t)
	inventoryURL = startProcess(t, filepath.Join(bin, "inventory_srv"), invAddr, []string{
		"INVENTORY_HTTP_ADDR=" + invAddr,
		"INVENTORY_SQLITE_PATH=" + filepath.Join(data, "inventory.db"),
		"MQ_NAMESRV=" + broker.NamesrvAddr(),
		"INVENTORY_LOG_LEVEL=warn",
		"AUTH_JWT_SECRET=" + stackSecret,
	})
	orderAddr := freeAddr(t)
	orderURL = startProcess(t, filepath.Join(bin, "order_srv"), orderAddr, []string{
		"ORDER_HTTP_ADDR=" + orderAddr,
		"ORDER_SQLITE_PATH=" + filepath.Join(data, "order.db"),
		"MQ_NAMESRV=" + broker.NamesrvAddr(),
		"INVENTORY_URL=" + inventoryURL,
		"ORDER_FAULTS=1",
		"ORDER_LOG_LEVEL=warn",
		"AUTH_JWT_SECRET=" + stackSecret,
		"PAYMENT_NOTIFY_SECRET=" + stackSecret,
		"ORDER_PAYMENT_SIMULATOR=1",
	})
	return orderURL, inventoryURL
}

// stackSecret is the AUTH_JWT_SECRET (and PAYMENT_NOTIFY_SECRET) of startStack's services.
const stackSecret = "loadgen-test-stack-secret-0123456789abcdef"

// stackToken is a token of the scopes admin and service for startStack's services.
func stackToken(t testing.TB) string {
	t.Helper()
	tok, err := auth.Mint(stackSecret, "loadgen", time.Hour, auth.ScopeAdmin, auth.ScopeService)
	if err != nil {
		t.Fatal(err)
	}
	return tok
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

// syncBuffer is a bytes.Buffer safe for concurrent writes (a process's stdout and stderr).
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
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

// startProcess runs bin with env added, waits until /readyz answers 200 and returns its base
// URL. When t ends it is stopped with SIGTERM (killed after 20 s); its logs are shown if t failed.
func startProcess(t testing.TB, bin, addr string, env []string) string {
	t.Helper()
	name := filepath.Base(bin)
	logs := &syncBuffer{}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status is not the test's concern; the logs are
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, logs.String())
		}
	})
	url := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("%s exited while starting:\n%s", name, logs.String())
		default:
		}
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60 s:\n%s", name, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a process that has no readiness signal
	}
}
