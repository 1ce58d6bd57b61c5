// Package order is order_srv's domain: orders, their closed set of statuses with an explicit
// transition table, order numbers, cart items and the validation of everything a client sends.
//
// It owns the invariants (money in integer cents, totals computed from the prices inventory
// quoted, a closed order can never be paid) and reports broken rules with the sentinel errors
// below. It imports nothing but the standard library: no gin, gorm or RocketMQ.
package order
