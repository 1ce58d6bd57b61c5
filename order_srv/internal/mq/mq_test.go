//go:build !race

// The official client has data races of its own, so tests that drive it run without -race (as
// mqbroker's client tests do).

package mq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopsaga/shopsaga/internal/tracing"
	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/mq"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// oneSecondLevels makes every delay level (and so every consumer retry) one second long.
var oneSecondLevels = strings.TrimSpace(strings.Repeat("1s ", 18))

func testConfig(t *testing.T, b *brokertest.Broker) mq.Config {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	mq.ConfigureClient(log)
	return mq.Config{
		Namesrv:         []string{b.NamesrvAddr()},
		RebackTopic:     "order_reback",
		TimeoutTopic:    "order_timeout",
		TxGroup:         "order_tx",
		ProducerGroup:   "order_pub",
		TimeoutGroup:    "order_timeout_cg",
		PayTimeoutLevel: 1,
		Log:             log,
	}
}

func newSN(t *testing.T) order.SN {
	t.Helper()
	sn, err := order.NewSN(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

// scripted answers ExecuteLocal and Check from fixed outcomes and records the calls.
type scripted struct {
	mu      sync.Mutex
	exec    map[order.SN]app.HalfOutcome
	check   map[order.SN]app.HalfOutcome
	execd   []order.SN
	checked map[order.SN]int
	traces  map[order.SN]trace.SpanContext // the trace context each check-back came with
	owners  map[order.SN]app.HalfOwner     // the owner each check-back came with
}

func (s *scripted) ExecuteLocal(sn order.SN) app.HalfOutcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.execd = append(s.execd, sn)
	return s.exec[sn]
}

func (s *scripted) Check(ctx context.Context, sn order.SN, owner app.HalfOwner) app.HalfOutcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checked[sn]++
	if s.traces == nil {
		s.traces = map[order.SN]trace.SpanContext{}
	}
	s.traces[sn] = trace.SpanContextFromContext(ctx)
	if s.owners == nil {
		s.owners = map[order.SN]app.HalfOwner{}
	}
	s.owners[sn] = owner
	return s.check[sn]
}

func (s *scripted) ownerOf(sn order.SN) app.HalfOwner {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owners[sn]
}

func (s *scripted) checks(sn order.SN) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checked[sn]
}

// collector consumes a topic with a raw client consumer and keeps the bodies by key.
type collector struct {
	mu     sync.Mutex
	bodies map[string][]string
}

func collect(t *testing.T, b *brokertest.Broker, topic string) *collector {
	t.Helper()
	c := &collector{bodies: map[string][]string{}}
	pc, err := rocketmq.NewPushConsumer(
		consumer.WithNameServer([]string{b.NamesrvAddr()}),
		consumer.WithGroupName("collector"),
		consumer.WithInstance(fmt.Sprintf("collector%d", time.Now().UnixNano())),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	if err != nil {
		t.Fatal(err)
	}
	err = pc.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, m := range msgs {
			c.bodies[m.GetKeys()] = append(c.bodies[m.GetKeys()], string(m.Body))
		}
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b.CreateTopic(topic) // route lookups do not create topics (TOPIC_NOT_EXIST, as on Apache RocketMQ)
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Shutdown() })
	return c
}

