package reback

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

// startBroker starts an in-process broker whose every delay level is short, so a redelivery
// after a failure (level 3 + attempts) comes within a second.
func startBroker(t *testing.T) *brokertest.Broker {
	t.Helper()
	return brokertest.Start(t, brokertest.WithDelayLevels(strings.TrimSpace(strings.Repeat("300ms ", 18))))
}

// runConsumer runs a Consumer of topic until the test ends.
func runConsumer(t *testing.T, b *brokertest.Broker, topic string, inv Rebacker) {
	t.Helper()
	c := New(Config{NameServers: b.NamesrvAddr(), Topic: topic, Group: "inventory_reback", RetryStartEvery: time.Second}, inv, discard)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	})
}

// send sends the stock-return message of orderSN n times, as the order service does.
func send(t *testing.T, b *brokertest.Broker, topic, orderSN string, n int) {
	t.Helper()
	p, err := rocketmq.NewProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{b.NamesrvAddr()})),
		producer.WithGroupName("test_order_producer"),
		producer.WithInstanceName(mqclient.InstanceName("test-producer")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Shutdown() }()
	body, err := json.Marshal(Message{OrderSN: orderSN, Items: []MessageItem{{GoodsID: 1, Num: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		msg := primitive.NewMessage(topic, body)
		msg.WithKeys([]string{orderSN})
		if _, err := p.SendSync(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConsumer_returnsStockOnce_whenTheMessageIsDeliveredFiveTimes(t *testing.T) {
	f := newFixture(t)
	b := startBroker(t)
	// Sent before the consumer group ever ran: a new group starts at the oldest message.
	send(t, b, "order_reback", "o-1", 2)
	runConsumer(t, b, "order_reback", f.rec)
	send(t, b, "order_reback", "o-1", 3)

	eventually(t, 30*time.Second, "five deliveries were handled", func() bool {
		outcomes, _ := f.rec.snapshot()
		return len(outcomes) >= 5
	})
	outcomes, failures := f.rec.snapshot()
	var returned int
	for _, o := range outcomes {
		if o == inventory.Returned {
			returned++
		} else if o != inventory.AlreadyReturned {
			t.Errorf("outcome %v", o)
		}
	}
	if returned != 1 || len(outcomes) != 5 || failures != 0 {
		t.Errorf("outcomes %v, failures %d; want one returned of five", outcomes, failures)
	}
	if got := f.stock(t); got != 10 {
		t.Errorf("stock %d, want 10", got)
	}
}

func TestConsumer_retriesLater_whenTheDatabaseFails(t *testing.T) {
	f := newFixture(t)
	b := startBroker(t)
	release := f.lockOrder(t) // every reback of o-1 now fails with a lock wait timeout
	runConsumer(t, b, "order_reback", f.rec)
	send(t, b, "order_reback", "o-1", 1)

	eventually(t, 30*time.Second, "a delivery failed and a redelivery followed", func() bool {
		_, failures := f.rec.snapshot()
		return failures >= 2
	})
	if got := f.stock(t); got != 7 {
		t.Errorf("stock %d while the database fails, want 7", got)
	}
	release()
	eventually(t, 30*time.Second, "a redelivery returned the stock", func() bool {
		outcomes, _ := f.rec.snapshot()
		return len(outcomes) > 0
	})
	if outcomes, _ := f.rec.snapshot(); outcomes[0] != inventory.Returned {
		t.Errorf("outcomes %v, want returned", outcomes)
	}
	if got := f.stock(t); got != 10 {
		t.Errorf("stock %d, want 10", got)
	}
}

func TestConsumer_startsOnceTheBrokerIsUp(t *testing.T) {
	f := newFixture(t)
	b := startBroker(t)
	b.Stop()
	logs := &logRecorder{}
	c := New(Config{NameServers: b.NamesrvAddr(), Topic: "order_reback", Group: "inventory_reback", RetryStartEvery: time.Second},
		f.rec, slog.New(logs))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	}()
	eventually(t, 30*time.Second, "a start failed for want of a broker", func() bool {
		return logs.contains("reback consumer did not start")
	})

	b.Restart()
	send(t, b, "order_reback", "o-1", 1)
	eventually(t, 45*time.Second, "the stock was returned", func() bool {
		outcomes, _ := f.rec.snapshot()
		return len(outcomes) == 1
	})
	if got := f.stock(t); got != 10 {
		t.Errorf("stock %d, want 10", got)
	}
}

// logRecorder is a slog.Handler that keeps the messages logged through it.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string // guarded by mu
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}

// contains reports whether a message containing part was logged.
func (l *logRecorder) contains(part string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.msgs, func(m string) bool { return strings.Contains(m, part) })
}
