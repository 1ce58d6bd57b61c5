package sqlstore

import (
	"context"
	"time"

	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

var _ inventory.SellLister = (*Store)(nil)

// DeductedSells implements inventory.SellLister. It walks the primary key from cursor and filters
// on status and created_at (no secondary index: the reconciler asks for a bounded time window
// once a minute; an index on (status, created_at) is the next step if the table grows large).
func (s *Store) DeductedSells(ctx context.Context, after, before time.Time, cursor int64, limit int) ([]inventory.DeductedSell, int64, error) {
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
