// Package sqltest runs a test body against every SQL backend the services support — MariaDB
// (through internal/mysqltest) and SQLite (through internal/sqlitetest) — each time on a fresh
// database, so that one repository suite proves both dialects:
//
//	func TestMain(m *testing.M) { mysqltest.Main(m) } // removes the MariaDB container at the end
//
//	func TestSomething(t *testing.T) {
//		sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
//			st, err := sqlstore.Open(ctx, sqlstore.Options{MySQLDSN: db.MySQLDSN, SQLitePath: db.SQLitePath})
//			...
//		})
//	}
//
// The "mysql" subtest is skipped where mysqltest finds no server (no Docker, or -short); the
// "sqlite" one always runs. It is a test helper: it must not be imported by non-test code.
package sqltest

import (
	"testing"

	"github.com/shopsaga/shopsaga/internal/mysqltest"
	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/internal/sqlitetest"
	"github.com/shopsaga/shopsaga/migrations"
)

// The migrations of each service database; Empty applies none.
var (
	Inventory = sqldb.Migrations{MySQL: migrations.Inventory, SQLite: migrations.InventorySQLite}
	Order     = sqldb.Migrations{MySQL: migrations.Order, SQLite: migrations.OrderSQLite}
	Empty     = sqldb.Migrations{}
)

// Backends are the dialects ForEachBackend runs on, in order.
var Backends = []sqldb.Dialect{sqldb.MySQL, sqldb.SQLite}

// DB names a fresh test database: exactly one of the fields is set.
type DB struct {
	MySQLDSN   string // a DSN with parseTime=true
	SQLitePath string // a file in a temporary directory
}

// Dialect reports which backend db is on.
func (db DB) Dialect() sqldb.Dialect {
	if db.SQLitePath != "" {
		return sqldb.SQLite
	}
	return sqldb.MySQL
}

// New returns a fresh database on dialect d with the matching variant of m applied. It is
// removed when t ends; on MySQL, t is skipped if there is no server (see mysqltest.New).
func New(t testing.TB, d sqldb.Dialect, m sqldb.Migrations) DB {
	t.Helper()
	if d == sqldb.SQLite {
		return DB{SQLitePath: sqlitetest.New(t, m.SQLite)}
	}
	return DB{MySQLDSN: mysqltest.New(t, m.MySQL)}
}

// ForEachBackend runs fn as one subtest per backend, named after its dialect ("mysql",
// "sqlite"), each with a fresh database with m applied.
func ForEachBackend(t *testing.T, m sqldb.Migrations, fn func(t *testing.T, db DB)) {
	t.Helper()
	for _, d := range Backends {
		t.Run(string(d), func(t *testing.T) { fn(t, New(t, d, m)) })
	}
}
