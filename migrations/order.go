package migrations

import "embed"

//go:embed order/*.sql
var orderFiles embed.FS

// Order holds the migrations of the order_srv database (tables orders, order_items, cart_items,
// tx_barriers and idempotency_keys), rooted at the migrations/order folder.
var Order = mustSub(orderFiles, "order")
