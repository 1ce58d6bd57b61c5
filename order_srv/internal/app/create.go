package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// settleTimeout bounds the barrier read that settles a commit whose outcome is unknown; it runs
// past the saga's deadline when that deadline cut the commit.
const settleTimeout = 3 * time.Second

// CreateOrder is a request to create an order: either Lines, or FromCart to order the user's
// checked cart items.
type CreateOrder struct {
	UserID         int64
	Shipping       order.Shipping
	Lines          []order.Line
	FromCart       bool
	IdempotencyKey string // optional; scoped to UserID
	Fault          Fault
}

// Created is the answer to CreateOrder.
type Created struct {
	Order order.Order
	// Replayed is true when the answer is the stored outcome of an earlier request with the
	// same Idempotency-Key; Order is then the order as it is now.
	Replayed bool
}

// CreateOrder runs the saga for one order and returns it, waiting for payment. Errors:
// order.ErrInvalid, ErrCartEmpty, ErrInsufficientStock and ErrGoodsNotFound (nothing left
// behind), ErrUnavailable (a dependency failed; whatever was deducted is returned),
// ErrOutcomeUnknown (the order may exist; the saga settles it), ErrRequestInProgress,
// ErrIdempotencyKeyReused.
func (s *Service) CreateOrder(ctx context.Context, cmd CreateOrder) (_ Created, err error) {
	ctx, span := s.d.Tracer.Start(ctx, "create order", trace.WithAttributes(attribute.Int64("user_id", cmd.UserID)))
	defer func() { endSpan(span, err) }()
	if err := validateCreate(cmd); err != nil {
		return Created{}, err
	}
	now := s.d.Now()
	sn, err := order.NewSN(now, nil)
	if err != nil {
		return Created{}, err
	}
	span.SetAttributes(attrOrderSN(sn))
	a := &attempt{ctx: ctx, cmd: cmd, sn: sn}
	if cmd.IdempotencyKey != "" {
		key := IdempotencyKey{UserID: cmd.UserID, Key: cmd.IdempotencyKey}
		replay, done, err := s.claimKey(ctx, key, requestHash(cmd), sn)
		if err != nil || done {
			return replay, err
		}
		a.idem = &key
	}
	if cmd.FromCart {
		// Read after claiming the key: a replay must not fail because ordering emptied the cart.
		lines, cart, err := s.checkedCartLines(ctx, cmd.UserID)
		if err == nil {
			err = order.ValidateLines(lines)
		}
		if err != nil {
			s.releaseKey(a)
			return Created{}, err
		}
		a.cmd.Lines = lines
		a.cart = cart
		cmd = a.cmd
	}

	// The saga must not stop half-way because the client hung up: detach it from the request.
	sagaCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.SagaTimeout)
	defer cancel()
	a.ctx = sagaCtx
	s.pending.put(a)
	defer s.pending.remove(a)

	// The half message names this instance as the saga's owner until the saga's deadline (taken
	// after sagaCtx's and carried rounded up to the millisecond, so it never ends first): a
	// check-back on another instance leaves the saga alone until then. Past it the local
	// transaction may still commit on the server; the barrier keeps a check-back right.
	owner := HalfOwner{Instance: s.opts.Instance, Deadline: s.d.Now().Add(s.opts.SagaTimeout)}
	pubErr := s.d.Halves.PublishHalf(sagaCtx, RebackMessage{OrderSN: sn, Lines: cmd.Lines, Owner: owner})
	res, ran, runErr := a.outcome()
	if !ran {
		// The half message was not stored (or never reached ExecuteLocal): nothing happened.
		if pubErr == nil {
			pubErr = errors.New("the local transaction was not run")
		}
		s.releaseKey(a)
		return Created{}, fmt.Errorf("%w: send half message: %v", ErrUnavailable, pubErr)
	}
	if runErr != nil {
		switch {
		case errors.Is(runErr, ErrInsufficientStock):
			s.finishKey(a, OutcomeInsufficientStock)
		case errors.Is(runErr, ErrOutcomeUnknown):
			// Keep the key bound to this attempt: a retry settles it through the barrier (see
			// claimKey) and answers with the order if it was committed.
		default:
			s.releaseKey(a)
		}
		return Created{}, runErr
	}
	return Created{Order: res}, nil
}