func (c *collector) get(key string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bodies[key]...)
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTxPublisher_deliversTheRebackExactlyWhenTheAppSaysSo(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithTxTimeout(time.Second), brokertest.WithTxCheckInterval(time.Second))
	cfg := testConfig(t, b)
	deliver, discard, checkDeliver, checkDiscard := newSN(t), newSN(t), newSN(t), newSN(t)
	lt := &scripted{
		exec: map[order.SN]app.HalfOutcome{deliver: app.DeliverReback, discard: app.DiscardReback,
			checkDeliver: app.AskLater, checkDiscard: app.AskLater},
		check:   map[order.SN]app.HalfOutcome{checkDeliver: app.DeliverReback, checkDiscard: app.DiscardReback},
		checked: map[order.SN]int{},
	}
	pub, err := mq.NewTxPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Start(context.Background(), lt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Shutdown() })
	got := collect(t, b, cfg.RebackTopic)

	for _, sn := range []order.SN{deliver, discard, checkDeliver, checkDiscard} {
		msg := app.RebackMessage{OrderSN: sn, Lines: []order.Line{{GoodsID: 1, Num: 2}, {GoodsID: 3, Num: 4}}}
		if err := pub.PublishHalf(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	if len(lt.execd) != 4 {
		t.Fatalf("ExecuteLocal ran for %v, want all four orders", lt.execd)
	}
	eventually(t, 30*time.Second, "both check-backs and both deliveries", func() bool {
		return lt.checks(checkDeliver) > 0 && lt.checks(checkDiscard) > 0 &&
			len(got.get(string(deliver))) > 0 && len(got.get(string(checkDeliver))) > 0
	})
	var body struct {
		OrderSN string `json:"order_sn"`
		Items   []struct {
			GoodsID int64 `json:"goods_id"`
			Num     int32 `json:"num"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(got.get(string(deliver))[0]), &body); err != nil {
		t.Fatal(err)
	}
	if body.OrderSN != string(deliver) || len(body.Items) != 2 || body.Items[1].GoodsID != 3 || body.Items[1].Num != 4 {
		t.Errorf("reback body = %+v", body)
	}
	for _, sn := range []order.SN{discard, checkDiscard} {
		if b := got.get(string(sn)); len(b) != 0 {
			t.Errorf("order %s: reback delivered %v, want it discarded", sn, b)
		}
	}
	if n := lt.checks(deliver) + lt.checks(discard); n != 0 {
		t.Errorf("%d check-backs for decided halves", n)
	}
}

func TestTimeoutConsumer_getsTheDelayedMessage_andRedeliversAfterAnError(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithDelayLevels(oneSecondLevels))
	cfg := testConfig(t, b)
	pub, err := mq.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Shutdown() })

	sn := newSN(t)
	var mu sync.Mutex
	var calls []time.Time
	c, err := mq.NewTimeoutConsumer(cfg, func(_ context.Context, got order.SN) error {
		if got != sn {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, time.Now())
		if len(calls) == 1 {
			return fmt.Errorf("first delivery fails")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
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

	sent := time.Now()
	if err := pub.ScheduleTimeout(context.Background(), sn); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "a redelivery after the failed first delivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls) >= 2
	})
	mu.Lock()
	defer mu.Unlock()
	if d := calls[0].Sub(sent); d < 900*time.Millisecond {
		t.Errorf("delivered %v after sending, want the 1 s delay", d)
	}
}

// TestTxPublisher_aNewPublisher_answersTheChecksOfADeadOnesHalves: a publisher whose process
// died leaves an undecided half message; a new publisher of the same group, which has sent
// nothing yet, must still get its check-back (Start announces it to the broker).
func TestTxPublisher_aNewPublisher_answersTheChecksOfADeadOnesHalves(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithTxTimeout(time.Second), brokertest.WithTxCheckInterval(time.Second))
	cfg := testConfig(t, b)
	sn := newSN(t)

	dead, err := mq.NewTxPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.Start(context.Background(), &scripted{exec: map[order.SN]app.HalfOutcome{sn: app.AskLater}, checked: map[order.SN]int{}}); err != nil {
		t.Fatal(err)
	}
	if err := dead.PublishHalf(context.Background(), app.RebackMessage{OrderSN: sn, Lines: []order.Line{{GoodsID: 1, Num: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := dead.Shutdown(); err != nil { // its connections close, as in a crash
		t.Fatal(err)
	}

	heir := &scripted{check: map[order.SN]app.HalfOutcome{sn: app.DeliverReback}, checked: map[order.SN]int{}}
	next, err := mq.NewTxPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Start(context.Background(), heir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = next.Shutdown() })
	got := collect(t, b, cfg.RebackTopic)
	eventually(t, 30*time.Second, "the heir's check-back and the delivered reback", func() bool {
		return heir.checks(sn) > 0 && len(got.get(string(sn))) == 1
	})
}

// TestTxPublisher_theCheckBack_continuesTheTraceOfTheHalfMessage: the trace context of
// PublishHalf's ctx travels in the half message's properties and comes back with the check.
func TestTxPublisher_theCheckBack_continuesTheTraceOfTheHalfMessage(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithTxTimeout(time.Second), brokertest.WithTxCheckInterval(time.Second))
	cfg := testConfig(t, b)
	cfg.Propagator = tracing.Propagator()
	sn := newSN(t)
	lt := &scripted{
		exec:    map[order.SN]app.HalfOutcome{sn: app.AskLater},
		check:   map[order.SN]app.HalfOutcome{sn: app.DiscardReback},
		checked: map[order.SN]int{},
	}
	pub, err := mq.NewTxPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Start(context.Background(), lt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Shutdown() })

	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "create order")
	defer span.End()
	if err := pub.PublishHalf(ctx, app.RebackMessage{OrderSN: sn, Lines: []order.Line{{GoodsID: 1, Num: 1}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the check-back", func() bool { return lt.checks(sn) > 0 })
	lt.mu.Lock()
	got := lt.traces[sn]
	lt.mu.Unlock()
	if got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() || !got.IsRemote() {
		t.Errorf("check-back trace context = %s/%s (remote %v), want the publisher's %s/%s",
			got.TraceID(), got.SpanID(), got.IsRemote(), span.SpanContext().TraceID(), span.SpanContext().SpanID())
	}
}
