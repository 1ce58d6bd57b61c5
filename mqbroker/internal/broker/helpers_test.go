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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

var instanceSeq atomic.Int64

func init() {
	rlog.SetLogLevel("error")
	primitive.PanicHandler = func(p interface{}) { panic(p) }
}

// uniq returns a name unique within this test binary.
func uniq(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano()%1e6, instanceSeq.Add(1))
}

func newProducer(t testing.TB, b *brokertest.Broker, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	return newProducerAt(t, b.NamesrvAddr(), opts...)
}

// collector gathers consumed messages.
type collector struct {
	mu   sync.Mutex
	msgs []*primitive.MessageExt
	ch   chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1)} }

func (c *collector) add(ms ...*primitive.MessageExt) {
	c.mu.Lock()
	c.msgs = append(c.msgs, ms...)
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
}

func (c *collector) snapshot() []*primitive.MessageExt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*primitive.MessageExt(nil), c.msgs...)
}

// waitFor waits until cond holds for the collected messages.
func (c *collector) waitFor(t testing.TB, timeout time.Duration, what string, cond func([]*primitive.MessageExt) bool) []*primitive.MessageExt {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		ms := c.snapshot()
		if cond(ms) {
			return ms
		}
		select {
		case <-c.ch:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s (have %d messages)", timeout, what, len(ms))
		}
	}
}

func (c *collector) waitCount(t testing.TB, n int, timeout time.Duration) []*primitive.MessageExt {
	t.Helper()
	return c.waitFor(t, timeout, fmt.Sprintf("%d messages", n), func(ms []*primitive.MessageExt) bool { return len(ms) >= n })
}

type consumerCfg struct {
	group    string
	instance string
	selector consumer.MessageSelector
	opts     []consumer.Option
	listen   func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error)
}

func startConsumer(t testing.TB, b *brokertest.Broker, topic string, cfg consumerCfg) rocketmq.PushConsumer {
	t.Helper()
	if cfg.instance == "" {
		cfg.instance = uniq("c")
	}
	all := append([]consumer.Option{
		consumer.WithNameServer([]string{b.NamesrvAddr()}),
		consumer.WithGroupName(cfg.group),
		consumer.WithInstance(cfg.instance),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	}, cfg.opts...)
	c, err := rocketmq.NewPushConsumer(all...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(topic, cfg.selector, cfg.listen); err != nil {
		t.Fatal(err)
	}
	ensureTopic(t, b.NamesrvAddr(), topic)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = c.Shutdown()
		}
	})
	return c
}

func collectInto(col *collector) func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
	return func(_ context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		col.add(ms...)
		return consumer.ConsumeSuccess, nil
	}
}

func httpGetJSON(url string) ([]map[string]any, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}