func validateCreate(cmd CreateOrder) error {
	if len(cmd.IdempotencyKey) > maxIdempotencyKeyLen {
		return fmt.Errorf("%w: Idempotency-Key must be at most %d bytes", order.ErrInvalid, maxIdempotencyKeyLen)
	}
	if !cmd.FromCart {
		return order.ValidateRequest(cmd.UserID, cmd.Shipping, cmd.Lines)
	}
	if len(cmd.Lines) != 0 {
		return fmt.Errorf("%w: give either items or from_cart, not both", order.ErrInvalid)
	}
	return errors.Join(order.ValidateUserID(cmd.UserID), cmd.Shipping.Validate())
}

// checkedCartLines returns the lines of the user's checked cart items, and those items as read
// (the local transaction removes exactly them).
func (s *Service) checkedCartLines(ctx context.Context, userID int64) ([]order.Line, []order.CartItem, error) {
	items, err := s.d.Carts.CartItems(ctx, userID)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: read cart: %v", ErrUnavailable, err)
	}
	var lines []order.Line
	var checked []order.CartItem
	for _, it := range items {
		if it.Checked {
			lines = append(lines, order.Line{GoodsID: it.GoodsID, Num: it.Num})
			checked = append(checked, it)
		}
	}
	if len(lines) == 0 {
		return nil, nil, ErrCartEmpty
	}
	return lines, checked, nil
}

// ExecuteLocal is the local-transaction callback of the reback half message of order sn: it
// sells the stock, then commits the order, and decides the half message. It implements
// LocalTransactions.
func (s *Service) ExecuteLocal(sn order.SN) HalfOutcome {
	a := s.pending.start(sn)
	if a == nil {
		// Not started by this process's CreateOrder, or started twice (should not happen): let
		// the check decide.
		s.d.Log.Error("local transaction for an unknown order", "order_sn", sn)
		return AskLater
	}
	// The client calls back on CreateOrder's goroutine, so the span is a child of the request's.
	ctx, span := s.d.Tracer.Start(a.ctx, "local transaction", trace.WithAttributes(attrOrderSN(sn)))
	a.ctx = ctx
	// Recorded with the next step, after the sell: in the local transaction, or with its failure.
	a.note(NewSagaStep(StepHalfSent, describeLines(a.cmd.Lines), s.d.Now()))
	out, o, err := s.executeLocal(a)
	span.SetAttributes(attribute.String("half_outcome", out.String()))
	endSpan(span, err)
	a.finish(o, err)
	if err != nil {
		s.d.Log.Warn("order not created", "order_sn", sn, "half", out, "err", err)
	}
	s.recordAnswer(a.ctx, sn, StepHalfDecided, out, a.takeNoted()...)
	return out
}

// recordAnswer records the steps taken before (if any), the answer to a half message (by the
// local transaction or a check-back), and the stock return that a committed half message sets
// off, in one timeline write that it does not wait for (Timeline.Append): the answer goes to the
// broker at once, and a Timeline read after it still sees the steps.
func (s *Service) recordAnswer(ctx context.Context, sn order.SN, step Step, out HalfOutcome, before ...SagaStep) {
	var detail string
	switch out {
	case DeliverReback:
		detail = "commit: the reback message goes to inventory, which returns the stock"
	case DiscardReback:
		detail = "rollback: the reback message is discarded, the stock stays as it is"
	default:
		detail = "unknown: the broker will check back"
	}
	now := s.d.Now()
	steps := append(before, NewSagaStep(step, out.String()+" — "+detail, now))
	if out == DeliverReback {
		steps = append(steps, NewSagaStep(StepStockReturnRequested, "the committed half message is delivered to inventory (applied at most once)", now))
	}
	s.appendSteps(ctx, sn, steps...)
}

