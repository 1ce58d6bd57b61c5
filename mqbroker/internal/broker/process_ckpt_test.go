//go:build !race

package broker_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// testKillAfterCheckpoint: the real binary killed with -9 after a
// checkpoint, with a half message and a delayed message on each side of it
// and one of each already decided or delivered before it. After the
// restart (from the checkpoint, not a full scan) every half is checked back
// and committed exactly once and every delayed message is delivered
// exactly once, not early.
func testKillAfterCheckpoint(t *testing.T, bin string) {
	base := []string{"--delay-levels", "100ms 3s"}
	p := startBrokerProc(t, bin, append(base, "--tx-timeout", "1h")...)
	topic, group := uniq("T"), uniq("tpg")
	committed := newTxProducerAt(t, p.ns, uniq("tpg"), newTxListener(primitive.CommitMessageState, primitive.UnknowState))
	sendHalf(t, committed, topic, "decided-before")
	tx := newTxProducerAt(t, p.ns, group, newTxListener(primitive.UnknowState, primitive.UnknowState))
	plain := newProducerAt(t, p.ns)
	count := func(key string) int {
		var recs []map[string]any
		adminGet(t, p, "/api/messages?key="+key, &recs)
		return countInTopic(recs, topic)
	}
	sendDelayed := func(body string, level int) time.Time {
		m := primitive.NewMessage(topic, []byte(body))
		m.WithDelayTimeLevel(level)
		m.WithKeys([]string{body})
		at := time.Now()
		if _, err := plain.SendSync(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		return at
	}
	sendDelayed("delivered-before", 1)
	deadline := time.Now().Add(10 * time.Second)
	for count("delivered-before") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("level-1 message never delivered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	sent := map[string]time.Time{"delayed-before-checkpoint": sendDelayed("delayed-before-checkpoint", 2)}
	sendHalf(t, tx, topic, "half-before-checkpoint")
	waitCheckpoint(t, p.dir, time.Now())
	sent["delayed-after-checkpoint"] = sendDelayed("delayed-after-checkpoint", 2)
	sendHalf(t, tx, topic, "half-after-checkpoint")
	p.stop(syscall.SIGKILL)
	_ = tx.Shutdown()

	p.args = append(base, "--tx-timeout", "300ms", "--tx-check-interval", "300ms")
	p.restart()
	// The broker logs "state recovered" before it serves, but its output reaches p.out through
	// exec's copying goroutine, which can lag the probe that found it serving (seen on a
	// loaded machine once Open got faster): wait for the line, then check it.
	out := p.out.String()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out, "state recovered") && time.Now().Before(deadline); out = p.out.String() {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out, "from_checkpoint=true") && !strings.Contains(out, `"from_checkpoint":true`) {
		t.Fatalf("restart did not recover from the checkpoint:\n%s", out)
	}
	var halves []map[string]any
	adminGet(t, p, "/api/transactions", &halves)
	if len(halves) != 2 {
		t.Fatalf("after kill -9 and restart %d half messages pending, want 2: %v", len(halves), halves)
	}
	l := newTxListener(primitive.RollbackMessageState, primitive.CommitMessageState)
	sendHalf(t, newTxProducerAt(t, p.ns, group, l), topic, "probe")
	col := newCollector()
	startConsumerAt(t, p.ns, topic, consumerCfg{group: uniq("cg"), listen: collectInto(col)})
	want := []string{"decided-before", "delivered-before", "delayed-before-checkpoint", "delayed-after-checkpoint",
		"half-before-checkpoint", "half-after-checkpoint"}
	col.waitFor(t, 30*time.Second, "every message", func(ms []*primitive.MessageExt) bool {
		seen := map[string]bool{}
		for _, m := range ms {
			seen[string(m.Body)] = true
		}
		for _, w := range want {
			if !seen[w] {
				return false
			}
		}
		return true
	})
	deadline = time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		adminGet(t, p, "/api/transactions", &halves)
		if len(halves) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	seen := map[string]int{}
	for _, m := range col.snapshot() {
		seen[string(m.Body)]++
		if at, ok := sent[string(m.Body)]; ok && time.UnixMilli(m.StoreTimestamp).Before(at.Add(3*time.Second-50*time.Millisecond)) {
			t.Errorf("%s delivered early: stored %v, sent %v", m.Body, time.UnixMilli(m.StoreTimestamp), at)
		}
	}
	for _, w := range want {
		if seen[w] != 1 {
			t.Errorf("%q delivered %d times, want once (all: %v)", w, seen[w], seen)
		}
	}
	for _, key := range []string{"delivered-before", "delayed-before-checkpoint", "delayed-after-checkpoint"} {
		if n := count(key); n != 1 {
			t.Errorf("%s stored %d times in its topic, want 1", key, n)
		}
	}
	p.stopGracefully()
	if _, err := os.Stat(filepath.Join(p.dir, "store", "checkpoint")); err != nil {
		t.Fatalf("no checkpoint after a graceful stop: %v", err)
	}
}
