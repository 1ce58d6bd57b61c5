//go:build !race

// The official client has data races of its own (consumer internals), so
// client-driven tests run without -race; wire_test.go and
// process_test.go cover the broker under the race detector.

package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

func sendN(t testing.TB, p interface {
	SendSync(context.Context, ...*primitive.Message) (*primitive.SendResult, error)
}, topic string, n int, tag string) {
	t.Helper()
	for i := 0; i < n; i++ {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("%s-%d", tag, i)))
		if tag != "" {
			m.WithTag(tag)
		}
		if _, err := p.SendSync(context.Background(), m); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
}

func TestClustering_twoInstancesShareQueues_andRebalanceWhenOneLeaves(t *testing.T) {
	b := brokertest.Start(t)
	topic, group := uniq("T"), uniq("cg")
	p := newProducer(t, b)
	col1, col2 := newCollector(), newCollector()
	c1 := startConsumer(t, b, topic, consumerCfg{group: group, listen: collectInto(col1)})
	startConsumer(t, b, topic, consumerCfg{group: group, listen: collectInto(col2)})

	// After the rebalance both instances own queues, so both receive messages.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; len(col1.snapshot()) == 0 || len(col2.snapshot()) == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("messages never spread over both instances: %d / %d", len(col1.snapshot()), len(col2.snapshot()))
		}
		sendN(t, p, topic, 4, "")
		time.Sleep(50 * time.Millisecond) // pacing the producer, not waiting for a condition
	}
	// c1 leaves: its connection closes, the broker notifies c2, which takes every queue.
	if err := c1.Shutdown(); err != nil {
		t.Fatal(err)
	}
	before := len(col2.snapshot())
	sendN(t, p, topic, 8, "after")
	col2.waitFor(t, 20*time.Second, "all 8 messages sent after c1 left", func(ms []*primitive.MessageExt) bool {
		n := 0
		for _, m := range ms[before:] {
			if strings.HasPrefix(string(m.Body), "after-") {
				n++
			}
		}
		return n >= 8
	})
}

func TestTwoGroups_eachGetEveryMessage(t *testing.T) {
	b := brokertest.Start(t)
	topic := uniq("T")
	p := newProducer(t, b)
	colA, colB := newCollector(), newCollector()
	startConsumer(t, b, topic, consumerCfg{group: uniq("ga"), listen: collectInto(colA)})
	startConsumer(t, b, topic, consumerCfg{group: uniq("gb"), listen: collectInto(colB)})
	sendN(t, p, topic, 20, "x")
	colA.waitCount(t, 20, 20*time.Second)
	colB.waitCount(t, 20, 20*time.Second)
}

func TestBroadcasting_everyInstanceGetsEveryMessage(t *testing.T) {
	b := brokertest.Start(t)
	topic, group := uniq("T"), uniq("bg")
	p := newProducer(t, b)
	col1, col2 := newCollector(), newCollector()
	for _, col := range []*collector{col1, col2} {
		startConsumer(t, b, topic, consumerCfg{group: group, listen: collectInto(col),
			opts: []consumer.Option{consumer.WithConsumerModel(consumer.BroadCasting)}})
	}
	sendN(t, p, topic, 10, "x")
	col1.waitCount(t, 10, 20*time.Second)
	col2.waitCount(t, 10, 20*time.Second)
}

func TestTagFilter_deliversOnlySubscribedTags(t *testing.T) {
	b := brokertest.Start(t)
	topic := uniq("T")
	p := newProducer(t, b)
	sendN(t, p, topic, 5, "A")
	sendN(t, p, topic, 5, "B")
	sendN(t, p, topic, 5, "C")
	sendN(t, p, topic, 1, "END") // marks the end for the second consumer
	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: uniq("cg"), listen: collectInto(col),
		selector: consumer.MessageSelector{Type: consumer.TAG, Expression: "A || C"}})
	got := col.waitCount(t, 10, 20*time.Second)
	for _, m := range got {
		if m.GetTags() != "A" && m.GetTags() != "C" {
			t.Fatalf("delivered tag %q", m.GetTags())
		}
	}
}

