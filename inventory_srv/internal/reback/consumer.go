// Package reback is the RocketMQ side of stock returns: a push consumer of the topic the order
// service sends order_reback messages to, calling the inventory's Reback for each.
//
// Message contract (the order service sends it): body JSON
// {"order_sn":"...","items":[{"goods_id":1,"num":2}]}, message key = order_sn. Only the order
// number is used: the stock to return is read from the durable sell record, never from the
// message, so a stale or forged item list cannot add stock.
//
// Delivery is at-least-once and Reback is idempotent, so the consumer acknowledges a message
// once Reback has succeeded, whatever the outcome (returned, already returned, never sold). When
// Reback fails (the database is down, a lock wait timed out) it asks for redelivery later
// (ConsumeRetryLater) and never drops the message; a message that can never succeed (no order
// number in it) is logged as an error, counted (Config.OnMalformed) and acknowledged. Redelivery
// has no cliff: mqclient.MaxReconsumeTimes keeps a failing return retried for months.
//
// Each message is handled in a span that continues the order's trace, read from the message's
// properties (traceparent) by internal/tracing.
//
// The package depends on the inventory use cases through the Rebacker interface and on the
// official client through internal/mqclient; it must not import the HTTP or storage adapters.
package reback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/internal/tracing"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

// Rebacker returns an order's stock exactly once; *inventory.Service implements it.
type Rebacker interface {
	Reback(ctx context.Context, orderSN string) (inventory.RebackOutcome, error)
}

// Message is the body of a stock-return message.
type Message struct {
	OrderSN string `json:"order_sn"`
	// Items is what the order service believes was deducted. The consumer ignores it (see the
	// package comment); it is part of the contract for observers and older consumers.
	Items []MessageItem `json:"items,omitempty"`
}

// MessageItem is one item of a Message.
type MessageItem struct {
	GoodsID int64 `json:"goods_id"`
	Num     int64 `json:"num"`
}

// Config configures a Consumer.
type Config struct {
	// NameServers is the name-server list as configured ("host:port;host2:port"). It is
	// resolved on every start attempt, so a name server that moved is found again.
	NameServers string
	Topic       string
	Group       string
	// HandleTimeout bounds one Reback call (default 30 s).
	HandleTimeout time.Duration
	// RetryStartEvery is the longest pause between two attempts to start the consumer
	// (default 30 s; the first pause is 1 s and doubles).
	RetryStartEvery time.Duration
	// Tracer spans every stock return (default: a no-op tracer); Propagator reads the trace
	// context the order service put in the message's properties (default: none is read).
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator
	// Credentials sign the consumer's requests (a broker with ACL); zero: unsigned.
	Credentials mqclient.Credentials
	// OnMalformed, when set, is called once for every message acknowledged without a stock
	// return because it can never succeed (no usable order number), e.g. to count it.
	OnMalformed func()
}

// Consumer consumes stock-return messages. Run it once.
type Consumer struct {
	cfg Config
	inv Rebacker
	log *slog.Logger
}

// New returns a Consumer of cfg.Topic in cfg.Group that hands every message to inv.
func New(cfg Config, inv Rebacker, log *slog.Logger) *Consumer {
	if cfg.HandleTimeout <= 0 {
		cfg.HandleTimeout = 30 * time.Second
	}
	if cfg.RetryStartEvery <= 0 {
		cfg.RetryStartEvery = 30 * time.Second
	}
	if cfg.Tracer == nil {
		cfg.Tracer = noop.NewTracerProvider().Tracer("")
	}
	return &Consumer{cfg: cfg, inv: inv, log: log.With("topic", cfg.Topic, "group", cfg.Group)}
}

