package app

// RollbackReason says why a saga ended without an order (its stock, if any, returned). The set
// is closed: only the constants below exist.
type RollbackReason string

// The reasons.
const (
	// RollbackInsufficientStock: inventory had too little stock; nothing was deducted.
	RollbackInsufficientStock RollbackReason = "insufficient_stock"
	// RollbackGoodsNotFound: a goods id was unknown to inventory; nothing was deducted.
	RollbackGoodsNotFound RollbackReason = "goods_not_found"
	// RollbackSellFailed: the sell failed or its outcome is unknown.
	RollbackSellFailed RollbackReason = "sell_failed"
	// RollbackLocalTxFailed: the stock was deducted but the order could not be committed.
	RollbackLocalTxFailed RollbackReason = "local_tx_failed"
	// RollbackCheckBack: a check-back found no order (e.g. the process died mid-saga) and
	// fenced it.
	RollbackCheckBack RollbackReason = "check_back"
)

// RollbackReasons lists every RollbackReason.
var RollbackReasons = []RollbackReason{
	RollbackInsufficientStock, RollbackGoodsNotFound, RollbackSellFailed, RollbackLocalTxFailed, RollbackCheckBack,
}

// Metrics counts the outcomes of the saga. Implementations are safe for concurrent use and
// never fail; NopMetrics is the default.
type Metrics interface {
	// OrderCreated: a local transaction committed an order.
	OrderCreated()
	// OrderRolledBack: a saga ended without an order.
	OrderRolledBack(reason RollbackReason)
	// OrderClosedByTimeout: an unpaid order was closed by its payment timeout.
	OrderClosedByTimeout()
	// OrderPaid: an order was paid (a repeated payment of a paid order is not counted).
	OrderPaid()
	// CheckBack: a check-back was answered with answer.
	CheckBack(answer HalfOutcome)
}

// NopMetrics counts nothing.
type NopMetrics struct{}

func (NopMetrics) OrderCreated()                  {}
func (NopMetrics) OrderRolledBack(RollbackReason) {}
func (NopMetrics) OrderClosedByTimeout()          {}
func (NopMetrics) OrderPaid()                     {}
func (NopMetrics) CheckBack(HalfOutcome)          {}