// recordNoted records the steps a noted so far and then step, in one timeline write.
func (s *Service) recordNoted(a *attempt, step Step, detail string) {
	s.recordSteps(a.ctx, a.sn, append(a.takeNoted(), NewSagaStep(step, detail, s.d.Now()))...)
}

// failLocal records a local transaction that made no order and counts the rolled-back saga —
// unless the outcome is left to the check-back, which counts it then.
func (s *Service) failLocal(a *attempt, out HalfOutcome, reason RollbackReason, err error) (HalfOutcome, order.Order, error) {
	s.recordNoted(a, StepLocalFailed, string(reason)+": "+err.Error())
	if out != AskLater && !errors.Is(err, ErrBarrierTaken) { // a check-back that fenced the order counted it
		s.d.Metrics.OrderRolledBack(reason)
	}
	return out, order.Order{}, err
}

func (s *Service) executeLocal(a *attempt) (HalfOutcome, order.Order, error) {
	ctx, cmd := a.ctx, a.cmd
	priced, err := s.d.Stock.Sell(ctx, a.sn, cmd.Lines)
	switch {
	case errors.Is(err, ErrInsufficientStock):
		return s.failLocal(a, DiscardReback, RollbackInsufficientStock, err) // nothing was deducted, nothing to return
	case errors.Is(err, ErrGoodsNotFound):
		return s.failLocal(a, DiscardReback, RollbackGoodsNotFound, err)
	case errors.Is(err, ErrSellRejected):
		// Nothing deducted by this order. (Never DeliverReback here: if the number had been sold
		// for someone else, a reback would return their stock.)
		return s.failLocal(a, DiscardReback, RollbackSellFailed, fmt.Errorf("%w: sell: %v", ErrUnavailable, err))
	case err != nil:
		// Maybe deducted (e.g. a timeout): returning is always safe, inventory returns what this
		// order number deducted, at most once, and fences the number against a late sell.
		return s.failLocal(a, DeliverReback, RollbackSellFailed, fmt.Errorf("%w: sell: %v", ErrUnavailable, err))
	}
	// Written by the local transaction with local_committed, or with local_failed.
	a.note(NewSagaStep(StepStockDeducted, describeLines(cmd.Lines), s.d.Now()))
	if cmd.Fault == FaultCrashAfterDeduct {
		s.recordSteps(ctx, a.sn, a.takeNoted()...) // on the timeline before the crash
		s.crash(FaultCrashAfterDeduct)
	}

	items, err := order.PriceLines(cmd.Lines, priced)
	if err != nil {
		return s.failLocal(a, DeliverReback, RollbackLocalTxFailed, err)
	}
	o, err := order.New(a.sn, cmd.UserID, cmd.Shipping, items, s.d.Now())
	if err != nil {
		return s.failLocal(a, DeliverReback, RollbackLocalTxFailed, err)
	}
	// The steps noted so far go into the transaction too; they stay noted until it committed, so a
	// failure records them with local_failed.
	opts := CommitOptions{
		Idempotency: a.idem,
		Steps: append(slices.Clip(a.noted), NewSagaStep(StepLocalCommitted,
			fmt.Sprintf("order, %d item(s) and the check-back barrier written; total %d cents", len(o.Items), o.TotalCents), s.d.Now())),
	}
	if cmd.FromCart {
		opts.RemoveCartItems = a.cart
	}
	if cmd.Fault == FaultFailLocalTx {
		opts.BeforeCommit = func() error { return errInjected }
	}

	err = s.d.Saga.CommitOrder(ctx, o, opts)
	switch {
	case errors.Is(err, ErrCommitUnknown):
		// COMMIT failed: the order may exist. Settle it the way a check-back would; that fences
		// the transaction if it did not commit. Most often the saga's deadline cut the commit
		// (ctx has ended), so settle on a context of its own: a few seconds past the deadline,
		// which only this barrier read uses — the barrier makes it agree with any check-back.
		settleCtx, cancelSettle := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
		res, rerr := s.d.Saga.ResolveCheck(settleCtx, a.sn, s.d.Now())
		cancelSettle()
		switch {
		case rerr != nil:
			// Neither committed nor fenced for sure: the check-back (or the reconciler) decides.
			return s.failLocal(a, AskLater, RollbackLocalTxFailed, fmt.Errorf("%w: commit order: %v; settle: %v", ErrOutcomeUnknown, err, rerr))
		case res == ResolvedAborted:
			return s.failLocal(a, DeliverReback, RollbackLocalTxFailed, fmt.Errorf("%w: commit order: %v", ErrUnavailable, err))
		}
	case err != nil:
		return s.failLocal(a, DeliverReback, RollbackLocalTxFailed, fmt.Errorf("%w: commit order: %v", ErrUnavailable, err))
	}
	a.takeNoted() // committed with the order
	s.d.Metrics.OrderCreated()
	if cmd.Fault == FaultCrashAfterCommit {
		s.crash(FaultCrashAfterCommit)
	}

	if err := s.d.Timeouts.ScheduleTimeout(ctx, a.sn); err != nil {
		// The order exists; the check-back will find it and send the timeout message.
		s.d.Log.Warn("payment timeout not scheduled; leaving it to the check-back", "order_sn", a.sn, "err", err)
		return AskLater, o, nil
	}
	a.note(NewSagaStep(StepTimeoutScheduled, "by the local transaction", s.d.Now())) // recorded with the answer
	return DiscardReback, o, nil
}

