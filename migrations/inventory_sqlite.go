package migrations

import "embed"

//go:embed inventory_sqlite/*.sql
var inventorySQLiteFiles embed.FS

// InventorySQLite holds the SQLite twins of Inventory: the same versions and names, creating the
// same tables and columns. Rooted at the migrations/inventory_sqlite folder.
var InventorySQLite = mustSub(inventorySQLiteFiles, "inventory_sqlite")
