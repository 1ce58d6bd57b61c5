package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

var _ app.OwnerStore = (*Store)(nil)

// sagaOwnerRow is a row of saga_owners. Nothing writes the table any more — the saga owner
// travels with the half message (docs/adr/0005-saga-owner-in-half-message.md) — but instances
// of an older version still do during a rolling upgrade, so it stays and ForgetOwners clears it.
type sagaOwnerRow struct {
	OrderSN  string `gorm:"primaryKey"`
	Owner    string
	Deadline time.Time
}

func (sagaOwnerRow) TableName() string { return "saga_owners" }

// ForgetOwners implements app.OwnerStore.
func (s *Store) ForgetOwners(ctx context.Context, deadlineBefore time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("deadline < ?", deadlineBefore.UTC()).Delete(&sagaOwnerRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("forget saga owners: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// Settled implements app.OwnerStore.
func (s *Store) Settled(ctx context.Context, sn order.SN) (app.Resolution, bool, error) {
	var ops []string
	if err := s.db.WithContext(ctx).Raw(`SELECT op FROM tx_barriers WHERE order_sn = ?`, string(sn)).Scan(&ops).Error; err != nil {
		return 0, false, fmt.Errorf("read barrier of %s: %w", sn, err)
	}
	if len(ops) == 0 {
		return 0, false, nil
	}
	switch ops[0] {
	case barrierLocal:
		return app.ResolvedCommitted, true, nil
	case barrierCheck:
		return app.ResolvedAborted, true, nil
	}
	return 0, false, fmt.Errorf("barrier of %s holds %q", sn, ops[0])
}