// crash ends the process for a crash fault.
func (s *Service) crash(f Fault) {
	s.d.Log.Warn("injected crash", "fault", f)
	s.d.Crash(string(f))
}

// attempt is one CreateOrder in flight, found by ExecuteLocal through its order number.
type attempt struct {
	ctx  context.Context
	cmd  CreateOrder
	sn   order.SN
	idem *IdempotencyKey
	cart []order.CartItem // for FromCart: the checked cart items as read

	// noted are steps taken but not recorded yet: the next timeline write carries them. Used
	// only on ExecuteLocal's goroutine.
	noted []SagaStep

	started bool // guarded by pending.mu

	mu    sync.Mutex // guards ran, order, err
	ran   bool
	order order.Order
	err   error
}

// note keeps step for the next timeline write of the attempt.
func (a *attempt) note(step SagaStep) { a.noted = append(a.noted, step) }

// takeNoted returns the noted steps and forgets them.
func (a *attempt) takeNoted() []SagaStep {
	steps := a.noted
	a.noted = nil
	return steps
}

func (a *attempt) finish(o order.Order, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ran, a.order, a.err = true, o, err
}

func (a *attempt) outcome() (o order.Order, ran bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.order, a.ran, a.err
}

// pending is the registry of attempts in flight in this process, by order number: the
// publisher's callback carries only the message, so this is how ExecuteLocal finds its request
// (listeners keep no per-request state), and how Check knows that a local transaction is still
// alive here.
type pending struct {
	mu sync.Mutex // guards m and every attempt's started
	m  map[string]*attempt
}

func (p *pending) put(a *attempt) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[string(a.sn)] = a
}

// start returns the attempt of sn and marks it started, or nil if there is none or it was
// started already: a local transaction runs at most once.
func (p *pending) start(sn order.SN) *attempt {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.m[string(sn)]
	if a == nil || a.started {
		return nil
	}
	a.started = true
	return a
}

// inFlight reports whether CreateOrder of sn is still running in this process.
func (p *pending) inFlight(sn order.SN) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[string(sn)] != nil
}

func (p *pending) remove(a *attempt) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m[string(a.sn)] == a {
		delete(p.m, string(a.sn))
	}
}

func attrOrderSN(sn order.SN) attribute.KeyValue { return attribute.String("order_sn", string(sn)) }

// endSpan ends span, marking it failed if err is not nil.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
