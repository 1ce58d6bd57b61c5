package mq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"go.opentelemetry.io/otel/propagation"

	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/internal/tracing"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
)

// TxPublisher sends the reback half messages. It is safe for concurrent use after Start.
type TxPublisher struct {
	p     rocketmq.TransactionProducer
	lis   *listener
	topic string
	prop  propagation.TextMapPropagator // may be nil
}

var _ app.HalfPublisher = (*TxPublisher)(nil)

// NewTxPublisher creates the transactional producer (not started).
func NewTxPublisher(cfg Config) (*TxPublisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lis := &listener{log: cfg.Log, prop: cfg.Propagator}
	p, err := rocketmq.NewTransactionProducer(lis, append([]producer.Option{
		producer.WithNameServer(cfg.Namesrv),
		producer.WithGroupName(cfg.TxGroup),
		producer.WithInstanceName(mqclient.InstanceName("order-tx")), // never shared: see the package comment
		producer.WithRetry(2),
	}, cfg.Credentials.ProducerOptions()...)...)
	if err != nil {
		return nil, fmt.Errorf("mq: new transaction producer: %w", err)
	}
	return &TxPublisher{p: p, lis: lis, topic: cfg.RebackTopic, prop: cfg.Propagator}, nil
}

// probeProperty marks the half message Start sends to announce the producer; it is always
// rolled back.
const probeProperty = "SHOPSAGA_PROBE"

// The saga owner of a reback half message (app.HalfOwner) travels in two user properties, which
// the broker hands back with the check-back (Apache RocketMQ encodes the whole stored message,
// properties included, into CHECK_TRANSACTION_STATE; so does mqbroker, also after retention
// carried the half forward). Neither name is among Apache RocketMQ's reserved MessageConst keys.
const (
	// ownerProperty is the owner's instance name.
	ownerProperty = "SHOPSAGA_OWNER"
	// ownerDeadlineProperty is the owner's deadline, in Unix milliseconds.
	ownerDeadlineProperty = "SHOPSAGA_OWNER_DEADLINE"
)

// setOwner writes o into msg's properties; a zero owner writes nothing. The instance name must
// be printable (the properties' wire format separates entries with control characters) and at
// most app.MaxInstanceLen bytes. The deadline is rounded up to the next millisecond, so the
// deadline the half carries never ends before o's.
func setOwner(msg *primitive.Message, o app.HalfOwner) error {
	if o.IsZero() {
		return nil
	}
	if strings.IndexFunc(o.Instance, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return fmt.Errorf("saga owner %q: the instance name must be printable", o.Instance)
	}
	if len(o.Instance) > app.MaxInstanceLen {
		return fmt.Errorf("saga owner: the instance name has %d bytes, at most %d", len(o.Instance), app.MaxInstanceLen)
	}
	ms := o.Deadline.UnixMilli()
	if time.UnixMilli(ms).Before(o.Deadline) {
		ms++ // UnixMilli rounds down
	}
	msg.WithProperty(ownerProperty, o.Instance)
	msg.WithProperty(ownerDeadlineProperty, strconv.FormatInt(ms, 10))
	return nil
}

// ownerOf reads the owner a half message carries. A half without one (sent by an older
// version) is the zero owner, no error; a malformed one is the zero owner and an error, so the
// check-back decides by the barrier — always safe — and the caller can log why.
func ownerOf(msg *primitive.Message) (app.HalfOwner, error) {
	inst := msg.GetProperty(ownerProperty)
	if inst == "" {
		return app.HalfOwner{}, nil
	}
	ms, err := strconv.ParseInt(msg.GetProperty(ownerDeadlineProperty), 10, 64)
	if err != nil {
		return app.HalfOwner{}, fmt.Errorf("saga owner %q: deadline %s=%q: %w", inst, ownerDeadlineProperty, msg.GetProperty(ownerDeadlineProperty), err)
	}
	return app.HalfOwner{Instance: inst, Deadline: time.UnixMilli(ms)}, nil
}

// Start installs lt as the receiver of local transactions and check-backs, starts the producer
// and announces it to the broker. Call it once, before PublishHalf.
//
// The announcement matters after a crash: the client heartbeats only to brokers it has routed a
// message to, and the broker checks back only with producers that heartbeat. A fresh producer
// that has sent nothing would therefore never get the check-backs of the half messages its dead
// predecessor left — so Start sends one probe half message, which the listener rolls back, and
// retries it until ctx ends.
func (t *TxPublisher) Start(ctx context.Context, lt app.LocalTransactions) error {
	t.lis.lt.Store(&lt)
	if err := t.p.Start(); err != nil {
		return fmt.Errorf("mq: start transaction producer: %w", err)
	}
	for {
		err := t.probe(ctx)
		if err == nil {
			return nil
		}
		t.lis.log.Warn("transaction producer not announced yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("mq: announce transaction producer: %w", errors.Join(err, ctx.Err(), t.p.Shutdown()))
		case <-time.After(time.Second):
		}
	}
}