// Run starts the push consumer and consumes until ctx is done, then shuts the consumer down.
// While the broker is unreachable, or the topic does not exist yet, it keeps trying to start
// with a growing pause; messages wait in the broker meanwhile. It returns nil when ctx ends, or
// the error of the shutdown.
func (c *Consumer) Run(ctx context.Context) error {
	pause := time.Second
	var pc rocketmq.PushConsumer
	for {
		var err error
		pc, err = c.start(ctx)
		if err == nil {
			break
		}
		c.log.WarnContext(ctx, "reback consumer did not start; will try again", "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, c.cfg.RetryStartEvery)
	}
	c.log.InfoContext(ctx, "reback consumer started")
	<-ctx.Done()
	if err := pc.Shutdown(); err != nil {
		return fmt.Errorf("shut down the reback consumer: %w", err)
	}
	c.log.InfoContext(ctx, "reback consumer stopped")
	return nil
}

// start builds, subscribes and starts a push consumer with an instance of its own.
func (c *Consumer) start(ctx context.Context) (rocketmq.PushConsumer, error) {
	addrs, err := mqclient.ResolveNameServers(ctx, c.cfg.NameServers)
	if err != nil {
		return nil, err
	}
	opts := append([]consumer.Option{
		// A new group starts at the oldest message, not the newest: a stock return sent before
		// this group first ran must still be applied (and replaying old ones is harmless).
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		// RocketMQ's default, 16, is ~4.7 hours of retries; a database outage must not move stock
		// returns to a dead-letter queue nobody consumes (mqclient.MaxReconsumeTimes: months).
		consumer.WithMaxReconsumeTimes(mqclient.MaxReconsumeTimes),
	}, c.cfg.Credentials.ConsumerOptions()...)
	pc, err := mqclient.NewPushConsumer(addrs, c.cfg.Group, opts...)
	if err != nil {
		return nil, err
	}
	if err := pc.Subscribe(c.cfg.Topic, consumer.MessageSelector{}, c.handle); err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", c.cfg.Topic, err)
	}
	// A failed Start has already shut the consumer down, or never started it: calling Shutdown
	// again would crash v2.1.2 on its nil internals. The next attempt builds a new one.
	if err := pc.Start(); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	return pc, nil
}

// handle is the message callback. A batch is acknowledged only if every message in it was
// handled; redelivering the handled ones again is harmless.
func (c *Consumer) handle(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
	for _, m := range msgs {
		if err := c.handleOne(ctx, m); err != nil {
			c.log.WarnContext(ctx, "stock return failed; the broker will redeliver it",
				"msg_id", m.MsgId, "keys", m.GetKeys(), "reconsume_times", m.ReconsumeTimes, "err", err)
			return consumer.ConsumeRetryLater, nil
		}
	}
	return consumer.ConsumeSuccess, nil
}

// handleOne returns an error only when redelivery may help. It runs in a span continuing the
// trace of the order whose stock it returns.
func (c *Consumer) handleOne(ctx context.Context, m *primitive.MessageExt) (err error) {
	ctx, span := c.cfg.Tracer.Start(tracing.Extract(ctx, c.cfg.Propagator, &m.Message), "stock reback",
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attribute.String("msg_id", m.MsgId)))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	sn, err := orderSN(m)
	if err != nil {
		c.log.ErrorContext(ctx, "dropping a stock-return message without a usable order number",
			"msg_id", m.MsgId, "keys", m.GetKeys(), "body", truncate(m.Body, 512), "err", err)
		c.malformed()
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandleTimeout)
	defer cancel()
	span.SetAttributes(attribute.String("order_sn", sn))
	outcome, err := c.inv.Reback(ctx, sn)
	if errors.Is(err, inventory.ErrInvalidInput) {
		c.log.ErrorContext(ctx, "dropping a stock-return message with an invalid order number",
			"msg_id", m.MsgId, "order_sn", sn, "err", err)
		c.malformed()
		return nil
	}
	if err != nil {
		return err
	}
	span.SetAttributes(attribute.String("outcome", outcome.String()))
	c.log.InfoContext(ctx, "stock return handled", "msg_id", m.MsgId, "order_sn", sn, "outcome", outcome.String(),
		"reconsume_times", m.ReconsumeTimes)
	return nil
}

func (c *Consumer) malformed() {
	if c.cfg.OnMalformed != nil {
		c.cfg.OnMalformed()
	}
}

// orderSN takes the order number from the body, or else from the message key.
func orderSN(m *primitive.MessageExt) (string, error) {
	var body Message
	err := json.Unmarshal(m.Body, &body)
	if err == nil && body.OrderSN != "" {
		return body.OrderSN, nil
	}
	if keys := strings.Fields(m.GetKeys()); len(keys) > 0 { // KEYS holds space-separated keys
		return keys[0], nil
	}
	if err != nil {
		return "", fmt.Errorf("decode body: %w", err)
	}
	return "", errors.New("no order_sn in the body and no message key")
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
