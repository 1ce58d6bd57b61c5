package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Deps are the Service's collaborators. All are required except Now (default time.Now) and
// Metrics (default NopMetrics).
type Deps struct {
	Orders      OrderStore
	Carts       CartStore
	Saga        SagaStore
	Idempotency IdempotencyStore
	Stock       StockSeller
	Goods       GoodsCatalog
	Halves      HalfPublisher
	Timeouts    TimeoutScheduler
	// Timeline records the saga's steps (required).
	Timeline Timeline
	// Payments records the payment provider's notifies (optional: without it ApplyPayment is
	// ErrPaymentsOff). UnpaidOrders counts a user's unpaid orders for Limits (optional).
	Payments     PaymentStore
	UnpaidOrders UnpaidCounter
	// Metrics counts the saga's outcomes (default NopMetrics).
	Metrics Metrics
	// Tracer starts the saga's spans (default: a no-op tracer).
	Tracer trace.Tracer
	Log    *slog.Logger
	Now    func() time.Time
	// Crash ends the process at once (os.Exit in production). It is called by the crash faults.
	Crash func(point string)
	// Owners lets a check-back on another instance leave a live saga alone — the owner comes
	// with the half message, Owners reads whether the barrier decided already — and lets the
	// reconciler clear the old saga_owners rows (optional: without it a check-back on another
	// instance may fence a slow but healthy saga).
	Owners OwnerStore
}

// Options tune the Service.
type Options struct {
	// SagaTimeout bounds the work of one order's saga (inventory call, local transaction,
	// timeout message) and of one check-back. It is detached from the HTTP request, so a client
	// that hangs up does not abandon a half-finished saga.
	SagaTimeout time.Duration
	// IdempotencyStaleAfter is how long an unfinished attempt of an Idempotency-Key is assumed
	// alive; a retry after that takes it over (after fencing it through the barrier).
	IdempotencyStaleAfter time.Duration
	// Instance names this process among several order_srv instances; the half messages it sends
	// name it as their saga's owner (default: random, new at every start — a restarted process
	// is a new owner). Printable characters only, at most MaxInstanceLen bytes.
	Instance string
}

func (o *Options) setDefaults() {
	if o.SagaTimeout <= 0 {
		o.SagaTimeout = 15 * time.Second
	}
	if o.IdempotencyStaleAfter <= 0 {
		o.IdempotencyStaleAfter = 30 * time.Second
	}
	if o.Instance == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		o.Instance = hex.EncodeToString(b)
	}
}

// Service implements the use cases. It is safe for concurrent use. It also implements
// LocalTransactions for the HalfPublisher.
type Service struct {
	d       Deps
	opts    Options
	pending pending
}

// New returns a Service; it reports every missing dependency at once.
func New(d Deps, opts Options) (*Service, error) {
	var errs []error
	for name, missing := range map[string]bool{
		"Orders": d.Orders == nil, "Carts": d.Carts == nil, "Saga": d.Saga == nil,
		"Idempotency": d.Idempotency == nil, "Stock": d.Stock == nil, "Goods": d.Goods == nil,
		"Halves": d.Halves == nil, "Timeouts": d.Timeouts == nil, "Timeline": d.Timeline == nil,
		"Log": d.Log == nil, "Crash": d.Crash == nil,
	} {
		if missing {
			errs = append(errs, errors.New("app: missing dependency "+name))
		}
	}
	if strings.IndexFunc(opts.Instance, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		// It travels in the half message's properties, whose wire format separates entries with
		// control characters.
		errs = append(errs, fmt.Errorf("app: instance name %q: printable characters only", opts.Instance))
	}
	if len(opts.Instance) > MaxInstanceLen {
		errs = append(errs, fmt.Errorf("app: instance name of %d bytes: at most %d", len(opts.Instance), MaxInstanceLen))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Metrics == nil {
		d.Metrics = NopMetrics{}
	}
	if d.Tracer == nil {
		d.Tracer = noop.NewTracerProvider().Tracer("")
	}
	opts.setDefaults()
	return &Service{d: d, opts: opts, pending: pending{m: map[string]*attempt{}}}, nil
}
