//go:build !race

package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

func TestMetrics_countTrafficPerTopic_andLagFollowsTheGroup(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithAdmin(), brokertest.WithSyncFlush(), brokertest.WithDelayLevels("1s 1h"))
	topic, group := uniq("T"), uniq("cg")
	p := newProducer(t, b)
	const n = 12
	sendN(t, p, topic, n, "")

	col := newCollector()
	c := startConsumer(t, b, topic, consumerCfg{group: group, listen: collectInto(col)})
	col.waitCount(t, n, 20*time.Second)
	waitCommitted(t, b, group, topic, n)

	fams := scrape(t, b)
	if v, _ := metricValue(fams, "mqbroker_messages_in_total", map[string]string{"topic": topic}); v != n {
		t.Errorf("messages in on %s = %v, want %d", topic, v, n)
	}
	if v, _ := metricValue(fams, "mqbroker_messages_out_total", map[string]string{"topic": topic}); v < n {
		t.Errorf("messages out on %s = %v, want at least %d", topic, v, n)
	}
	in, _ := metricValue(fams, "mqbroker_bytes_in_total", map[string]string{"topic": topic})
	out, _ := metricValue(fams, "mqbroker_bytes_out_total", map[string]string{"topic": topic})
	if in <= n*10 || out < in {
		t.Errorf("bytes in %v, out %v: want more than %d in and out >= in", in, out, n*10)
	}
	if v, _ := metricValue(fams, "mqbroker_fsync_duration_seconds", nil); v < 1 {
		t.Errorf("fsync histogram has %v observations with sync flush, want at least 1", v)
	}
	if v, ok := metricValue(fams, "mqbroker_consumer_lag", map[string]string{"group": group, "topic": topic}); !ok || v != 0 {
		t.Errorf("lag of %s on %s = %v (present %v), want 0 after consuming everything", group, topic, v, ok)
	}

	// With the group gone, new messages pile up as lag; a message with
	// level 2 (1h) stays pending in its delay level.
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	const more = 5
	sendN(t, p, topic, more, "")
	delayed := primitive.NewMessage(topic, []byte("later"))
	delayed.WithDelayTimeLevel(2)
	if _, err := p.SendSync(context.Background(), delayed); err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, b)
	if v, _ := metricValue(fams, "mqbroker_consumer_lag", map[string]string{"group": group, "topic": topic}); v != more {
		t.Errorf("lag of %s on %s = %v, want %d", group, topic, v, more)
	}
	if v, _ := metricValue(fams, "mqbroker_messages_in_total", map[string]string{"topic": topic}); v != n+more+1 {
		t.Errorf("messages in on %s = %v, want %d", topic, v, n+more+1)
	}
	if v, _ := metricValue(fams, "mqbroker_pending_delayed_messages", map[string]string{"level": "2", "delay": "1h"}); v != 1 {
		t.Errorf("pending delayed at level 2 = %v, want 1", v)
	}
	if v, ok := metricValue(fams, "mqbroker_pending_half_messages", nil); !ok || v != 0 {
		t.Errorf("pending half = %v (present %v), want 0", v, ok)
	}
}

func TestMetrics_pendingHalfCountsUndecidedTransactions(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithAdmin(), brokertest.WithTxTimeout(time.Hour))
	p := newTxProducer(t, b, uniq("txg"), newTxListener(primitive.UnknowState, primitive.UnknowState))
	topic := uniq("T")
	for i := range 3 {
		sendHalf(t, p, topic, fmt.Sprintf("order-%d", i))
	}
	if v, _ := metricValue(scrape(t, b), "mqbroker_pending_half_messages", nil); v != 3 {
		t.Fatalf("pending half = %v, want 3", v)
	}
}
