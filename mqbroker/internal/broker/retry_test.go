//go:build !race

// The official client has data races of its own (consumer internals), so
// client-driven tests run without -race; wire_test.go and
// process_test.go cover the broker under the race detector.

package broker_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

func TestRetry_failedMessageIsRedeliveredWithMoreReconsumeTimes_thenDeadLettered(t *testing.T) {
	// Every level 100ms, so the retry ladder (levels 3, 4, ...) runs fast.
	b := brokertest.Start(t, brokertest.WithDelayLevels(strings.TrimSpace(strings.Repeat("100ms ", 18))))
	topic, group := uniq("T"), uniq("cg")
	p := newProducer(t, b)
	var mu sync.Mutex
	var attempts []int32
	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: group, opts: []consumer.Option{consumer.WithMaxReconsumeTimes(2)},
		listen: func(_ context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			for _, m := range ms {
				if string(m.Body) != "fail-me" {
					continue
				}
				if m.Topic != topic {
					t.Errorf("retry delivered with topic %s, want %s", m.Topic, topic)
				}
				mu.Lock()
				attempts = append(attempts, m.ReconsumeTimes)
				mu.Unlock()
				col.add(m)
			}
			return consumer.ConsumeRetryLater, nil
		}})
	res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("fail-me")))
	if err != nil {
		t.Fatal(err)
	}
	col.waitCount(t, 3, 30*time.Second)

	dlq := newCollector()
	startConsumer(t, b, "%DLQ%"+group, consumerCfg{group: uniq("dlq-reader"), listen: collectInto(dlq)})
	got := dlq.waitCount(t, 1, 30*time.Second)
	if string(got[0].Body) != "fail-me" || got[0].MsgId != res.MsgID {
		t.Fatalf("DLQ holds %q (%s), want fail-me (%s)", got[0].Body, got[0].MsgId, res.MsgID)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 3 || attempts[0] != 0 || attempts[1] != 1 || attempts[2] != 2 {
		t.Fatalf("reconsume times per attempt %v, want [0 1 2]", attempts)
	}
}
