package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

var _ inventory.SellLister = (*Store)(nil)

// startSlack bounds how far out of order the ids and created_at of sells may be for DeductedSells
// to start its walk late: both are set by the database in the same INSERT, so they disagree by the
// milliseconds between a statement's start and its auto-increment (concurrent inserts), or by a
// step back of the database's clock.
const startSlack = 10 * time.Minute

// DeductedSells implements inventory.SellLister. It walks the primary key from cursor and filters
// on status and created_at. With after set, the walk starts at the smallest id among the sells
// created within 2×startSlack of the earliest one created at or after after − startSlack (two
// bounded reads of idx_stock_sell_details_created_at, migration 00003), not at id 0: the sells of
// paid orders stay deducted for ever, and the walk would otherwise read all of them on every
// sweep. A sell in the window is skipped only if its created_at is later than that of sells
// inserted after it by more than startSlack — a database clock stepped back that far.
func (s *Store) DeductedSells(ctx context.Context, after, before time.Time, cursor int64, limit int) ([]inventory.DeductedSell, int64, error) {
	if !after.IsZero() {
		var first []time.Time
		if err := s.db.WithContext(ctx).Model(&sellDetailRow{}).Where("created_at >= ?", after.Add(-startSlack)).
			Order("created_at").Limit(1).Pluck("created_at", &first).Error; err != nil {
			return nil, 0, err
		}
		if len(first) == 0 {
			return nil, 0, nil // nothing created since after
		}
		var start sql.NullInt64
		if err := s.db.WithContext(ctx).Model(&sellDetailRow{}).Select("MIN(id)").
			Where("created_at >= ? AND created_at < ?", first[0], first[0].Add(2*startSlack)).Scan(&start).Error; err != nil {
			return nil, 0, err
		}
		if start.Valid {
			cursor = max(cursor, start.Int64-1)
		}
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
