//go:build !race

// The official client has data races of its own (consumer internals), so
// client-driven tests run without -race; wire_test.go and
// process_test.go cover the broker under the race detector.

package broker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/clock"
)

// txListener answers from fixed states and records the checks it got.
type txListener struct {
	exec, check primitive.LocalTransactionState
	mu          sync.Mutex
	checks      []*primitive.MessageExt
	checked     chan struct{}
}

func newTxListener(exec, check primitive.LocalTransactionState) *txListener {
	return &txListener{exec: exec, check: check, checked: make(chan struct{}, 16)}
}

func (l *txListener) ExecuteLocalTransaction(*primitive.Message) primitive.LocalTransactionState {
	return l.exec
}

func (l *txListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	l.mu.Lock()
	l.checks = append(l.checks, m)
	l.mu.Unlock()
	l.checked <- struct{}{}
	return l.check
}

func (l *txListener) waitCheck(t testing.TB) *primitive.MessageExt {
	t.Helper()
	select {
	case <-l.checked:
	case <-time.After(20 * time.Second):
		t.Fatal("no check-back arrived")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checks[len(l.checks)-1]
}

func newTxProducer(t testing.TB, b *brokertest.Broker, group string, l primitive.TransactionListener) rocketmq.TransactionProducer {
	t.Helper()
	p, err := rocketmq.NewTransactionProducer(l,
		producer.WithNameServer([]string{b.NamesrvAddr()}),
		producer.WithGroupName(group),
		producer.WithInstanceName(uniq("tx")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

func sendHalf(t testing.TB, p rocketmq.TransactionProducer, topic, body string) *primitive.TransactionSendResult {
	t.Helper()
	m := primitive.NewMessage(topic, []byte(body))
	m.WithKeys([]string{body})
	res, err := p.SendMessageInTransaction(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != primitive.SendOK {
		t.Fatalf("half message status %v", res.Status)
	}
	return res
}

func TestTransaction_commitDeliversOnce_rollbackDiscards(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithAdmin())
	topic := uniq("T")
	commit := newTxProducer(t, b, uniq("tpg"), newTxListener(primitive.CommitMessageState, primitive.UnknowState))
	rollback := newTxProducer(t, b, uniq("tpg"), newTxListener(primitive.RollbackMessageState, primitive.UnknowState))
	sendHalf(t, rollback, topic, "rolled-back")
	res := sendHalf(t, commit, topic, "committed")
	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: uniq("cg"), listen: collectInto(col)})
	sendN(t, newProducer(t, b), topic, 1, "sentinel") // consumed after the committed one is stored
	got := col.waitFor(t, 20*time.Second, "committed and sentinel", func(ms []*primitive.MessageExt) bool {
		seen := map[string]bool{}
		for _, m := range ms {
			seen[string(m.Body)] = true
		}
		return seen["committed"] && seen["sentinel-0"]
	})
	for _, m := range got {
		switch string(m.Body) {
		case "rolled-back":
			t.Fatal("rolled-back half message was delivered")
		case "committed":
			if m.MsgId != res.MsgID || m.GetProperty("__transactionId__") != res.MsgID {
				t.Errorf("committed message id %s (tx %q), want %s", m.MsgId, m.GetProperty("__transactionId__"), res.MsgID)
			}
		}
	}
	if n := countInTopic(lookup(t, b, "committed"), topic); n != 1 {
		t.Fatalf("committed message stored %d times, want once", n)
	}
	if n := countInTopic(lookup(t, b, "rolled-back"), topic); n != 0 {
		t.Fatalf("rolled-back message stored %d times in its topic", n)
	}
}

func TestTransaction_unknownIsCheckedBack_andTheAnswerDecides(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  primitive.LocalTransactionState
		deliver bool
	}{{"commit", primitive.CommitMessageState, true}, {"rollback", primitive.RollbackMessageState, false}} {
		t.Run(tc.name, func(t *testing.T) {
			fake := clock.NewFake(time.Now())
			b := brokertest.Start(t, brokertest.WithClock(fake), brokertest.WithAdmin())
			topic := uniq("T")
			l := newTxListener(primitive.UnknowState, tc.answer)
			p := newTxProducer(t, b, uniq("tpg"), l)
			res := sendHalf(t, p, topic, "half-"+tc.name)
			fake.Advance(5 * time.Second)
			select {
			case <-l.checked:
				t.Fatal("checked back before tx-timeout")
			default:
			}
			fake.Advance(time.Second) // 6s: tx-timeout reached
			m := l.waitCheck(t)
			if m.Topic != topic || string(m.Body) != "half-"+tc.name || m.GetProperty("UNIQ_KEY") != res.MsgID {
				t.Fatalf("check carried topic=%s body=%s uniq=%s", m.Topic, m.Body, m.GetProperty("UNIQ_KEY"))
			}
			// Decided means: no longer pending and, for a commit, stored in its topic.
			deadline := time.Now().Add(10 * time.Second)
			for {
				pending := len(adminList(t, b, "/api/transactions"))
				n := countInTopic(lookup(t, b, "half-"+tc.name), topic)
				if n > 1 || !tc.deliver && n > 0 {
					t.Fatalf("after %s check: stored %d times in topic", tc.name, n)
				}
				if pending == 0 && (n == 1) == tc.deliver {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after %s check: %d pending, stored %d times", tc.name, pending, n)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func adminList(t testing.TB, b *brokertest.Broker, path string) []map[string]any {
	t.Helper()
	resp, err := httpGetJSON(b.AdminURL() + path)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestTransaction_checkReachesANewProducerAfterTheOriginalDied(t *testing.T) {
	fake := clock.NewFake(time.Now())
	b := brokertest.Start(t, brokertest.WithClock(fake), brokertest.WithAdmin())
	topic, group := uniq("T"), uniq("tpg")
	first := newTxProducer(t, b, group, newTxListener(primitive.UnknowState, primitive.UnknowState))
	sendHalf(t, first, topic, "orphan")
	if err := first.Shutdown(); err != nil { // dies before deciding
		t.Fatal(err)
	}
	waitNoProducer(t, b, group)
	fake.Advance(10 * time.Second) // due, but nobody of the group is connected
	l := newTxListener(primitive.RollbackMessageState, primitive.CommitMessageState)
	restarted := newTxProducer(t, b, group, l)
	// rocketmq-client-go only talks to brokers it has sent to: a restarted
	// transaction producer announces itself with a half message it rolls back.
	sendHalf(t, restarted, topic, "probe")
	fake.Advance(time.Second) // the broker retries while no producer is connected
	m := l.waitCheck(t)
	if string(m.Body) != "orphan" {
		t.Fatalf("check for %q", m.Body)
	}
	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: uniq("cg"), listen: collectInto(col)})
	got := col.waitCount(t, 1, 20*time.Second)
	if string(got[0].Body) != "orphan" {
		t.Fatalf("delivered %q", got[0].Body)
	}
}

func TestTransaction_pendingHalfSurvivesRestart_andIsCheckedAfterIt(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithTxTimeout(300*time.Millisecond), brokertest.WithTxCheckInterval(300*time.Millisecond),
		brokertest.WithAdmin())
	topic, group := uniq("T"), uniq("tpg")
	committed := newTxProducer(t, b, uniq("tpg"), newTxListener(primitive.CommitMessageState, primitive.UnknowState))
	sendHalf(t, committed, topic, "decided-before-restart")
	p := newTxProducer(t, b, group, newTxListener(primitive.UnknowState, primitive.UnknowState))
	sendHalf(t, p, topic, "pending")
	if err := p.Shutdown(); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	if n := len(adminList(t, b, "/api/transactions")); n != 1 {
		t.Fatalf("after restart %d half messages pending, want 1", n)
	}
	l := newTxListener(primitive.RollbackMessageState, primitive.CommitMessageState)
	sendHalf(t, newTxProducer(t, b, group, l), topic, "probe")
	l.waitCheck(t)
	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: uniq("cg"), listen: collectInto(col)})
	got := col.waitCount(t, 2, 20*time.Second)
	seen := map[string]int{}
	for _, m := range got {
		seen[string(m.Body)]++
	}
	if seen["pending"] != 1 || seen["decided-before-restart"] != 1 {
		t.Fatalf("deliveries %v", seen)
	}
}

func TestTransaction_discardedAfterMaxChecks(t *testing.T) {
	fake := clock.NewFake(time.Now())
	b := brokertest.Start(t, brokertest.WithClock(fake), brokertest.WithTxCheckMax(2), brokertest.WithAdmin())
	topic := uniq("T")
	l := newTxListener(primitive.UnknowState, primitive.UnknowState)
	p := newTxProducer(t, b, uniq("tpg"), l)
	sendHalf(t, p, topic, "undecidable")
	fake.Advance(6 * time.Second)
	l.waitCheck(t)
	fake.Advance(60 * time.Second)
	l.waitCheck(t)
	fake.Advance(60 * time.Second) // third time: discard
	deadline := time.Now().Add(10 * time.Second)
	for len(adminList(t, b, "/api/transactions")) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("half message not discarded after the maximum checks")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitNoProducer waits until the broker has dropped every producer of group.
func waitNoProducer(t testing.TB, b *brokertest.Broker, group string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(b.AdminURL() + "/api/groups")
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Producers map[string][]string `json:"producers"`
		}
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Producers[group]) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("producer group %s still registered: %v", group, v.Producers[group])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
