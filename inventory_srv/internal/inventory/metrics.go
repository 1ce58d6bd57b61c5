package inventory

import "errors"

// SellResultLabel labels the outcome of a Sell for metrics. The set is closed.
type SellResultLabel string

// The sell results.
const (
	SellSold              SellResultLabel = "sold"               // deducted now
	SellReplayed          SellResultLabel = "replayed"           // a repeat of a recorded sell: nothing deducted
	SellInsufficientStock SellResultLabel = "insufficient_stock" // nothing deducted
	SellGoodsNotFound     SellResultLabel = "goods_not_found"
	SellAlreadyReturned   SellResultLabel = "already_returned" // fenced by an earlier return
	SellConflict          SellResultLabel = "conflict"         // sold before with other items
	SellInvalid           SellResultLabel = "invalid"
	SellError             SellResultLabel = "error" // the database failed: outcome unknown to the caller
)

// SellResultLabels lists every SellResultLabel.
var SellResultLabels = []SellResultLabel{
	SellSold, SellReplayed, SellInsufficientStock, SellGoodsNotFound, SellAlreadyReturned, SellConflict, SellInvalid, SellError,
}

// Metrics counts the stock movements of the saga. Implementations are safe for concurrent use
// and never fail; NopMetrics is the default.
type Metrics interface {
	// StockSold counts one Sell by result.
	StockSold(result SellResultLabel)
	// StockReturned counts one successful Reback by outcome (Returned = applied, AlreadyReturned
	// = a duplicate ignored, NotSold = an unknown order fenced).
	StockReturned(outcome RebackOutcome)
}

// NopMetrics counts nothing.
type NopMetrics struct{}

func (NopMetrics) StockSold(SellResultLabel)   {}
func (NopMetrics) StockReturned(RebackOutcome) {}

// Option tunes a Service.
type Option func(*Service)

// WithMetrics makes the Service count its sells and returns on m.
func WithMetrics(m Metrics) Option { return func(s *Service) { s.metrics = m } }

// sellLabel classifies the outcome of a Sell.
func sellLabel(res SellResult, err error) SellResultLabel {
	switch {
	case err == nil && res.Replayed:
		return SellReplayed
	case err == nil:
		return SellSold
	case errors.Is(err, ErrInvalidInput):
		return SellInvalid
	case errors.Is(err, ErrInsufficientStock):
		return SellInsufficientStock
	case errors.Is(err, ErrGoodsNotFound):
		return SellGoodsNotFound
	case errors.Is(err, ErrOrderAlreadyReturned):
		return SellAlreadyReturned
	case errors.Is(err, ErrOrderConflict):
		return SellConflict
	}
	return SellError
}
