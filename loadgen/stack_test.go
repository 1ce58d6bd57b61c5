package main

import (
	"bytes"
	"fmt"
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

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

// TestRun_againstTheRealStack_sellsTheHotSKUExactly runs loadgen against the real system:
// mqbroker in-process, inventory_srv and order_srv built and run as processes on SQLite files.
func TestRun_againstTheRealStack_sellsTheHotSKUExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the whole stack; skipped in -short mode")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build the services")
	}
	orderURL, invURL := startStack(t)
	stack := []string{"--order-url", orderURL, "--inventory-url", invURL, "--progress", "off"}

	out, err := runLoadgen(t, append(stack, "--orders", "200", "--concurrency", "8", "--skus", "1", "--stock", "50")...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := count(t, out, "created"); got != 50 {
		t.Errorf("created = %d, want 50", got)
	}
	if got := count(t, out, "out of stock"); got != 150 {
		t.Errorf("out of stock = %d, want 150", got)
	}
	if got := metric(t, out, "invariant"); !strings.HasPrefix(got, "ok") {
		t.Errorf("invariant = %q, want ok", got)
	}

	// Faults and payments on other goods: every fail-local-tx is a 503 whose stock the broker
	// and inventory_srv return asynchronously; loadgen must wait for them.
	out, err = runLoadgen(t, append(stack, "--goods-base", "910000", "--orders", "120", "--skus", "4",
		"--stock", "100", "--fault-ratio", "0.3", "--pay-ratio", "0.5", "--seed", "3")...)
	if err != nil {
		t.Fatalf("run with faults: %v", err)
	}
	injected := count(t, out, "faults injected")
	if injected == 0 || count(t, out, "failed") != injected || count(t, out, "created") != 120-injected {
		t.Errorf("faults injected %d: want every one failed and every other order created", injected)
	}
	if got, want := metric(t, out, "unknown outcomes"), fmt.Sprintf("0 order(s) found, %d without an order, 0 unreadable", injected); got != want {
		t.Errorf("unknown outcomes = %q, want %q (no order behind a 503, none of the first run's)", got, want)
	}
	if got := metric(t, out, "invariant"); !strings.HasPrefix(got, "ok") {
		t.Errorf("invariant = %q, want ok", got)
	}
}

// startStack starts a broker, inventory_srv and order_srv (ORDER_FAULTS=1) and returns the
// services' base URLs. Everything stops when t ends.
func startStack(t *testing.T) (orderURL, inventoryURL string) {
	t.Helper()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "./inventory_srv", "./order_srv")
	build.Dir = ".." // the module root
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
	})
	orderAddr := freeAddr(t)
	orderURL = startProcess(t, filepath.Join(bin, "order_srv"), orderAddr, []string{
		"ORDER_HTTP_ADDR=" + orderAddr,
		"ORDER_SQLITE_PATH=" + filepath.Join(data, "order.db"),
		"MQ_NAMESRV=" + broker.NamesrvAddr(),
		"INVENTORY_URL=" + inventoryURL,
		"ORDER_FAULTS=1",
		"ORDER_LOG_LEVEL=warn",
	})
	return orderURL, inventoryURL
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
func startProcess(t *testing.T, bin, addr string, env []string) string {
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
