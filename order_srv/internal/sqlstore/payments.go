package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

var (
	_ app.PaymentStore  = (*Store)(nil)
	_ app.UnpaidCounter = (*Store)(nil)
)

// paymentRow is one row of payments (migrations/order/00003).
type paymentRow struct {
	TradeNo     string `gorm:"primaryKey"`
	OrderSN     string
	AmountCents int64
	Status      string
	NotifyTime  time.Time
	CreatedAt   time.Time
}

func (paymentRow) TableName() string { return "payments" }

func (r paymentRow) domain() app.Payment {
	return app.Payment{TradeNo: r.TradeNo, OrderSN: order.SN(r.OrderSN), AmountCents: r.AmountCents,
		Status: app.PaymentStatus(r.Status), NotifyTime: r.NotifyTime.UTC(), CreatedAt: r.CreatedAt.UTC()}
}

// errPaymentRecorded: another transaction inserted the same trade_no first.
var errPaymentRecorded = errors.New("sqlstore: payment recorded concurrently")

// RecordPayment implements app.PaymentStore: a read of the trade_no, then SELECT … FOR UPDATE of
// the order, decide, a plain INSERT of the payment (a duplicate key means a concurrent notify of
// the same trade_no won: its row is returned) and the status compare-and-set, in one transaction.
func (s *Store) RecordPayment(ctx context.Context, n app.PaymentNotice, now time.Time,
	decide func(*order.Order) (app.PaymentStatus, error)) (app.Payment, bool, error) {
	var out app.Payment
	var replayed bool
	err := s.inTx(ctx, n.OrderSN, func(tx *gorm.DB) error {
		replayed = false
		var existing paymentRow
		err := tx.Where("trade_no = ?", n.TradeNo).Take(&existing).Error
		if err == nil {
			out, replayed = existing.domain(), true
			return nil
		}
		if !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		o, err := loadOrder(tx, n.OrderSN, true)
		if err != nil {
			return err
		}
		old := o.Status
		status, err := decide(&o)
		if err != nil {
			return err
		}
		row := paymentRow{TradeNo: n.TradeNo, OrderSN: string(n.OrderSN), AmountCents: n.AmountCents,
			Status: string(status), NotifyTime: n.NotifyTime.UTC(), CreatedAt: now.UTC()}
		if err := tx.Create(&row).Error; err != nil {
			if sqldb.IsDuplicateKey(err) {
				return errPaymentRecorded
			}
			return fmt.Errorf("record payment %s of %s: %w", n.TradeNo, n.OrderSN, err)
		}
		var steps []app.SagaStep
		if o.Status != old {
			res := tx.Model(&orderRow{}).Where("order_sn = ? AND status = ?", string(o.SN), string(old)).
				Updates(map[string]any{"status": string(o.Status), "updated_at": o.UpdatedAt, "paid_at": o.PaidAt, "closed_at": o.ClosedAt})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return fmt.Errorf("order %s: status changed under a row lock (%s → %s)", o.SN, old, o.Status)
			}
			if step, ok := app.StepOfStatus(o.Status); ok {
				steps = append(steps, app.NewSagaStep(step, fmt.Sprintf("%s → %s", old, o.Status), now))
			}
		}
		steps = append(steps, app.NewSagaStep(app.StepPaymentRecorded,
			fmt.Sprintf("trade_no %s, %d cents: %s", n.TradeNo, n.AmountCents, status), now))
		if err := insertSteps(tx, o.SN, steps); err != nil {
			return err
		}
		out = row.domain()
		return nil
	})
	if errors.Is(err, errPaymentRecorded) {
		var existing paymentRow
		if err := s.db.WithContext(ctx).Where("trade_no = ?", n.TradeNo).Take(&existing).Error; err != nil {
			return app.Payment{}, false, err
		}
		return existing.domain(), true, nil
	}
	return out, replayed, err
}

// Payments implements app.PaymentStore.
func (s *Store) Payments(ctx context.Context, sn order.SN) ([]app.Payment, error) {
	var rows []paymentRow
	if err := s.db.WithContext(ctx).Where("order_sn = ?", string(sn)).Order("created_at, trade_no").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]app.Payment, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// UnpaidOrders implements app.UnpaidCounter (index idx_orders_user_id_id).
func (s *Store) UnpaidOrders(ctx context.Context, userID int64) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&orderRow{}).
		Where("user_id = ? AND status = ?", userID, string(order.StatusWaitBuyerPay)).Count(&n).Error
	return n, err
}
