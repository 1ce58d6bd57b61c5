package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

var _ app.OrderStore = (*Store)(nil)

// Order implements app.OrderStore.
func (s *Store) Order(ctx context.Context, sn order.SN) (order.Order, error) {
	return loadOrder(s.db.WithContext(ctx), sn, false)
}

// OrdersOfUser implements app.OrderStore. Newest first means highest id first (ids are assigned
// at commit order).
func (s *Store) OrdersOfUser(ctx context.Context, userID int64, page app.Page) ([]order.Order, int64, error) {
	db := s.db.WithContext(ctx)
	var total int64
	if err := db.Model(&orderRow{}).Where("user_id = ?", userID).Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []orderRow
	err := db.Where("user_id = ?", userID).Order("id DESC").
		Offset((page.Number - 1) * page.Size).Limit(page.Size).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, total, err
	}
	sns := make([]string, len(rows))
	for i, r := range rows {
		sns[i] = r.OrderSN
	}
	var items []orderItemRow
	if err := db.Where("order_sn IN ?", sns).Order("id").Find(&items).Error; err != nil {
		return nil, 0, err
	}
	byOrder := make(map[string][]orderItemRow, len(rows))
	for _, it := range items {
		byOrder[it.OrderSN] = append(byOrder[it.OrderSN], it)
	}
	out := make([]order.Order, len(rows))
	for i, r := range rows {
		if out[i], err = r.domain(byOrder[r.OrderSN]); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

// UpdateOrder implements app.OrderStore: SELECT … FOR UPDATE, change, then a compare-and-set
// on the old status, in one transaction. (SQLite has no FOR UPDATE and gorm leaves it out there:
// the transaction already holds the database's write lock from its BEGIN.)
func (s *Store) UpdateOrder(ctx context.Context, sn order.SN, change func(*order.Order) error) (order.Order, error) {
	var out order.Order
	err := s.inTx(ctx, sn, func(tx *gorm.DB) error {
		o, err := loadOrder(tx, sn, true)
		if err != nil {
			return err
		}
		old := o.Status
		if err := change(&o); err != nil {
			return err
		}
		if o.Status != old {
			res := tx.Model(&orderRow{}).
				Where("order_sn = ? AND status = ?", string(sn), string(old)).
				Updates(map[string]any{
					"status":     string(o.Status),
					"updated_at": o.UpdatedAt,
					"paid_at":    o.PaidAt,
					"closed_at":  o.ClosedAt,
				})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return fmt.Errorf("order %s: status changed under a row lock (%s → %s)", sn, old, o.Status)
			}
			if step, ok := app.StepOfStatus(o.Status); ok {
				detail := fmt.Sprintf("%s → %s", old, o.Status)
				if err := insertSteps(tx, sn, []app.SagaStep{app.NewSagaStep(step, detail, o.UpdatedAt)}); err != nil {
					return err
				}
			}
		}
		out = o
		return nil
	})
	return out, err
}

func loadOrder(db *gorm.DB, sn order.SN, forUpdate bool) (order.Order, error) {
	q := db
	if forUpdate {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var row orderRow
	err := q.Where("order_sn = ?", string(sn)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return order.Order{}, fmt.Errorf("order %s: %w", sn, order.ErrNotFound)
	}
	if err != nil {
		return order.Order{}, err
	}
	var items []orderItemRow
	if err := db.Where("order_sn = ?", string(sn)).Order("id").Find(&items).Error; err != nil {
		return order.Order{}, err
	}
	return row.domain(items)
}
