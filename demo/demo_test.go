package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDemo_playsEveryScenarioAsExpected(t *testing.T) {
	playAndCheck(t)
}

// TestDemo_withTwoReplicas_playsEveryScenario_andBothInstancesServe: --replicas 2 runs two
// inventory_srv and two order_srv behind one address each; the story is the same, the crashed
// order_srv's partner serves meanwhile, and every instance answered requests.
func TestDemo_withTwoReplicas_playsEveryScenario_andBothInstancesServe(t *testing.T) {
	story := playAndCheck(t, "--replicas", "2")
	for _, want := range []string{
		"that was order_srv_1; order_srv_2 alone serves order_srv's address",
		"the check-back was answered by order_srv_",
		"order_srv's address is a round-robin balancer over 2 instances",
	} {
		if !strings.Contains(story, want) {
			t.Errorf("the narration lacks %q", want)
		}
	}
	re := regexp.MustCompile(`Requests answered through the (\w+) balancer: \w+_1 (\d+), \w+_2 (\d+)`)
	found := re.FindAllStringSubmatch(story, -1)
	if len(found) != 2 {
		t.Fatalf("balancer counts: %q, want one line for each service", found)
	}
	for _, m := range found {
		if m[2] == "0" || m[3] == "0" {
			t.Errorf("%s balancer: the instances answered %s and %s requests, want both some", m[1], m[2], m[3])
		}
	}
}

// playAndCheck runs the demo with extra flags and checks the narration of every scenario.
func playAndCheck(t *testing.T, extra ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the whole stack; skipped with -short")
	}
	p := freePorts(t)
	args := append([]string{"--exit", "--data-dir", filepath.Join(t.TempDir(), "demo"),
		"--namesrv-port", strconv.Itoa(p.namesrv), "--broker-port", strconv.Itoa(p.broker),
		"--admin-port", strconv.Itoa(p.admin), "--inventory-port", strconv.Itoa(p.inventory),
		"--order-port", strconv.Itoa(p.order)}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out bytes.Buffer
	began := time.Now()
	err := run(ctx, args, testEnv, &out)
	t.Logf("the demo took %v; its narration:\n%s", time.Since(began).Round(100*time.Millisecond), out.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	story := out.String()
	for _, want := range []string{
		// 1: success and payment
		"Idempotent-Replayed: true",
		"order_srv answered ROLLBACK → never delivered, the stock stays sold",
		"payment timeout for order_timeout scheduled at level 16 = 10s here, 30m by default",
		"→ 200 TRADE_SUCCESS",
		// 2: short stock
		"→ 409 insufficient_stock",
		"tea tin 3 → 3 (all or nothing)",
		// 3: rollback
		"X-Fault: fail-local-tx → 503 unavailable",
		"order_srv answered COMMIT → copy stored on order_reback",
		"stock kettle 5 → 5",
		// 4: crashes and check-backs
		"X-Fault: crash-after-deduct → no answer",
		"order_srv exited with status 3",
		`order_srv: "check-back: no order, stock returns" → COMMIT`,
		"inventory consumed the committed copy: stock kettle 4 → 5",
		"X-Fault: crash-after-commit → no answer",
		`order_srv: "check-back: order exists, stock stays sold" → ROLLBACK`,
		// 5: timeouts
		"stock returned: tea cup 14 → 16",
		"stock returned: teapot 7 → 8",
		"→ 409 order_closed",
		"→ still TRADE_SUCCESS",
		// 6: load
		"Scenario 6 — load: 8 concurrent buyers for 5s",
		"| orders/s | ",
		"| latency p99 | ",
		"| invariant | ok (settled in ",
		"stock invariant: for each of the 4 goods, initial − remaining = the pieces of its live orders",
		// the end
		"→ 0 undecided half messages",
		"teapot   sold 2 + remaining 8 = 10, initial 10 ✓",
		"tea cup  sold 4 + remaining 16 = 20, initial 20 ✓",
		"kettle   sold 0 + remaining 5 = 5, initial 5 ✓",
		"tea tin  sold 0 + remaining 3 = 3, initial 3 ✓",
	} {
		if !strings.Contains(story, want) {
			t.Errorf("the narration lacks %q", want)
		}
	}
	if got := strings.Count(story, "✓ as expected"); got != 7 {
		t.Errorf("%d of 7 parts went as expected", got)
	}
	if strings.Contains(story, "✗") {
		t.Error("the narration reports a failed expectation (✗)")
	}
	return story
}
