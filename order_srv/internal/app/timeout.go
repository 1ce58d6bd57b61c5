package app

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/trace"

	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// HandleTimeout handles the payment-timeout message of order sn: an unpaid order is closed with
// a compare-and-set on its status, then its stock is returned. It is idempotent, so duplicate
// deliveries change nothing: a closed order only has its (idempotent) stock return repeated — which
// also repairs a crash between closing and returning — and a paid order is left alone.
//
// An error means "deliver again later"; a message that can never succeed (no such order) is
// logged and acknowledged.
func (s *Service) HandleTimeout(ctx context.Context, sn order.SN) (err error) {
	ctx, span := s.d.Tracer.Start(ctx, "payment timeout", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attrOrderSN(sn)))
	defer func() { endSpan(span, err) }()
	s.record(ctx, sn, StepTimeoutFired, "")
	closed, err := s.closeUnpaid(ctx, sn, "the timeout")
	if errors.Is(err, order.ErrNotFound) {
		s.d.Log.Warn("payment timeout for an unknown order; dropped", "order_sn", sn)
		return nil
	}
	if closed { // counted even if the stock return failed: a redelivery will not close it again
		s.d.Metrics.OrderClosedByTimeout()
	}
	return err
}

// closeUnpaid closes order sn if it waits for payment — a compare-and-set on its status, so the
// timeout consumer and the reconcilers of several instances never close it twice — and returns
// its stock, also when it was closed already (the return is idempotent; repeating it repairs a
// crash between closing and returning). A paid order is left alone (closed false, nil). It
// reports whether this call closed the order. by names the closer on the timeline.
func (s *Service) closeUnpaid(ctx context.Context, sn order.SN, by string) (closed bool, err error) {
	_, err = s.d.Orders.UpdateOrder(ctx, sn, func(o *order.Order) error {
		open := o.Status == order.StatusWaitBuyerPay
		if err := o.Close(s.d.Now()); err != nil {
			return err
		}
		closed = open // assigned, not accumulated: the transaction may run again
		return nil
	})
	switch {
	case errors.Is(err, order.ErrOrderPaid):
		return false, nil
	case errors.Is(err, order.ErrNotFound):
		return false, err
	case err != nil:
		return false, fmt.Errorf("close order %s: %w", sn, err)
	}
	if err := s.d.Stock.Reback(ctx, sn); err != nil {
		return closed, fmt.Errorf("return stock of closed order %s: %w", sn, err)
	}
	s.record(ctx, sn, StepStockReturnRequested, by+" asked inventory to return the stock (applied at most once)")
	s.d.Log.Info("unpaid order closed, stock returned", "order_sn", sn, "by", by)
	return closed, nil
}
