package reback

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

// failingFirst fails the first n Reback calls (a database outage), then passes them on.
type failingFirst struct {
	n     int32
	calls atomic.Int32
	inner Rebacker
}

func (f *failingFirst) Reback(ctx context.Context, sn string) (inventory.RebackOutcome, error) {
	if f.calls.Add(1) <= f.n {
		return 0, errors.New("database unreachable")
	}
	return f.inner.Reback(ctx, sn)
}

// TestConsumer_keepsRedelivering_pastTheClientDefaultOf16_noCliff: with the client's default
// the 17th failure would park the return in the dead-letter queue and the stock stay sold.
func TestConsumer_keepsRedelivering_pastTheClientDefaultOf16_noCliff(t *testing.T) {
	f := newFixture(t)
	b := brokertest.Start(t, brokertest.WithDelayLevels(strings.TrimSpace(strings.Repeat("50ms ", 18))))
	inv := &failingFirst{n: 20, inner: f.rec}
	runConsumer(t, b, "order_reback", inv)
	send(t, b, "order_reback", "o-1", 1)
	eventually(t, 60*time.Second, "the stock returned after 20 failures", func() bool {
		outcomes, _ := f.rec.snapshot()
		return len(outcomes) == 1
	})
	if got := f.stock(t); got != 10 || inv.calls.Load() != 21 {
		t.Errorf("stock %d after %d calls, want 10 after 21", got, inv.calls.Load())
	}
}

func TestConsumer_aMalformedMessage_isCountedAndAcknowledged(t *testing.T) {
	f := newFixture(t)
	b := brokertest.Start(t, brokertest.WithDelayLevels(strings.TrimSpace(strings.Repeat("50ms ", 17))+" 1s"))
	var malformed atomic.Int32
	c := New(Config{NameServers: b.NamesrvAddr(), Topic: "order_reback", Group: "inventory_reback", RetryStartEvery: time.Second,
		OnMalformed: func() { malformed.Add(1) }}, f.rec, discard)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	})
	p, err := rocketmq.NewProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{b.NamesrvAddr()})),
		producer.WithGroupName("test_raw_producer"),
		producer.WithInstanceName(mqclient.InstanceName("test-raw")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Shutdown() }()
	if _, err := p.SendSync(context.Background(), primitive.NewMessage("order_reback", []byte("not json, no key"))); err != nil {
		t.Fatal(err)
	}
	// Sent last and at the last delay level (1 s): it comes after the first redelivery the bad
	// one would get (level 3, 50 ms) if it were not acknowledged.
	valid := primitive.NewMessage("order_reback", []byte(`{"order_sn":"o-1"}`)).WithDelayTimeLevel(18)
	if _, err := p.SendSync(context.Background(), valid); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the valid return", func() bool {
		outcomes, _ := f.rec.snapshot()
		return len(outcomes) == 1
	})
	if got := malformed.Load(); got != 1 {
		t.Errorf("malformed counted %d times, want once", got)
	}
}
