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

// GoodsCacheResult labels one use of the goods cache (goodscache.go) for metrics. The set is
// closed.
type GoodsCacheResult string

// The goods cache results.
const (
	GoodsCacheHit   GoodsCacheResult = "hit"   // a sell took every name and price it needed from the cache
	GoodsCacheMiss  GoodsCacheResult = "miss"  // a sell looked in the cache and had to read the goods
	GoodsCacheStale GoodsCacheResult = "stale" // a guard found a goods changed since it was cached or read: the attempt runs again
)

// GoodsCacheResults lists every GoodsCacheResult.
var GoodsCacheResults = []GoodsCacheResult{GoodsCacheHit, GoodsCacheMiss, GoodsCacheStale}

// Metrics counts the stock movements of the saga. Implementations are safe for concurrent use
// and never fail; NopMetrics is the default.
type Metrics interface {
	// StockSold counts one Sell by result.
	StockSold(result SellResultLabel)
	// StockReturned counts one successful Reback by outcome (Returned = applied, AlreadyReturned
	// = a duplicate ignored, NotSold = an unknown order fenced).
	StockReturned(outcome RebackOutcome)
	// GoodsCache counts one lookup of the goods cache by a sell (hit or miss), and one guard
	// failure (stale), which also follows the hit or read it refutes.
	GoodsCache(result GoodsCacheResult)
}

// NopMetrics counts nothing.
type NopMetrics struct{}

func (NopMetrics) StockSold(SellResultLabel)   {}
func (NopMetrics) StockReturned(RebackOutcome) {}
func (NopMetrics) GoodsCache(GoodsCacheResult) {}

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
