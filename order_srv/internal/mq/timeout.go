package mq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"go.opentelemetry.io/otel/propagation"

	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/internal/tracing"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// Producer sends the payment-timeout messages. It is safe for concurrent use after Start.
type Producer struct {
	p     rocketmq.Producer
	topic string
	level int
	prop  propagation.TextMapPropagator // may be nil
}

var _ app.TimeoutScheduler = (*Producer)(nil)

// NewProducer creates the plain producer (not started).
func NewProducer(cfg Config) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p, err := rocketmq.NewProducer(append([]producer.Option{
		producer.WithNameServer(cfg.Namesrv),
		producer.WithGroupName(cfg.ProducerGroup),
		producer.WithInstanceName(mqclient.InstanceName("order-pub")),
		producer.WithRetry(2),
	}, cfg.Credentials.ProducerOptions()...)...)
	if err != nil {
		return nil, fmt.Errorf("mq: new producer: %w", err)
	}
	return &Producer{p: p, topic: cfg.TimeoutTopic, level: cfg.PayTimeoutLevel, prop: cfg.Propagator}, nil
}

// Start starts the producer.
func (p *Producer) Start() error {
	if err := p.p.Start(); err != nil {
		return fmt.Errorf("mq: start producer: %w", err)
	}
	return nil
}

// Shutdown stops the producer.
func (p *Producer) Shutdown() error { return p.p.Shutdown() }

// ScheduleTimeout implements app.TimeoutScheduler with a synchronous send: when it returns nil
// the broker has stored the delayed message.
func (p *Producer) ScheduleTimeout(ctx context.Context, sn order.SN) error {
	body, err := json.Marshal(timeoutJSON{OrderSN: string(sn)})
	if err != nil {
		return err
	}
	msg := primitive.NewMessage(p.topic, body).WithKeys([]string{string(sn)}).WithDelayTimeLevel(p.level)
	tracing.Inject(ctx, p.prop, msg) // the timeout consumer continues the order's trace
	res, err := p.p.SendSync(ctx, msg)
	if err != nil {
		return fmt.Errorf("send timeout of %s: %w", sn, err)
	}
	if res.Status != primitive.SendOK {
		return fmt.Errorf("send timeout of %s: broker answered status %d", sn, res.Status)
	}
	return nil
}

// handleTimeout bounds the handling of one timeout message.
const handleTimeout = 30 * time.Second

// TimeoutHandler handles one payment timeout; an error asks for redelivery.
type TimeoutHandler func(ctx context.Context, sn order.SN) error

// TimeoutConsumer consumes the timeout topic.
type TimeoutConsumer struct {
	cfg     Config
	handle  TimeoutHandler
	started chan struct{} // closed once the consumer runs
	// RetryEvery is how often Run retries a failed start (default 5 s).
	RetryEvery time.Duration
	// OnMalformed, when set, is called once for every message acknowledged without handling
	// because its body can never be read (e.g. to count it). Set it before Run.
	OnMalformed func()
}

// NewTimeoutConsumer returns a consumer calling handle for every timeout message.
func NewTimeoutConsumer(cfg Config, handle TimeoutHandler) (*TimeoutConsumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &TimeoutConsumer{cfg: cfg, handle: handle, started: make(chan struct{}), RetryEvery: 5 * time.Second}, nil
}

// Started is closed once the consumer has subscribed.
func (c *TimeoutConsumer) Started() <-chan struct{} { return c.started }

// Run starts the consumer and keeps it until ctx ends, then shuts it down. A start that fails
// (e.g. the topic does not exist yet on an Apache RocketMQ broker, where the first order's
// timeout message creates it) is retried every RetryEvery.
func (c *TimeoutConsumer) Run(ctx context.Context) error {
	var pc rocketmq.PushConsumer
	for {
		var err error
		pc, err = c.start()
		if err == nil {
			break
		}
		c.cfg.Log.Warn("timeout consumer not started; retrying", "topic", c.cfg.TimeoutTopic, "in", c.RetryEvery, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.RetryEvery):
		}
	}
	close(c.started)
	c.cfg.Log.Info("timeout consumer started", "topic", c.cfg.TimeoutTopic, "group", c.cfg.TimeoutGroup)
	<-ctx.Done()
	if err := pc.Shutdown(); err != nil {
		return fmt.Errorf("mq: shut timeout consumer down: %w", err)
	}
	return nil
}

func (c *TimeoutConsumer) start() (rocketmq.PushConsumer, error) {
	pc, err := mqclient.NewPushConsumer(c.cfg.Namesrv, c.cfg.TimeoutGroup, append([]consumer.Option{
		// A new group reads the topic from its start: timeouts sent before the group first
		// subscribed must not be skipped (duplicates are harmless).
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		// No cliff: a timeout that cannot be handled (inventory or the order database down) is
		// redelivered with the broker's backoff for months, not 16 times (see mqclient).
		consumer.WithMaxReconsumeTimes(mqclient.MaxReconsumeTimes),
	}, c.cfg.Credentials.ConsumerOptions()...)...)
	if err != nil {
		return nil, err
	}
	if err := pc.Subscribe(c.cfg.TimeoutTopic, consumer.MessageSelector{}, c.consume); err != nil {
		return nil, errors.Join(fmt.Errorf("subscribe %s: %w", c.cfg.TimeoutTopic, err), pc.Shutdown())
	}
	if err := pc.Start(); err != nil {
		return nil, fmt.Errorf("start push consumer: %w", err) // Start shuts itself down on failure
	}
	return pc, nil
}

// consume handles a batch; any failure asks for the redelivery of the whole batch (the default
// batch size is one message). It never panics: a panic would kill the process.
func (c *TimeoutConsumer) consume(ctx context.Context, msgs ...*primitive.MessageExt) (res consumer.ConsumeResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.cfg.Log.Error("timeout handler panicked", "panic", r)
			res, err = consumer.ConsumeRetryLater, nil
		}
	}()
	for _, m := range msgs {
		sn, err := orderSNOf(m.Body)
		if err != nil {
			// Redelivery cannot fix a body we cannot read: acknowledge it, loudly.
			c.cfg.Log.Error("timeout message with a bad body; dropped", "msg_id", m.MsgId, "body", string(m.Body), "err", err)
			if c.OnMalformed != nil {
				c.OnMalformed()
			}
			continue
		}
		hctx, cancel := context.WithTimeout(tracing.Extract(ctx, c.cfg.Propagator, &m.Message), handleTimeout)
		err = c.handle(hctx, sn)
		cancel()
		if err != nil {
			c.cfg.Log.Warn("timeout not handled; redelivering later", "order_sn", sn, "reconsume", m.ReconsumeTimes, "err", err)
			return consumer.ConsumeRetryLater, nil
		}
	}
	return consumer.ConsumeSuccess, nil
}
