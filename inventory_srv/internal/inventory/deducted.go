package inventory

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DeductedSellsQuery asks for a page of the sells still deducted (StatusDeducted) whose record
// was created in [CreatedAfter, CreatedBefore) — what order_srv's reconciler compares with its
// orders. Pages follow the records' insertion order: pass the NextCursor of a page as Cursor to
// read the next one (0 starts at the beginning).
type DeductedSellsQuery struct {
	CreatedAfter  time.Time // zero: no lower bound
	CreatedBefore time.Time // required
	Cursor        int64
	Limit         int // 1..MaxDeductedSellsLimit
}

// MaxDeductedSellsLimit bounds one page of DeductedSells.
const MaxDeductedSellsLimit = 1000

// DeductedSell is one entry of a DeductedSellsPage.
type DeductedSell struct {
	OrderSN   string
	CreatedAt time.Time
}

// DeductedSellsPage is the answer to a DeductedSellsQuery. NextCursor is 0 on the last page.
type DeductedSellsPage struct {
	Sells      []DeductedSell
	NextCursor int64
}

// SellLister is the store's side of DeductedSells; the SQL store implements it.
type SellLister interface {
	// DeductedSells returns up to limit records with status deducted, created in [after, before)
	// (after zero: unbounded) and with an id above cursor, by id, and the id of the last one.
	DeductedSells(ctx context.Context, after, before time.Time, cursor int64, limit int) ([]DeductedSell, int64, error)
}

// DeductedSells lists a page of the sells still deducted. Errors: ErrInvalidInput.
func (s *Service) DeductedSells(ctx context.Context, q DeductedSellsQuery) (DeductedSellsPage, error) {
	var errs []error
	if q.CreatedBefore.IsZero() {
		errs = append(errs, errors.New("created_before is required"))
	}
	if !q.CreatedAfter.IsZero() && !q.CreatedAfter.Before(q.CreatedBefore) {
		errs = append(errs, errors.New("created_after must be before created_before"))
	}
	if q.Cursor < 0 {
		errs = append(errs, errors.New("cursor must not be negative"))
	}
	if q.Limit < 1 || q.Limit > MaxDeductedSellsLimit {
		errs = append(errs, fmt.Errorf("limit must be 1..%d", MaxDeductedSellsLimit))
	}
	if err := errors.Join(errs...); err != nil {
		return DeductedSellsPage{}, fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	lister, ok := s.store.(SellLister)
	if !ok {
		return DeductedSellsPage{}, errors.New("inventory: the store cannot list sells")
	}
	sells, last, err := lister.DeductedSells(ctx, q.CreatedAfter.UTC(), q.CreatedBefore.UTC(), q.Cursor, q.Limit)
	if err != nil {
		return DeductedSellsPage{}, fmt.Errorf("list deducted sells: %w", err)
	}
	page := DeductedSellsPage{Sells: sells}
	if len(sells) == q.Limit {
		page.NextCursor = last
	}
	return page, nil
}
