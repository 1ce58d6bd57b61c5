package sqlstore

import (
	"context"
	"time"

	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

var _ inventory.SellLister = (*Store)(nil)

// DeductedSells implements inventory.SellLister. It walks the primary key from cursor and filters
// on status and created_at. With after set it starts no earlier than the first sell created at
// or after it (one read of idx_stock_sell_details_created_at, migration 00003): the sells of
// paid orders stay deducted for ever, and the walk would otherwise read all of them on every
// sweep. The ids of sells follow their created_at up to concurrent inserts a few milliseconds
// apart, so the start may skip such a sell at the far edge of the window — one the reconciler
// has then been shown on every sweep of the whole lookback already.
func (s *Store) DeductedSells(ctx context.Context, after, before time.Time, cursor int64, limit int) ([]inventory.DeductedSell, int64, error) {
	if !after.IsZero() {
		var first []int64
		if err := s.db.WithContext(ctx).Model(&sellDetailRow{}).Where("created_at >= ?", after).
			Order("created_at, id").Limit(1).Pluck("id", &first).Error; err != nil {
			return nil, 0, err
		}
		if len(first) == 0 {
			return nil, 0, nil // nothing created since after
		}
		cursor = max(cursor, first[0]-1)
	}
	q := s.db.WithContext(ctx).Model(&sellDetailRow{}).Select("id", "order_sn", "created_at").
		Where("id > ? AND status = ? AND created_at < ?", cursor, int8(inventory.StatusDeducted), before)
	if !after.IsZero() {
		q = q.Where("created_at >= ?", after)
	}
	var rows []sellDetailRow
	if err := q.Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, 0, err
	}
	out := make([]inventory.DeductedSell, len(rows))
	var last int64
	for i, r := range rows {
		out[i] = inventory.DeductedSell{OrderSN: r.OrderSN, CreatedAt: r.CreatedAt.UTC()}
		last = r.ID
	}
	return out, last, nil
}
