package inventory

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Conditions callers branch on. Test with errors.Is; the struct types below wrap them when the
// caller needs data.
var (
	// ErrInvalidInput: the request breaks an invariant (wrapped by *ValidationError).
	ErrInvalidInput = errors.New("inventory: invalid input")
	// ErrGoodsNotFound: no goods with that id (wrapped by *GoodsNotFoundError in a sell).
	ErrGoodsNotFound = errors.New("inventory: goods not found")
	// ErrInsufficientStock: a sell asked for more than is left (wrapped by
	// *InsufficientStockError).
	ErrInsufficientStock = errors.New("inventory: insufficient stock")
	// ErrOrderAlreadyReturned: a sell for an order whose stock was returned (or fenced by a
	// reback before any sell); it must not deduct again.
	ErrOrderAlreadyReturned = errors.New("inventory: order already returned")
	// ErrOrderConflict: a sell for an order that was sold before with different items.
	ErrOrderConflict = errors.New("inventory: order already sold with different items")
	// ErrSellDetailNotFound: no sell was recorded for the order.
	ErrSellDetailNotFound = errors.New("inventory: sell detail not found")
	// ErrSellDetailExists is returned by StockTx.InsertSellDetail when the order already has a
	// record. Service handles it; it never leaves the package's use cases.
	ErrSellDetailExists = errors.New("inventory: sell detail already exists")
)

// ValidationError lists every problem found in one input. It wraps ErrInvalidInput.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return ErrInvalidInput.Error() + ": " + strings.Join(e.Problems, "; ")
}

func (e *ValidationError) Unwrap() error { return ErrInvalidInput }

func (e *ValidationError) add(problem string) {
	if !slices.Contains(e.Problems, problem) {
		e.Problems = append(e.Problems, problem)
	}
}

func (e *ValidationError) check(ok bool, problem string) {
	if !ok {
		e.add(problem)
	}
}

// merge adds the problems of err, a *ValidationError or nil.
func (e *ValidationError) merge(err error) {
	var other *ValidationError
	if errors.As(err, &other) {
		for _, p := range other.Problems {
			e.add(p)
		}
	}
}

// err returns e if it holds a problem, else nil (a nil error, not a nil *ValidationError).
func (e *ValidationError) err() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// GoodsNotFoundError names the goods of a sell that do not exist. It wraps ErrGoodsNotFound.
type GoodsNotFoundError struct {
	IDs []int64
}

func (e *GoodsNotFoundError) Error() string {
	return fmt.Sprintf("%v: %s", ErrGoodsNotFound, joinIDs(e.IDs))
}

func (e *GoodsNotFoundError) Unwrap() error { return ErrGoodsNotFound }

// Shortage is one item a sell could not deduct. Available is the stock seen when the sell
// failed; it may have changed since.
type Shortage struct {
	GoodsID   int64
	Requested int64
	Available int64
}

// InsufficientStockError names every item of a sell that is short. It wraps
// ErrInsufficientStock.
type InsufficientStockError struct {
	Items []Shortage
}

func (e *InsufficientStockError) Error() string {
	parts := make([]string, len(e.Items))
	for i, s := range e.Items {
		parts[i] = fmt.Sprintf("goods %d (requested %d, available %d)", s.GoodsID, s.Requested, s.Available)
	}
	return fmt.Sprintf("%v: %s", ErrInsufficientStock, strings.Join(parts, ", "))
}

func (e *InsufficientStockError) Unwrap() error { return ErrInsufficientStock }

func joinIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return "goods " + strings.Join(parts, ", ")
}
