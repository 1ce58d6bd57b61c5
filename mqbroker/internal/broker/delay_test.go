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
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/clock"
)

func TestDelay_invisibleUntilDue_thenDeliveredWithItsTopicTagsKeysAndProperties(t *testing.T) {
	fake := clock.NewFake(time.Now())
	b := brokertest.Start(t, brokertest.WithClock(fake))
	topic := uniq("T")
	p := newProducer(t, b)
	m := primitive.NewMessage(topic, []byte("delayed"))
	m.WithDelayTimeLevel(3) // 10s
	m.WithTag("TagD")
	m.WithKeys([]string{"dkey"})
	m.WithProperty("color", "red")
	res, err := p.SendSync(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: uniq("cg"), listen: collectInto(col)})
	// A plain message sent after it is consumed first: the delayed one is invisible.
	sendN(t, p, topic, 1, "plain")
	col.waitCount(t, 1, 20*time.Second)
	fake.Advance(9 * time.Second)
	sendN(t, p, topic, 1, "plain2")
	got := col.waitCount(t, 2, 20*time.Second)
	for _, g := range got {
		if string(g.Body) == "delayed" {
			t.Fatal("delayed message delivered before it was due")
		}
	}
	fake.Advance(time.Second)
	got = col.waitCount(t, 3, 20*time.Second)
	d := got[2]
	if string(d.Body) != "delayed" || d.Topic != topic || d.GetTags() != "TagD" || d.GetKeys() != "dkey" ||
		d.GetProperty("color") != "red" || d.MsgId != res.MsgID {
		t.Fatalf("delivered message changed: topic=%s tags=%s keys=%s props=%v id=%s want id %s",
			d.Topic, d.GetTags(), d.GetKeys(), d.GetProperties(), d.MsgId, res.MsgID)
	}
	if d.GetProperty("REAL_TOPIC") != topic || d.GetProperty("REAL_QID") == "" || d.GetProperty("DELAY") != "" {
		t.Fatalf("want REAL_TOPIC/REAL_QID kept and DELAY removed, got %v", d.GetProperties())
	}
}

func TestDelay_eachLevelWaitsItsOwnDelay(t *testing.T) {
	fake := clock.NewFake(time.Now())
	b := brokertest.Start(t, brokertest.WithClock(fake), brokertest.WithDelayLevels("1s 5s 30s"))
	topic := uniq("T")
	p := newProducer(t, b)
	for lvl := 3; lvl >= 1; lvl-- {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("level-%d", lvl)))
		m.WithDelayTimeLevel(lvl)
		if _, err := p.SendSync(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: uniq("cg"), listen: collectInto(col)})
	for i, step := range []struct {
		advance time.Duration
		want    string
	}{{time.Second, "level-1"}, {4 * time.Second, "level-2"}, {25 * time.Second, "level-3"}} {
		fake.Advance(step.advance)
		got := col.waitCount(t, i+1, 20*time.Second)
		if len(got) != i+1 || string(got[i].Body) != step.want {
			t.Fatalf("after step %d got %d messages, last %q, want %q", i, len(got), got[len(got)-1].Body, step.want)
		}
	}
}

// lookup asks the admin API for every record with the key.
func lookup(t testing.TB, b *brokertest.Broker, key string) []map[string]any {
	t.Helper()
	resp, err := http.Get(b.AdminURL() + "/api/messages?key=" + key)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func countInTopic(recs []map[string]any, topic string) int {
	n := 0
	for _, r := range recs {
		if r["topic"] == topic {
			n++
		}
	}
	return n
}

func TestDelay_survivesRestart_andIsNeverDeliveredTwice(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithDelayLevels("200ms 2s"), brokertest.WithAdmin())
	topic := uniq("T")
	p := newProducer(t, b)
	early := primitive.NewMessage(topic, []byte("early"))
	early.WithDelayTimeLevel(1)
	early.WithKeys([]string{"early"})
	late := primitive.NewMessage(topic, []byte("late"))
	late.WithDelayTimeLevel(2)
	late.WithKeys([]string{"late"})
	for _, m := range []*primitive.Message{early, late} {
		if _, err := p.SendSync(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for the early one to be delivered into its topic, then restart
	// before the late one is due.
	deadline := time.Now().Add(10 * time.Second)
	for countInTopic(lookup(t, b, "early"), topic) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("early delayed message never delivered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Restart()
	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: uniq("cg"), listen: collectInto(col)})
	got := col.waitCount(t, 2, 20*time.Second)
	if n := countInTopic(lookup(t, b, "early"), topic); n != 1 {
		t.Fatalf("early message stored %d times in its topic after restart, want 1", n)
	}
	if n := countInTopic(lookup(t, b, "late"), topic); n != 1 {
		t.Fatalf("late message stored %d times in its topic, want 1", n)
	}
	seen := map[string]int{}
	for _, m := range got {
		seen[string(m.Body)]++
	}
	if seen["early"] != 1 || seen["late"] != 1 {
		t.Fatalf("deliveries %v, want each once", seen)
	}
}
