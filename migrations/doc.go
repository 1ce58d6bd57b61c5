// Package migrations embeds the versioned SQL migrations of every shopsaga database, one
// sub-folder per service database and dialect, each exported as an fs.FS rooted at that folder:
//
//	migrations.Inventory        // migrations/inventory/*.sql, the inventory_srv database on MySQL/MariaDB
//	migrations.InventorySQLite  // migrations/inventory_sqlite/*.sql, the same on SQLite
//	migrations.Order            // migrations/order/*.sql, the order_srv database on MySQL/MariaDB
//	migrations.OrderSQLite      // migrations/order_sqlite/*.sql, the same on SQLite
//
// The files are goose (github.com/pressly/goose/v3) SQL migrations named NNNNN_what.sql, each
// with a "-- +goose Up" and a "-- +goose Down" section. Services apply them at start-up with a
// goose.Provider (dialect MySQL or SQLite3, see internal/sqldb); tests apply them through
// internal/mysqltest and internal/sqlitetest. A migration that has been released is never
// edited: add a new one.
//
// The two variants of a database are kept in step: every MySQL migration has an SQLite twin with
// the same file name, and after Up both create the same tables with the same columns (checked by
// this package's tests, on SQLite always and on MariaDB when one is available). Only what SQLite
// lacks differs: types, AUTO_INCREMENT, collations, and ON UPDATE CURRENT_TIMESTAMP (a trigger).
//
// This package holds data only and imports nothing of the project.
package migrations
