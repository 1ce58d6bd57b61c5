package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strconv"
	"strings"
	"testing"
	"time"
)

func noEnv(string) string { return "" }

// runLoadgen runs loadgen with args and returns its summary and error.
func runLoadgen(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, args, noEnv, &out)
	t.Logf("loadgen %s\n%s", strings.Join(args, " "), out.String())
	return out.String(), err
}

// metric returns the value of row key of the summary table, or fails the test.
func metric(t *testing.T, summary, key string) string {
	t.Helper()
	for _, l := range strings.Split(summary, "\n") {
		if v, ok := strings.CutPrefix(l, "| "+key+" | "); ok {
			return strings.TrimSuffix(v, " |")
		}
	}
	t.Fatalf("no row %q in the summary", key)
	return ""
}

// count returns the leading integer of row key.
func count(t *testing.T, summary, key string) int64 {
	t.Helper()
	v := metric(t, summary, key)
	n, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
	if err != nil {
		t.Fatalf("row %q = %q: not a count", key, v)
	}
	return n
}

func TestRun_sellsExactlyTheStock_ofOneHotSKU(t *testing.T) {
	t.Parallel()
	f := newFakeShop(t, nil)
	out, err := runLoadgen(t, f.args("--orders", "200", "--concurrency", "8", "--skus", "1", "--stock", "50")...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := count(t, out, "created"); got != 50 {
		t.Errorf("created = %d, want 50", got)
	}
	if got := count(t, out, "out of stock"); got != 150 {
		t.Errorf("out of stock = %d, want 150", got)
	}
	if got := count(t, out, "orders sent"); got != 200 {
		t.Errorf("orders sent = %d, want 200", got)
	}
	if got := metric(t, out, "invariant"); !strings.HasPrefix(got, "ok") {
		t.Errorf("invariant = %q, want ok", got)
	}
	for _, k := range []string{"orders/s", "latency p50", "latency p99", "latency max"} {
		if v := metric(t, out, k); v == "" || v == "0" || v == "0µs" || v == "0.0" {
			t.Errorf("%s = %q, want a measurement", k, v)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stock[900000] != 0 {
		t.Errorf("stock left = %d, want 0", f.stock[900000])
	}
}

func TestRun_waitsForCompensations_whenFaultsReturnStockLater(t *testing.T) {
	t.Parallel()
	f := newFakeShop(t, func(f *fakeShop) { f.returnDelay = 400 * time.Millisecond })
	out, err := runLoadgen(t, f.args("--orders", "300", "--skus", "5", "--stock", "1000", "--fault-ratio", "0.5", "--seed", "7")...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	injected, failed := count(t, out, "faults injected"), count(t, out, "failed")
	if injected < 100 || injected > 200 {
		t.Errorf("faults injected = %d of 300, want about half", injected)
	}
	if failed != injected || !strings.Contains(metric(t, out, "failed"), "503 unavailable") {
		t.Errorf("failed = %q, want %d × 503 unavailable", metric(t, out, "failed"), injected)
	}
	if got := count(t, out, "created"); got != 300-injected {
		t.Errorf("created = %d, want %d", got, 300-injected)
	}
	// The stock of the last 503s comes back 400 ms after the load: the invariant must wait.
	inv := metric(t, out, "invariant")
	settled, err := time.ParseDuration(strings.TrimSuffix(strings.TrimPrefix(inv, "ok (settled in "), ")"))
	if err != nil || settled < 200*time.Millisecond {
		t.Errorf("invariant = %q, want ok after waiting for the compensations", inv)
	}
	if got := metric(t, out, "unknown outcomes"); !strings.HasPrefix(got, "0 order(s) found, "+strconv.FormatInt(injected, 10)+" without") {
		t.Errorf("unknown outcomes = %q, want every 503 without an order", got)
	}
}

func TestRun_fails_whenStockGoesMissing(t *testing.T) {
	t.Parallel()
	f := newFakeShop(t, func(f *fakeShop) { f.leakEvery = 10 })
	out, err := runLoadgen(t, f.args("--orders", "100", "--skus", "3", "--stock", "1000", "--settle", "500ms")...)
	if err == nil || !strings.Contains(err.Error(), "stock invariant: FAILED") {
		t.Fatalf("run error = %v, want a failed invariant", err)
	}
	if !strings.HasPrefix(metric(t, out, "invariant"), "FAILED on ") {
		t.Errorf("invariant = %q, want FAILED", metric(t, out, "invariant"))
	}
	// Each SKU row: initial − remaining − held = the leaked pieces; together the 10 leaks.
	var leaked int64
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "| 90000") {
			cols := strings.Split(strings.Trim(l, "| "), " | ")
			n, err := strconv.ParseInt(cols[4], 10, 64)
			if err != nil {
				t.Fatalf("row %q: %v", l, err)
			}
			leaked += n
		}
	}
	if leaked != 10 {
		t.Errorf("missing stock in the SKU table = %d, want 10\n%s", leaked, out)
	}
}

func TestRun_findsTheOrders_whoseAnswersWereLost(t *testing.T) {
	t.Parallel()
	f := newFakeShop(t, func(f *fakeShop) { f.hangUpEvery = 4 })
	out, err := runLoadgen(t, f.args("--orders", "100", "--skus", "2", "--stock", "1000", "--max-error-ratio", "1")...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	lost := count(t, out, "errors (no answer)")
	if lost != 25 {
		t.Errorf("errors = %d, want 25 (every 4th answer lost)", lost)
	}
	if got := metric(t, out, "unknown outcomes"); got != "25 order(s) found, 0 without an order, 0 unreadable" {
		t.Errorf("unknown outcomes = %q, want all 25 found", got)
	}
	if !strings.HasPrefix(metric(t, out, "invariant"), "ok") {
		t.Errorf("invariant = %q, want ok", metric(t, out, "invariant"))
	}
}

func TestRun_fails_whenErrorsExceedTheThreshold(t *testing.T) {
	t.Parallel()
	f := newFakeShop(t, func(f *fakeShop) { f.hangUpEvery = 2 })
	out, err := runLoadgen(t, f.args("--orders", "40", "--max-error-ratio", "0.2")...)
	if err == nil || !strings.Contains(err.Error(), "20 of 40 order requests got no answer") {
		t.Fatalf("run error = %v, want too many errors", err)
	}
	if !strings.HasPrefix(metric(t, out, "invariant"), "ok") { // lost answers, but no lost stock
		t.Errorf("invariant = %q, want ok", metric(t, out, "invariant"))
	}
}

func TestRun_discountsOrdersClosedByTheTimeout(t *testing.T) {
	t.Parallel()
	f := newFakeShop(t, func(f *fakeShop) { f.closeOnWrite = true })
	out, err := runLoadgen(t, f.args("--orders", "30", "--stock", "100")...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := count(t, out, "closed by timeout"); got != 30 {
		t.Errorf("closed by timeout = %d, want 30", got)
	}
}

func TestRun_paysTheCreatedOrders_withPayRatioOne(t *testing.T) {
	t.Parallel()
	f := newFakeShop(t, nil)
	out, err := runLoadgen(t, f.args("--orders", "60", "--stock", "40", "--pay-ratio", "1")...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := metric(t, out, "paid"); got != "40 (0 payments failed)" {
		t.Errorf("paid = %q, want 40", got)
	}
	if got := f.paidOrders(); got != 40 {
		t.Errorf("the shop has %d paid orders, want 40", got)
	}
}

func TestRun_stopsAfterDuration(t *testing.T) {
	t.Parallel()
	f := newFakeShop(t, nil)
	began := time.Now()
	out, err := runLoadgen(t, f.args("--duration", "300ms", "--concurrency", "2", "--stock", "1000000")...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if took := time.Since(began); took > 20*time.Second {
		t.Errorf("run took %v for a 300ms load", took)
	}
	if count(t, out, "orders sent") == 0 {
		t.Error("no orders sent")
	}
}

func TestRun_fails_whenTheInventoryIsUnreachable(t *testing.T) {
	t.Parallel()
	_, err := runLoadgen(t, "--inventory-url", "http://127.0.0.1:1", "--orders", "1", "--progress", "off", "--timeout", "2s")
	if err == nil || !strings.Contains(err.Error(), "set up the goods") {
		t.Fatalf("run error = %v, want a set-up error", err)
	}
}

func TestRun_printsUsage_onH(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, noEnv, &out); err != nil {
		t.Fatalf("run -h: %v", err)
	}
	for _, want := range []string{"-order-url", "-fault-ratio", "-settle"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %s:\n%s", want, out.String())
		}
	}
}

func TestLoadConfig_reportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := loadConfig([]string{"--order-url", "ftp://x", "--skus", "0", "--num", "0", "--concurrency", "0",
		"--pay-ratio", "1.5", "--fault-ratio", "NaN", "--duration", "0", "--progress", "loud", "--settle", "0"}, noEnv, &bytes.Buffer{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"--order-url", "--skus", "--num", "--concurrency", "--pay-ratio", "--fault-ratio",
		"give --duration or --orders", "--progress", "--settle"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := loadConfig([]string{"-h"}, noEnv, &bytes.Buffer{}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestLoadConfig_ordersAlone_runUntilSent(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LOADGEN_ORDER_URL": "http://orders:1"}
	c, err := loadConfig([]string{"--orders", "5"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.load.Duration != 0 || c.load.Orders != 5 || c.load.OrderURL != "http://orders:1" {
		t.Errorf("config = duration %v, orders %d, order URL %s; want 0, 5, from the environment", c.load.Duration, c.load.Orders, c.load.OrderURL)
	}
	c, err = loadConfig([]string{"--orders", "5", "--duration", "1s"}, noEnv, &bytes.Buffer{})
	if err != nil || c.load.Duration != time.Second {
		t.Errorf("both given: duration %v, err %v; want 1s", c.load.Duration, err)
	}
}
