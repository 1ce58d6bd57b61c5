// Package migrations embeds the versioned SQL migrations of every shopsaga database, one
// sub-folder per service database, each exported as an fs.FS rooted at that folder:
//
//	migrations.Inventory  // migrations/inventory/*.sql, the inventory_srv database
//	migrations.Order      // migrations/order/*.sql, the order_srv database
//
// The files are goose (github.com/pressly/goose/v3) SQL migrations named NNNNN_what.sql, each
// with a "-- +goose Up" and a "-- +goose Down" section. Services apply them at start-up with a
// goose.Provider (dialect MySQL); tests apply them through internal/mysqltest. A migration that
// has been released is never edited: add a new one.
//
// This package holds data only and imports nothing of the project.
package migrations
