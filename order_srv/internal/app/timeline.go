package app

import (
	"context"
	"fmt"
	"time"

	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// Step is one kind of step of an order's saga, as recorded on its timeline. The set is closed:
// only the constants below exist (the stored spelling is the string).
type Step string

// The steps, roughly in the order a saga takes them.
const (
	// StepHalfSent: the broker stored the reback half message (timed when the local
	// transaction starts, which is right after; written with the sell's outcome: in the local
	// transaction when it commits, else with local_failed).
	StepHalfSent Step = "half_sent"
	// StepStockDeducted: inventory deducted the order's stock (written in the local transaction
	// when it commits, else with local_failed).
	StepStockDeducted Step = "stock_deducted"
	// StepLocalCommitted: the order, its items and the barrier were committed (written in that
	// same transaction).
	StepLocalCommitted Step = "local_committed"
	// StepLocalFailed: the local transaction made no order (the sell or the commit failed).
	StepLocalFailed Step = "local_failed"
	// StepHalfDecided: the local transaction answered the half message (detail: the answer).
	StepHalfDecided Step = "half_decided"
	// StepCheckBackAsked: the broker checked back on the half message.
	StepCheckBackAsked Step = "check_back_asked"
	// StepCheckBackAnswered: the check-back was answered (detail: the answer).
	StepCheckBackAnswered Step = "check_back_answered"
	// StepTimeoutScheduled: the delayed payment-timeout message was stored by the broker.
	StepTimeoutScheduled Step = "timeout_scheduled"
	// StepTimeoutFired: the payment-timeout message was delivered.
	StepTimeoutFired Step = "timeout_fired"
	// StepPaid: the order was paid (written in the transaction that changed its status).
	StepPaid Step = "paid"
	// StepClosed: the unpaid order was closed by its timeout (written in the transaction that
	// changed its status).
	StepClosed Step = "closed"
	// StepStockReturnRequested: the order's stock is on its way back to inventory — a committed
	// half message (delivered to inventory's reback consumer) or the timeout's direct return.
	// Inventory applies a return at most once per order.
	StepStockReturnRequested Step = "stock_return_requested"
	// StepPaymentRecorded: the payment provider's notify was recorded (detail: trade_no, amount
	// and what became of it: applied, duplicate_to_refund, to_refund), in the transaction that
	// recorded it.
	StepPaymentRecorded Step = "payment_recorded"
	// StepReconciled: the reconciler of last resort settled the saga (detail: what it did) —
	// closed an unpaid order past its deadline, or returned the stock of a sell with no order.
	StepReconciled Step = "reconciled"
)

// Steps lists every Step, in the order a saga usually takes them.
var Steps = []Step{
	StepHalfSent, StepStockDeducted, StepLocalCommitted, StepLocalFailed, StepHalfDecided,
	StepCheckBackAsked, StepCheckBackAnswered, StepTimeoutScheduled, StepTimeoutFired,
	StepPaid, StepClosed, StepStockReturnRequested, StepPaymentRecorded, StepReconciled,
}

// Valid reports whether s is one of the defined steps.
func (s Step) Valid() bool {
	for _, v := range Steps {
		if s == v {
			return true
		}
	}
	return false
}

// maxDetailLen bounds a step's detail (the column is VARCHAR(512)); longer ones are cut.
const maxDetailLen = 500

// SagaStep is one recorded step of an order's saga.
type SagaStep struct {
	Step   Step
	Detail string // free text for people: an answer, an error, the items
	At     time.Time
}

// NewSagaStep returns a step at time at with its detail cut to the stored length.
func NewSagaStep(step Step, detail string, at time.Time) SagaStep {
	if len(detail) > maxDetailLen {
		cut := maxDetailLen
		for cut > 0 && detail[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		detail = detail[:cut] + "…"
	}
	return SagaStep{Step: step, Detail: detail, At: at.UTC()}
}

// StepOfStatus is the step recorded by the transaction that moves an order into status to, if
// any: OrderStore.UpdateOrder writes it with the status change.
func StepOfStatus(to order.Status) (Step, bool) {
	switch to {
	case order.StatusTradeSuccess:
		return StepPaid, true
	case order.StatusTradeClosed:
		return StepClosed, true
	}
	return "", false
}

// Timeline stores the steps of every order's saga durably, so that a step taken by another
// process (a check-back after a crash, the timeout consumer) is on the same timeline. Steps that
// are database changes are written in their own transaction (CommitOptions.Steps,
// OrderStore.UpdateOrder); the others are appended through Record. Safe for concurrent use.
type Timeline interface {
	// Record appends steps, in their order, to the timeline of order sn, in one write: all of
	// them or none.
	Record(ctx context.Context, sn order.SN, steps ...SagaStep) error
	// Append is Record without waiting: it queues the steps (all of them or none) and returns;
	// they are stored in the background after every step recorded or queued before through this
	// Timeline, and a failure to store them is logged (so is a drop when too many are queued).
	// A Timeline call of this Timeline started after Append returned sees them, and the store's
	// transactions on the same order that write steps (OrderStore.UpdateOrder,
	// PaymentStore.RecordPayment) store theirs after them; the local transaction
	// (SagaStore.CommitOrder) does not wait for them — it creates the order, whose steps nobody
	// queued before. Another instance's reads may not see them yet. Closing the store stores them
	// first, within a deadline. Errors: an unknown step, or the store is closed.
	Append(ctx context.Context, sn order.SN, steps ...SagaStep) error
	// Timeline returns the steps of order sn in the order they were taken (their At, then the
	// order they were recorded), including every step appended through this Timeline before the
	// call; none is not an error.
	Timeline(ctx context.Context, sn order.SN) ([]SagaStep, error)
}

// record appends a best-effort step: a step that cannot be written is logged, never a reason
// to fail or change the saga.
func (s *Service) record(ctx context.Context, sn order.SN, step Step, detail string) {
	s.recordSteps(ctx, sn, NewSagaStep(step, detail, s.d.Now()))
}

// recordSteps appends best-effort steps in one write (see record) and returns once they are
// stored.
func (s *Service) recordSteps(ctx context.Context, sn order.SN, steps ...SagaStep) {
	s.logUnrecorded(sn, steps, s.d.Timeline.Record(ctx, sn, steps...))
}

// appendSteps queues best-effort steps for one write and returns at once (Timeline.Append):
// for steps that nothing in the saga waits for.
func (s *Service) appendSteps(ctx context.Context, sn order.SN, steps ...SagaStep) {
	s.logUnrecorded(sn, steps, s.d.Timeline.Append(ctx, sn, steps...))
}

func (s *Service) logUnrecorded(sn order.SN, steps []SagaStep, err error) {
	if err == nil {
		return
	}
	names := make([]Step, len(steps))
	for i, st := range steps {
		names[i] = st.Step
	}
	s.d.Log.Warn("saga steps not recorded", "order_sn", sn, "steps", names, "err", err)
}

// Timeline returns the saga steps of order sn. An order number with no step and no order is
// order.ErrNotFound; an order that failed (no order row) still has the steps it took.
func (s *Service) Timeline(ctx context.Context, sn string) ([]SagaStep, error) {
	n, err := order.ParseSN(sn)
	if err != nil {
		return nil, err
	}
	steps, err := s.d.Timeline.Timeline(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", n, err)
	}
	if len(steps) == 0 {
		// An order created before the timeline existed has no steps but is not unknown.
		if _, err := s.d.Orders.Order(ctx, n); err != nil {
			return nil, err
		}
	}
	return steps, nil
}

// describeLines renders order lines for a step's detail: "goods 1 × 2, goods 3 × 1".
func describeLines(lines []order.Line) string {
	out := ""
	for i, l := range lines {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("goods %d × %d", l.GoodsID, l.Num)
	}
	return out
}
