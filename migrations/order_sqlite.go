package migrations

import "embed"

//go:embed order_sqlite/*.sql
var orderSQLiteFiles embed.FS

// OrderSQLite holds the SQLite twins of Order: the same versions and names, creating the same
// tables and columns. Rooted at the migrations/order_sqlite folder.
var OrderSQLite = mustSub(orderSQLiteFiles, "order_sqlite")