func TestConsumeFrom_lastOffsetSkipsHistory_timestampStartsThere(t *testing.T) {
	b := brokertest.Start(t)
	topic := uniq("T")
	p := newProducer(t, b)
	sendN(t, p, topic, 8, "old")
	cut := time.Now()
	time.Sleep(5 * time.Millisecond) // distinct millisecond for the timestamp boundary
	sendN(t, p, topic, 4, "mid")

	last := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: uniq("last"), listen: collectInto(last),
		opts: []consumer.Option{consumer.WithConsumeFromWhere(consumer.ConsumeFromLastOffset)}})
	ts := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: uniq("ts"), listen: collectInto(ts),
		opts: []consumer.Option{consumer.WithConsumeFromWhere(consumer.ConsumeFromTimestamp),
			consumer.WithConsumeTimestamp(cut.Format("20060102150405"))}})
	// The timestamp option has a resolution of one second; what it must not
	// deliver is anything older than that second.
	got := ts.waitFor(t, 20*time.Second, "mid messages", func(ms []*primitive.MessageExt) bool {
		n := 0
		for _, m := range ms {
			if strings.HasPrefix(string(m.Body), "mid-") {
				n++
			}
		}
		return n == 4
	})
	for _, m := range got {
		if m.StoreTimestamp < cut.Truncate(time.Second).UnixMilli() {
			t.Errorf("timestamp consumer got a message stored before the cut: %s", m.Body)
		}
	}
	// The last-offset consumer starts at the end of each queue: keep sending
	// new messages until some arrive, then check nothing older ever did.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; len(last.snapshot()) < 3; i++ {
		if time.Now().After(deadline) {
			t.Fatal("last-offset consumer received nothing")
		}
		sendN(t, p, topic, 1, fmt.Sprintf("new%d", i))
		time.Sleep(20 * time.Millisecond) // producer pacing
	}
	for _, m := range last.snapshot() {
		if !strings.HasPrefix(string(m.Body), "new") {
			t.Fatalf("last-offset consumer got history: %s", m.Body)
		}
	}
}

func TestOrderly_perKeyOrderKept(t *testing.T) {
	b := brokertest.Start(t)
	topic := uniq("T")
	p := newProducer(t, b, producer.WithQueueSelector(producer.NewHashQueueSelector()))
	var mu sync.Mutex
	seen := map[string][]int{}
	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: uniq("og"), opts: []consumer.Option{consumer.WithConsumerOrder(true)},
		listen: func(_ context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			mu.Lock()
			for _, m := range ms {
				var k string
				var i int
				fmt.Sscanf(string(m.Body), "%s %d", &k, &i)
				seen[k] = append(seen[k], i)
			}
			mu.Unlock()
			col.add(ms...)
			return consumer.ConsumeSuccess, nil
		}})
	keys := []string{"order-a", "order-b", "order-c", "order-d", "order-e"}
	const per = 20
	for i := 0; i < per; i++ {
		for _, k := range keys {
			m := primitive.NewMessage(topic, []byte(fmt.Sprintf("%s %d", k, i)))
			m.WithShardingKey(k)
			if _, err := p.SendSync(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	col.waitCount(t, per*len(keys), 30*time.Second)
	mu.Lock()
	defer mu.Unlock()
	for _, k := range keys {
		if !sort.IntsAreSorted(seen[k]) || len(seen[k]) != per {
			t.Errorf("key %s consumed out of order or incomplete: %v", k, seen[k])
		}
	}
}

func TestOffsets_restartedGroupContinuesWhereItLeftOff(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithAdmin())
	topic, group := uniq("T"), uniq("cg")
	p := newProducer(t, b)
	sendN(t, p, topic, 10, "first")
	col := newCollector()
	c := startConsumer(t, b, topic, consumerCfg{group: group, listen: collectInto(col)})
	col.waitCount(t, 10, 20*time.Second)
	// The client records an offset only after the listener returns, so a
	// shutdown right now could rightly commit less (at-least-once). Wait for
	// its periodic commit (every 5 s, the first 10 s after start) instead.
	t.Parallel()
	waitCommitted(t, b, group, topic, 10)
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	b.Restart() // offsets must survive the broker restart too
	p2 := newProducer(t, b)
	sendN(t, p2, topic, 5, "second")
	col2 := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: group, listen: collectInto(col2)})
	got := col2.waitCount(t, 5, 20*time.Second)
	for _, m := range got {
		if !strings.HasPrefix(string(m.Body), "second-") {
			t.Fatalf("restarted group re-consumed %s", m.Body)
		}
	}
}

// waitCommitted waits until the group's committed offsets on topic add up to n.
func waitCommitted(t testing.TB, b *brokertest.Broker, group, topic string, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var v struct {
			Offsets []struct {
				Group, Topic string
				Offset       int64
			} `json:"offsets"`
		}
		resp, err := http.Get(b.AdminURL() + "/api/groups")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, o := range v.Offsets {
			if o.Group == group && o.Topic == topic {
				sum += o.Offset
			}
		}
		if sum >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s committed %d of %d offsets on %s", group, sum, n, topic)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
