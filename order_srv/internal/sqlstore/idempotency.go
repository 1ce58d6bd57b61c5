package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

var _ app.IdempotencyStore = (*Store)(nil)

// ClaimKey implements app.IdempotencyStore with a plain insert; a duplicate key returns the row.
func (s *Store) ClaimKey(ctx context.Context, k app.IdempotencyKey, requestHash string, sn order.SN, now time.Time) (app.IdempotencyRecord, bool, error) {
	now = now.UTC()
	db := s.db.WithContext(ctx)
	err := db.Exec(`INSERT INTO idempotency_keys (user_id, idem_key, request_hash, order_sn, outcome, created_at, updated_at)
		VALUES (?, ?, ?, ?, '', ?, ?)`, k.UserID, k.Key, requestHash, string(sn), now, now).Error
	if err == nil {
		return app.IdempotencyRecord{RequestHash: requestHash, OrderSN: sn, CreatedAt: now}, true, nil
	}
	if !sqldb.IsDuplicateKey(err) {
		return app.IdempotencyRecord{}, false, fmt.Errorf("insert idempotency key: %w", err)
	}
	var row idempotencyRow
	if err := db.Where("user_id = ? AND idem_key = ?", k.UserID, k.Key).Take(&row).Error; err != nil {
		return app.IdempotencyRecord{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	return app.IdempotencyRecord{
		RequestHash: row.RequestHash,
		OrderSN:     order.SN(row.OrderSN),
		Outcome:     row.Outcome,
		CreatedAt:   row.CreatedAt,
	}, false, nil
}

// FinishKey implements app.IdempotencyStore.
func (s *Store) FinishKey(ctx context.Context, k app.IdempotencyKey, sn order.SN, outcome string, now time.Time) error {
	return s.db.WithContext(ctx).Model(&idempotencyRow{}).
		Where("user_id = ? AND idem_key = ? AND order_sn = ? AND outcome = ''", k.UserID, k.Key, string(sn)).
		Updates(map[string]any{"outcome": outcome, "updated_at": now.UTC()}).Error
}

// ReleaseKey implements app.IdempotencyStore.
func (s *Store) ReleaseKey(ctx context.Context, k app.IdempotencyKey, sn order.SN) error {
	return s.db.WithContext(ctx).
		Where("user_id = ? AND idem_key = ? AND order_sn = ? AND outcome = ''", k.UserID, k.Key, string(sn)).
		Delete(&idempotencyRow{}).Error
}

// TakeOverKey implements app.IdempotencyStore.
func (s *Store) TakeOverKey(ctx context.Context, k app.IdempotencyKey, oldSN, newSN order.SN, now time.Time) (bool, error) {
	now = now.UTC()
	res := s.db.WithContext(ctx).Model(&idempotencyRow{}).
		Where("user_id = ? AND idem_key = ? AND order_sn = ? AND outcome = ''", k.UserID, k.Key, string(oldSN)).
		Updates(map[string]any{"order_sn": string(newSN), "created_at": now, "updated_at": now})
	return res.RowsAffected == 1, res.Error
}
