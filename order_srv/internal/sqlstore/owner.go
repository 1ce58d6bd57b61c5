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

var _ app.OwnerStore = (*Store)(nil)

type sagaOwnerRow struct {
	OrderSN  string `gorm:"primaryKey"`
	Owner    string
	Deadline time.Time
}

func (sagaOwnerRow) TableName() string { return "saga_owners" }

// ownerColumns are the columns insertOwnerRows writes.
var ownerColumns = []string{"order_sn", "owner", "deadline"}

// insertOwnerRows inserts rows into saga_owners in one statement.
func insertOwnerRows(db *gorm.DB, rows []sagaOwnerRow) error {
	values := make([][]any, len(rows))
	for i, r := range rows {
		values[i] = []any{r.OrderSN, r.Owner, r.Deadline}
	}
	return insertRows(db, "saga_owners", ownerColumns, values)
}

// ClaimOwner implements app.OwnerStore: one autocommitted INSERT, so the row is visible to
// every other instance before the local transaction sells anything. (Not grouped with
// concurrent claims as the timeline steps are: a claim is on every saga's path before the sell,
// and waiting for the write before it cost more latency than the statement saved; see
// bench/README.md.)
func (s *Store) ClaimOwner(ctx context.Context, sn order.SN, owner string, deadline time.Time) error {
	err := insertOwnerRows(s.db.WithContext(ctx), []sagaOwnerRow{{OrderSN: string(sn), Owner: owner, Deadline: deadline.UTC()}})
	if sqldb.IsDuplicateKey(err) {
		return fmt.Errorf("saga owner of %s: %w", sn, app.ErrOwnerTaken)
	}
	if err != nil {
		return fmt.Errorf("claim saga owner of %s: %w", sn, err)
	}
	return nil
}

// Owner implements app.OwnerStore.
func (s *Store) Owner(ctx context.Context, sn order.SN) (string, time.Time, bool, error) {
	var row sagaOwnerRow
	err := s.db.WithContext(ctx).Where("order_sn = ?", string(sn)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("read saga owner of %s: %w", sn, err)
	}
	return row.Owner, row.Deadline.UTC(), true, nil
}

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
