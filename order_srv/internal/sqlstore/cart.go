package sqlstore

import (
	"context"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

var _ app.CartStore = (*Store)(nil)

// PutCartItem implements app.CartStore.
func (s *Store) PutCartItem(ctx context.Context, item order.CartItem, now time.Time) error {
	now = now.UTC()
	upsert := `INSERT INTO cart_items (user_id, goods_id, num, checked, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
		 ON DUPLICATE KEY UPDATE num = VALUES(num), checked = VALUES(checked), updated_at = VALUES(updated_at)`
	if s.sql.Dialect == sqldb.SQLite {
		upsert = `INSERT INTO cart_items (user_id, goods_id, num, checked, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (user_id, goods_id) DO UPDATE SET num = excluded.num, checked = excluded.checked, updated_at = excluded.updated_at`
	}
	return s.db.WithContext(ctx).Exec(upsert, item.UserID, item.GoodsID, item.Num, item.Checked, now, now).Error
}

// CartItems implements app.CartStore.
func (s *Store) CartItems(ctx context.Context, userID int64) ([]order.CartItem, error) {
	var rows []cartItemRow
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("goods_id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]order.CartItem, len(rows))
	for i, r := range rows {
		out[i] = order.CartItem{UserID: r.UserID, GoodsID: r.GoodsID, Num: r.Num, Checked: r.Checked}
	}
	return out, nil
}

// DeleteCartItem implements app.CartStore.
func (s *Store) DeleteCartItem(ctx context.Context, userID, goodsID int64) error {
	return s.db.WithContext(ctx).Where("user_id = ? AND goods_id = ?", userID, goodsID).Delete(&cartItemRow{}).Error
}
