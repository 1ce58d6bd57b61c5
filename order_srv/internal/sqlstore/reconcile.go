package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

var _ app.ReconcileStore = (*Store)(nil)

// UnpaidCreatedBefore implements app.ReconcileStore. It walks idx_orders_status_id (migration
// 00005) from cursor: the unpaid orders only, in id order.
func (s *Store) UnpaidCreatedBefore(ctx context.Context, before time.Time, cursor int64, limit int) ([]order.SN, int64, error) {
	var rows []orderRow
	err := s.db.WithContext(ctx).Select("id", "order_sn").
		Where("id > ? AND status = ? AND created_at < ?", cursor, string(order.StatusWaitBuyerPay), before.UTC()).
		Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, 0, fmt.Errorf("list unpaid orders: %w", err)
	}
	out := make([]order.SN, len(rows))
	var last int64
	for i, r := range rows {
		out[i] = order.SN(r.OrderSN)
		last = int64(r.ID)
	}
	return out, last, nil
}

// OrderStatuses implements app.ReconcileStore.
func (s *Store) OrderStatuses(ctx context.Context, sns []order.SN) (map[order.SN]order.Status, error) {
	out := make(map[order.SN]order.Status, len(sns))
	if len(sns) == 0 {
		return out, nil
	}
	keys := make([]string, len(sns))
	for i, sn := range sns {
		keys[i] = string(sn)
	}
	var rows []orderRow
	if err := s.db.WithContext(ctx).Select("order_sn", "status").Where("order_sn IN ?", keys).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read order statuses: %w", err)
	}
	for _, r := range rows {
		out[order.SN(r.OrderSN)] = order.Status(r.Status)
	}
	return out, nil
}
