// Package sqlitetest gives each test a fresh SQLite database file with the migrations of its
// choice applied — the SQLite counterpart of internal/mysqltest, needing no server and no Docker:
//
//	func TestSomething(t *testing.T) {
//		path := sqlitetest.New(t, migrations.InventorySQLite) // in t.TempDir(), removed when t ends
//		...
//	}
//
// It is a test helper: it must not be imported by non-test code.
package sqlitetest

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // the "sqlite" database/sql driver (pure Go)
	"github.com/pressly/goose/v3"
)

// New creates an empty SQLite database file in a temporary directory, applies the goose SQL
// migrations of fsys to it (none if fsys is nil) and returns its path. The file is removed when
// t ends.
func New(t testing.TB, fsys fs.FS) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	if fsys == nil {
		return path
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := Migrator(t, path, fsys)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("sqlitetest: apply migrations: %v", err)
	}
	return path
}

// Migrator returns a goose provider of the migrations in fsys for the database file at path, for
// tests of the migrations themselves (down and up again). The connection is closed when t ends.
func Migrator(t testing.TB, path string, fsys fs.FS) *goose.Provider {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatalf("sqlitetest: %v", err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatalf("sqlitetest: migrations: %v", err)
	}
	return p
}
