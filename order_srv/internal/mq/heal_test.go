//go:build !race

package mq_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/order_srv/internal/mq"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// shortLevels makes every delay level 50 ms except the last (300 ms), so that twenty failed
// deliveries take about a second and a message sent at the last level comes after any retry.
var shortLevels = strings.TrimSpace(strings.Repeat("50ms ", 17)) + " 300ms"

func runTimeoutConsumer(t *testing.T, c *mq.TimeoutConsumer) {
	t.Helper()
	c.RetryEvery = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func startProducer(t *testing.T, cfg mq.Config) *mq.Producer {
	t.Helper()
	p, err := mq.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

// TestTimeoutConsumer_keepsRedelivering_pastTheClientDefaultOf16_noCliff: the client's default
// would move the message to the dead-letter queue after its 16th failure.
func TestTimeoutConsumer_keepsRedelivering_pastTheClientDefaultOf16_noCliff(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithDelayLevels(shortLevels))
	cfg := testConfig(t, b)
	const failures = 20
	sn := newSN(t)
	var calls atomic.Int32
	c, err := mq.NewTimeoutConsumer(cfg, func(_ context.Context, got order.SN) error {
		if got != sn {
			return nil
		}
		if calls.Add(1) <= failures {
			return errors.New("inventory is down")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	runTimeoutConsumer(t, c)
	if err := startProducer(t, cfg).ScheduleTimeout(context.Background(), sn); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the delivery after 20 failures", func() bool { return calls.Load() > failures })
}

func TestTimeoutConsumer_aMalformedMessage_isCountedAndAcknowledged(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithDelayLevels(shortLevels))
	cfg := testConfig(t, b)
	var mu sync.Mutex
	handled := map[order.SN]bool{}
	c, err := mq.NewTimeoutConsumer(cfg, func(_ context.Context, got order.SN) error {
		mu.Lock()
		defer mu.Unlock()
		handled[got] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var malformed atomic.Int32
	c.OnMalformed = func() { malformed.Add(1) }
	runTimeoutConsumer(t, c)

	raw, err := rocketmq.NewProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{b.NamesrvAddr()})),
		producer.WithGroupName("raw_producer"),
		producer.WithInstanceName(mqclient.InstanceName("raw")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Shutdown() })
	for _, body := range []string{`not json`, `{"order_sn":"short"}`} {
		if _, err := raw.SendSync(context.Background(), primitive.NewMessage(cfg.TimeoutTopic, []byte(body))); err != nil {
			t.Fatal(err)
		}
	}
	// A valid timeout at the last level comes after any redelivery of the bad ones would.
	late := cfg
	late.PayTimeoutLevel = 18
	sn := newSN(t)
	if err := startProducer(t, late).ScheduleTimeout(context.Background(), sn); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the valid timeout", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return handled[sn]
	})
	if got := malformed.Load(); got != 2 {
		t.Errorf("malformed counted %d times, want 2 (once each, never redelivered)", got)
	}
}
