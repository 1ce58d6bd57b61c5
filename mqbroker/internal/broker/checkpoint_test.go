//go:build !race

package broker_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

type syncBuffer struct {
	mu sync.Mutex
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

// waitCheckpoint waits until the store writes a checkpoint after now.
func waitCheckpoint(t *testing.T, dataDir string, after time.Time) {
	t.Helper()
	path := filepath.Join(dataDir, "store", "checkpoint")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(path); err == nil && fi.ModTime().After(after) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint written")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCheckpoint_pendingHalfAndDelayedMessageAcrossACrashAfterACheckpoint:
// the broker's state comes from the checkpoint plus the records after it,
// not from a full scan. A crash-like restart (the data dir copied from the
// running broker, no Close) after a checkpoint, with a half message and a
// delayed message on each side of it and one of each already decided or
// delivered before it: every half is checked back and committed once,
// every delayed message is delivered once and not early.
func TestCheckpoint_pendingHalfAndDelayedMessageAcrossACrashAfterACheckpoint(t *testing.T) {
	b1 := brokertest.Start(t, brokertest.WithDelayLevels("100ms 3s"), brokertest.WithTxTimeout(time.Hour), brokertest.WithAdmin())
	topic, group := uniq("T"), uniq("tpg")
	committed := newTxProducer(t, b1, uniq("tpg"), newTxListener(primitive.CommitMessageState, primitive.UnknowState))
	sendHalf(t, committed, topic, "decided-before")
	p := newTxProducer(t, b1, group, newTxListener(primitive.UnknowState, primitive.UnknowState))
	plain := newProducer(t, b1)
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
	for countInTopic(lookup(t, b1, "delivered-before"), topic) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("level-1 message never delivered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	sentA := sendDelayed("delayed-before-checkpoint", 2)
	sendHalf(t, p, topic, "half-before-checkpoint")
	waitCheckpoint(t, b1.DataDir(), time.Now())
	sentB := sendDelayed("delayed-after-checkpoint", 2)
	sendHalf(t, p, topic, "half-after-checkpoint")

	dir := t.TempDir() // the crash: a copy of the running broker's files
	if err := os.CopyFS(dir, os.DirFS(b1.DataDir())); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "LOCK"))
	p.Shutdown()
	b1.Stop()

	logs := &syncBuffer{}
	b2 := brokertest.Start(t, brokertest.WithDataDir(dir), brokertest.WithDelayLevels("100ms 3s"),
		brokertest.WithTxTimeout(300*time.Millisecond), brokertest.WithTxCheckInterval(300*time.Millisecond), brokertest.WithAdmin(),
		brokertest.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	if l := logs.String(); !strings.Contains(l, "from_checkpoint=true") || strings.Contains(l, "rebuilding consume queues") {
		t.Fatalf("restart did not recover from the checkpoint:\n%s", l)
	}
	if n := len(adminList(t, b2, "/api/transactions")); n != 2 {
		t.Fatalf("after restart %d half messages pending, want 2", n)
	}
	l := newTxListener(primitive.RollbackMessageState, primitive.CommitMessageState)
	sendHalf(t, newTxProducer(t, b2, group, l), topic, "probe")
	col := newCollector()
	startConsumer(t, b2, topic, consumerCfg{group: uniq("cg"), listen: collectInto(col)})
	want := []string{"decided-before", "delivered-before", "delayed-before-checkpoint", "delayed-after-checkpoint",
		"half-before-checkpoint", "half-after-checkpoint"}
	got := col.waitFor(t, 30*time.Second, "every message", func(ms []*primitive.MessageExt) bool {
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
	// Wait a few more check and delivery rounds for any duplicate to show.
	deadline = time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && len(adminList(t, b2, "/api/transactions")) != 0 {
		time.Sleep(50 * time.Millisecond)
	}
	got = col.snapshot()
	seen := map[string]int{}
	for _, m := range got {
		seen[string(m.Body)]++
		switch string(m.Body) {
		case "delayed-before-checkpoint":
			if at := time.UnixMilli(m.StoreTimestamp); at.Before(sentA.Add(3 * time.Second).Add(-50 * time.Millisecond)) {
				t.Errorf("%s delivered early: stored %v, sent %v", m.Body, at, sentA)
			}
		case "delayed-after-checkpoint":
			if at := time.UnixMilli(m.StoreTimestamp); at.Before(sentB.Add(3 * time.Second).Add(-50 * time.Millisecond)) {
				t.Errorf("%s delivered early: stored %v, sent %v", m.Body, at, sentB)
			}
		}
	}
	for _, w := range want {
		if seen[w] != 1 {
			t.Errorf("%q delivered %d times, want once (all: %v)", w, seen[w], seen)
		}
	}
	for _, key := range []string{"delivered-before", "delayed-before-checkpoint", "delayed-after-checkpoint"} {
		if n := countInTopic(lookup(t, b2, key), topic); n != 1 {
			t.Errorf("%s stored %d times in its topic, want 1", key, n)
		}
	}
}