func (t *TxPublisher) probe(ctx context.Context) error {
	msg := primitive.NewMessage(t.topic, []byte(`{"probe":true}`))
	msg.WithProperty(probeProperty, "1")
	res, err := t.p.SendMessageInTransaction(ctx, msg)
	if err != nil {
		return err
	}
	if res.Status != primitive.SendOK {
		return fmt.Errorf("probe: broker answered status %d", res.Status)
	}
	return nil
}

// Shutdown stops the producer; after it no check-back is answered by this process.
func (t *TxPublisher) Shutdown() error { return t.p.Shutdown() }

// PublishHalf implements app.HalfPublisher.
func (t *TxPublisher) PublishHalf(ctx context.Context, m app.RebackMessage) error {
	body, err := encodeReback(m)
	if err != nil {
		return err
	}
	msg := primitive.NewMessage(t.topic, body).WithKeys([]string{string(m.OrderSN)})
	if err := setOwner(msg, m.Owner); err != nil {
		return fmt.Errorf("send half message %s: %w", m.OrderSN, err)
	}
	// The check-back and inventory's reback consumer continue the order's trace from here.
	tracing.Inject(ctx, t.prop, msg)
	res, err := t.p.SendMessageInTransaction(ctx, msg)
	if err != nil {
		return fmt.Errorf("send half message %s: %w", m.OrderSN, err)
	}
	if res.Status != primitive.SendOK {
		return fmt.Errorf("send half message %s: broker answered status %d", m.OrderSN, res.Status)
	}
	return nil
}

// listener is the client's TransactionListener. It keeps no per-request state: it decodes the
// order number and asks app.LocalTransactions.
type listener struct {
	lt   atomic.Pointer[app.LocalTransactions] // set once by Start
	log  *slog.Logger
	prop propagation.TextMapPropagator // may be nil
}

func (l *listener) ExecuteLocalTransaction(msg *primitive.Message) primitive.LocalTransactionState {
	if msg.GetProperty(probeProperty) == "1" {
		return primitive.RollbackMessageState
	}
	sn, err := orderSNOf(msg.Body)
	lt := l.lt.Load()
	if err != nil || lt == nil {
		l.log.Error("local transaction: cannot handle the half message; leaving it to the check-back", "err", errors.Join(err, errNotStarted(lt)))
		return primitive.UnknowState
	}
	return state((*lt).ExecuteLocal(sn))
}

// CheckLocalTransaction answers a check-back. It must not panic: the client runs every check of
// this producer on one goroutine, and a panic would end it.
func (l *listener) CheckLocalTransaction(msg *primitive.MessageExt) (st primitive.LocalTransactionState) {
	defer func() {
		if r := recover(); r != nil {
			l.log.Error("check-back panicked", "panic", r)
			st = primitive.UnknowState
		}
	}()
	if msg.GetProperty(probeProperty) == "1" {
		return primitive.RollbackMessageState
	}
	sn, err := orderSNOf(msg.Body)
	lt := l.lt.Load()
	if err != nil || lt == nil {
		l.log.Error("check-back: cannot handle the half message", "msg_id", msg.MsgId, "err", errors.Join(err, errNotStarted(lt)))
		return primitive.UnknowState
	}
	owner, err := ownerOf(&msg.Message)
	if err != nil {
		l.log.Warn("check-back: unreadable saga owner; the barrier decides", "msg_id", msg.MsgId, "order_sn", sn, "err", err)
	}
	ctx := tracing.Extract(context.Background(), l.prop, &msg.Message)
	return state((*lt).Check(ctx, sn, owner))
}

func errNotStarted(lt *app.LocalTransactions) error {
	if lt == nil {
		return errors.New("publisher not started")
	}
	return nil
}

// state maps the app's answer to the client's: delivering the reback message is a commit of
// the half message, discarding it a rollback.
func state(h app.HalfOutcome) primitive.LocalTransactionState {
	switch h {
	case app.DeliverReback:
		return primitive.CommitMessageState
	case app.DiscardReback:
		return primitive.RollbackMessageState
	default:
		return primitive.UnknowState
	}
}
