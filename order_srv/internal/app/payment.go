package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// Errors of the payment notify.
var (
	// ErrAmountMismatch: the notify's amount is not the order's total; nothing was recorded.
	ErrAmountMismatch = errors.New("app: the paid amount differs from the order's total")
	// ErrTradeNoReused: the provider's trade_no was recorded for another order or amount.
	ErrTradeNoReused = errors.New("app: trade_no already recorded with other details")
	// ErrPaymentsOff: no PaymentStore was configured.
	ErrPaymentsOff = errors.New("app: payments are not configured")
)

// PaymentStatus is what became of a recorded payment. The set is closed.
type PaymentStatus string

// The payment statuses (the stored spelling is the string).
const (
	// PaymentApplied: the payment paid the order.
	PaymentApplied PaymentStatus = "applied"
	// PaymentDuplicate: the order had been paid by another trade: this money is to be refunded.
	PaymentDuplicate PaymentStatus = "duplicate_to_refund"
	// PaymentToRefund: the order had been closed by its payment timeout: the money is to be
	// refunded; the order stays closed and its stock stays returned.
	PaymentToRefund PaymentStatus = "to_refund"
)

// PaymentNotice is a verified payment notify of the provider.
type PaymentNotice struct {
	OrderSN     order.SN
	TradeNo     string // the provider's id of the trade; the notify is idempotent per TradeNo
	AmountCents int64
	NotifyTime  time.Time
}

// Payment is a recorded payment.
type Payment struct {
	TradeNo     string
	OrderSN     order.SN
	AmountCents int64
	Status      PaymentStatus
	NotifyTime  time.Time
	CreatedAt   time.Time
}

// PaymentStore records payments. Safe for concurrent use.
type PaymentStore interface {
	// RecordPayment records n once per trade_no, in one transaction: if n.TradeNo is recorded
	// already it returns that payment and true (nothing written). Otherwise it locks the order
	// (order.ErrNotFound if none), calls decide, which may change the order (pay it) and returns
	// the payment's status, inserts the payment and writes the order's status change with a
	// compare-and-set, appending StepOfStatus and a StepPaymentRecorded step to the timeline. An
	// error from decide is returned as is and nothing is written.
	RecordPayment(ctx context.Context, n PaymentNotice, now time.Time, decide func(*order.Order) (PaymentStatus, error)) (Payment, bool, error)
	// Payments returns the payments of order sn, oldest first.
	Payments(ctx context.Context, sn order.SN) ([]Payment, error)
}

// PaymentMetrics, when the Metrics implement it, counts recorded payments by status.
type PaymentMetrics interface {
	PaymentRecorded(status PaymentStatus)
}

// ApplyPayment records a verified payment notify: it pays an unpaid order; a second trade for a
// paid order is recorded as a duplicate to refund; a payment for an order its timeout closed is
// recorded as to be refunded and never reopens the order or takes its stock again. It is
// idempotent per trade_no. Errors: order.ErrInvalid, order.ErrNotFound, ErrAmountMismatch,
// ErrTradeNoReused (nothing recorded).
func (s *Service) ApplyPayment(ctx context.Context, n PaymentNotice) (Payment, error) {
	if s.d.Payments == nil {
		return Payment{}, ErrPaymentsOff
	}
	if n.TradeNo == "" || len(n.TradeNo) > 64 {
		return Payment{}, fmt.Errorf("%w: trade_no must be 1 to 64 characters", order.ErrInvalid)
	}
	if n.AmountCents < 0 {
		return Payment{}, fmt.Errorf("%w: the amount must not be negative", order.ErrInvalid)
	}
	p, replayed, err := s.d.Payments.RecordPayment(ctx, n, s.d.Now(), func(o *order.Order) (PaymentStatus, error) {
		if n.AmountCents != o.TotalCents {
			return "", fmt.Errorf("%w: notify says %d cents, order %s totals %d", ErrAmountMismatch, n.AmountCents, o.SN, o.TotalCents)
		}
		switch o.Status {
		case order.StatusWaitBuyerPay:
			return PaymentApplied, o.Pay(s.d.Now())
		case order.StatusTradeSuccess:
			return PaymentDuplicate, nil
		default: // closed by its timeout: never reopened
			return PaymentToRefund, nil
		}
	})
	if err != nil {
		return Payment{}, err
	}
	if replayed {
		if p.OrderSN != n.OrderSN || p.AmountCents != n.AmountCents {
			return Payment{}, fmt.Errorf("%w: trade_no %s belongs to order %s", ErrTradeNoReused, n.TradeNo, p.OrderSN)
		}
		return p, nil
	}
	if p.Status == PaymentApplied {
		s.d.Metrics.OrderPaid()
	}
	if pm, ok := s.d.Metrics.(PaymentMetrics); ok {
		pm.PaymentRecorded(p.Status)
	}
	if p.Status != PaymentApplied {
		s.d.Log.Warn("payment to refund recorded", "order_sn", n.OrderSN, "trade_no", n.TradeNo, "status", p.Status)
	}
	return p, nil
}

// Payments returns the recorded payments of order sn (none without a PaymentStore).
func (s *Service) Payments(ctx context.Context, sn string) ([]Payment, error) {
	n, err := order.ParseSN(sn)
	if err != nil {
		return nil, err
	}
	if s.d.Payments == nil {
		return nil, nil
	}
	return s.d.Payments.Payments(ctx, n)
}
