//go:build !race

// The official client has data races of its own (consumer internals), so
// client-driven tests run without -race; wire_test.go and
// process_test.go cover the broker under the race detector.

package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

func TestSendSync_deliversKeysTagsAndProperties(t *testing.T) {
	b := brokertest.Start(t)
	topic := uniq("T")
	p := newProducer(t, b)
	ctx := context.Background()
	const n = 10
	sent := map[string]*primitive.SendResult{}
	for i := 0; i < n; i++ {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("body-%d", i)))
		m.WithTag("TagA")
		m.WithKeys([]string{fmt.Sprintf("k%d", i), "common"})
		m.WithProperty("color", "blue")
		res, err := p.SendSync(ctx, m)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if res.Status != primitive.SendOK || res.MsgID == "" || len(res.OffsetMsgID) != 32 || res.MessageQueue == nil {
			t.Fatalf("send %d: bad result %+v", i, res)
		}
		sent[res.MsgID] = res
	}
	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: uniq("cg"), listen: collectInto(col)})
	got := col.waitCount(t, n, 20*time.Second)
	for _, m := range got {
		res, ok := sent[m.MsgId]
		if !ok {
			t.Fatalf("unexpected message %s", m.MsgId)
		}
		if m.OffsetMsgId != res.OffsetMsgID || m.QueueOffset != res.QueueOffset || m.Queue.QueueId != res.MessageQueue.QueueId {
			t.Errorf("message %s: offsetMsgId/queue %s/%d/%d, send said %s/%d/%d", m.MsgId, m.OffsetMsgId, m.Queue.QueueId, m.QueueOffset,
				res.OffsetMsgID, res.MessageQueue.QueueId, res.QueueOffset)
		}
		if m.GetTags() != "TagA" || m.GetProperty("color") != "blue" || m.GetKeys() == "" {
			t.Errorf("message %s lost tags/keys/properties: tags=%q keys=%q props=%v", m.MsgId, m.GetTags(), m.GetKeys(), m.GetProperties())
		}
	}
	if len(got) != n {
		t.Fatalf("got %d messages, want %d", len(got), n)
	}
}

func TestSendAsyncOnewayBatchAndCompressed_allArrive(t *testing.T) {
	b := brokertest.Start(t)
	topic := uniq("T")
	p := newProducer(t, b)
	ctx := context.Background()

	// Async.
	errs := make(chan error, 5)
	for i := 0; i < 5; i++ {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("async-%d", i)))
		if err := p.SendAsync(ctx, func(_ context.Context, r *primitive.SendResult, err error) {
			if err == nil && r.Status != primitive.SendOK {
				err = fmt.Errorf("status %v", r.Status)
			}
			errs <- err
		}, m); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("async send: %v", err)
		}
	}
	// Oneway.
	for i := 0; i < 3; i++ {
		if err := p.SendOneWay(ctx, primitive.NewMessage(topic, []byte(fmt.Sprintf("oneway-%d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	// Batch: several messages in one SendSync.
	batch := []*primitive.Message{
		primitive.NewMessage(topic, []byte("batch-0")),
		primitive.NewMessage(topic, []byte("batch-1")),
		primitive.NewMessage(topic, []byte("batch-2")),
	}
	batch[1].WithKeys([]string{"bk"})
	res, err := p.SendSync(ctx, batch...)
	if err != nil || res.Status != primitive.SendOK {
		t.Fatalf("batch send: %v %v", res, err)
	}
	// A body over the client's 4 KiB compression threshold arrives intact.
	big := make([]byte, 5000)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	if _, err := p.SendSync(ctx, primitive.NewMessage(topic, big)); err != nil {
		t.Fatal(err)
	}

	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: uniq("cg"), listen: collectInto(col)})
	got := col.waitCount(t, 12, 20*time.Second)
	bodies := map[string]int{}
	for _, m := range got {
		if len(m.Body) == 5000 {
			if string(m.Body) != string(big) {
				t.Fatal("compressed body changed")
			}
			bodies["big"]++
			continue
		}
		bodies[string(m.Body)]++
	}
	for _, want := range []string{"async-0", "async-4", "oneway-0", "oneway-2", "batch-0", "batch-1", "batch-2", "big"} {
		if bodies[want] != 1 {
			t.Errorf("%s delivered %d times, want 1", want, bodies[want])
		}
	}
}
