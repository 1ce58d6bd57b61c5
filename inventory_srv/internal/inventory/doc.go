// Package inventory is the stock side of the shopsaga saga: goods with a price and a stock
// level, the sell use case that deducts the stock of an order, and the reback use case that
// returns it.
//
// Every order deduction is recorded as a SellDetail keyed by the order number (order_sn), in the
// same transaction as the deduction. That record makes both use cases idempotent and ordered:
//
//   - Sell deducts all items or none. A sell whose order_sn is already recorded as deducted
//     answers the recorded result again (with the recorded prices) and deducts nothing; with
//     different items it fails with ErrOrderConflict.
//   - Reback moves the record from deducted to returned with a compare-and-set and only then adds
//     the recorded items back, in one transaction, so it returns stock at most once however often
//     it runs. The items come from the record, never from the caller.
//   - Ordering rule: once a reback has run for an order_sn, no sell for that order_sn ever
//     deducts (ErrOrderAlreadyReturned). A reback for an order_sn that was never sold records the
//     order as returned with no items, which fences a sell that arrives late (a retried or delayed
//     request from the order service).
//
// Stock is deducted by a conditional update (stock >= num, checked by rows affected), so no
// interleaving of concurrent sells can oversell; the package needs no application-level locks.
//
// Concurrent one-item sells are coalesced (coalesce.go), a group commit: the sells that arrive
// while a transaction of sells is in flight become the next transaction, whatever their goods,
// with one multi-row insert of their records, one conditional UPDATE of every goods' sum and
// one commit, so the statements, the commit and, on a hot goods, the row lock are paid once per
// batch. Each caller gets its own order's answer, decided by its goods: a goods whose sum does
// not fit sells to its orders that fit under the row lock, the other goods are not affected;
// orders that were recorded before, of unknown goods, or of a batch that failed, are sold one by
// one exactly as without coalescing.
//
// The records and the deduction go to the store together (StockTx.RecordAndDeduct: one round
// trip on MySQL), and a one-item sell or a batch whose goods' names and prices are in the
// service's cache (goodscache.go) does not read the goods. Every deduction of a sell, on every
// path (lone or batched, cached or read, one item or many, after a retried order, goods by
// goods), is either guarded by the name and price its records carry (the UPDATE changes the row
// only if it still has them, and locks it) or done under the row lock after checking them
// (StockTx.LockStock, for a goods whose sum did not fit); a sell whose guard or check fails rolls
// back and runs again reading the goods. So a record always carries the name and price its goods
// row had when it was deducted. The cache is never trusted for stock.
//
// The package owns the domain types, their invariants and sentinel errors, and the use cases
// (Service). Storage is behind the Store and StockTx interfaces (implemented by the sqlstore
// package, on MySQL or SQLite); the package must not import gorm, gin, RocketMQ or any other
// adapter.
package inventory
