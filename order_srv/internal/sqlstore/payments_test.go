package sqlstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

func payOpen(o *order.Order) (app.PaymentStatus, error) {
	if o.Status == order.StatusWaitBuyerPay {
		return app.PaymentApplied, o.Pay(t0)
	}
	return app.PaymentDuplicate, nil
}

func TestRecordPayment_oncePerTradeNo_paysTheOrder_andRecordsTheStep(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s, ctx := newStore(t, db), context.Background()
		o := newOrder(t, 7)
		if err := s.CommitOrder(ctx, o, app.CommitOptions{}); err != nil {
			t.Fatal(err)
		}
		n := app.PaymentNotice{OrderSN: o.SN, TradeNo: "T1", AmountCents: o.TotalCents, NotifyTime: t0}
		p, replayed, err := s.RecordPayment(ctx, n, t0, payOpen)
		if err != nil || replayed || p.Status != app.PaymentApplied {
			t.Fatalf("first: %+v %v %v", p, replayed, err)
		}
		// The same trade again, many times at once: recorded once, the order paid once.
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				p, replayed, err := s.RecordPayment(ctx, n, t0, payOpen)
				if err != nil || !replayed || p.Status != app.PaymentApplied {
					t.Errorf("replay: %+v %v %v", p, replayed, err)
				}
			})
		}
		wg.Wait()
		got, err := s.Order(ctx, o.SN)
		if err != nil || got.Status != order.StatusTradeSuccess {
			t.Fatalf("order %+v %v", got, err)
		}
		// A second trade for the paid order is recorded as a duplicate.
		p, _, err = s.RecordPayment(ctx, app.PaymentNotice{OrderSN: o.SN, TradeNo: "T2", AmountCents: o.TotalCents, NotifyTime: t0}, t0, payOpen)
		if err != nil || p.Status != app.PaymentDuplicate {
			t.Fatalf("second trade: %+v %v", p, err)
		}
		ps, err := s.Payments(ctx, o.SN)
		if err != nil || len(ps) != 2 {
			t.Fatalf("payments %+v %v", ps, err)
		}
		steps, err := s.Timeline(ctx, o.SN)
		if err != nil {
			t.Fatal(err)
		}
		var paid, recorded int
		for _, st := range steps {
			switch st.Step {
			case app.StepPaid:
				paid++
			case app.StepPaymentRecorded:
				recorded++
			}
		}
		if paid != 1 || recorded != 2 {
			t.Errorf("timeline: %d paid, %d payment_recorded; want 1, 2: %+v", paid, recorded, steps)
		}
	})
}

func TestRecordPayment_refusedByDecide_orUnknownOrder_writesNothing(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s, ctx := newStore(t, db), context.Background()
		o := newOrder(t, 7)
		if err := s.CommitOrder(ctx, o, app.CommitOptions{}); err != nil {
			t.Fatal(err)
		}
		refuse := errors.New("refused")
		_, _, err := s.RecordPayment(ctx, app.PaymentNotice{OrderSN: o.SN, TradeNo: "T1", NotifyTime: t0}, t0,
			func(o *order.Order) (app.PaymentStatus, error) { _ = o.Pay(t0); return "", refuse })
		if !errors.Is(err, refuse) {
			t.Fatalf("decide's error: %v", err)
		}
		other := newOrder(t, 7)
		if _, _, err := s.RecordPayment(ctx, app.PaymentNotice{OrderSN: other.SN, TradeNo: "T9", NotifyTime: t0}, t0, payOpen); !errors.Is(err, order.ErrNotFound) {
			t.Fatalf("unknown order: %v", err)
		}
		if ps, _ := s.Payments(ctx, o.SN); len(ps) != 0 {
			t.Errorf("payments written: %+v", ps)
		}
		if got, _ := s.Order(ctx, o.SN); got.Status != order.StatusWaitBuyerPay {
			t.Errorf("status %s", got.Status)
		}
		if n, err := s.UnpaidOrders(ctx, 7); err != nil || n != 1 {
			t.Errorf("unpaid %d %v", n, err)
		}
	})
}
