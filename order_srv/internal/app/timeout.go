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
	closed := false
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
		return nil
	case errors.Is(err, order.ErrNotFound):
		s.d.Log.Warn("payment timeout for an unknown order; dropped", "order_sn", sn)
		return nil
	case err != nil:
		return fmt.Errorf("close order %s: %w", sn, err)
	}
	if closed {
		s.d.Metrics.OrderClosedByTimeout()
	}
	if err := s.d.Stock.Reback(ctx, sn); err != nil {
		return fmt.Errorf("return stock of closed order %s: %w", sn, err)
	}
	s.record(ctx, sn, StepStockReturnRequested, "the timeout asked inventory to return the stock (applied at most once)")
	s.d.Log.Info("unpaid order closed, stock returned", "order_sn", sn)
	return nil
}
