package migrations

import "embed"

//go:embed order/*.sql
var orderFiles embed.FS

// Order holds the migrations of the order_srv database (tables orders, order_items, cart_items,
// tx_barriers, idempotency_keys, order_saga_steps, payments, and saga_owners — no longer written
// since ADR 5, kept for older instances during a rolling upgrade), rooted at the
// migrations/order folder.
var Order = mustSub(orderFiles, "order")
