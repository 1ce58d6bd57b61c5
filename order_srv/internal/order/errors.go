package order

import "errors"

// Sentinel errors of the domain. Callers branch on them with errors.Is; the messages of wrapped
// errors carry the details.
var (
	// ErrInvalid marks input that breaks a rule (missing field, bad number, unknown status …).
	ErrInvalid = errors.New("order: invalid input")
	// ErrNotFound is returned by repositories when no order has the requested number.
	ErrNotFound = errors.New("order: not found")
	// ErrOrderClosed is returned when paying an order that was closed (not paid in time).
	ErrOrderClosed = errors.New("order: order is closed")
	// ErrOrderPaid is returned when closing an order that was already paid.
	ErrOrderPaid = errors.New("order: order is paid")
	// ErrPriceMismatch is returned when inventory's priced items do not match the ordered lines.
	ErrPriceMismatch = errors.New("order: priced items do not match the ordered lines")
)
