package migrations

import (
	"embed"
	"io/fs"
)

//go:embed inventory/*.sql
var inventoryFiles embed.FS

// Inventory holds the migrations of the inventory_srv database (tables goods and
// stock_sell_details), rooted at the migrations/inventory folder.
var Inventory = mustSub(inventoryFiles, "inventory")

// mustSub roots fsys at dir. fs.Sub only fails for an invalid path, which the embed directive
// above rules out at compile time.
func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic("migrations: " + err.Error())
	}
	return sub
}
