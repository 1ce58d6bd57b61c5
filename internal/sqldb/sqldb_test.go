package sqldb_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"

	"github.com/shopsaga/shopsaga/internal/mysqltest"
	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/migrations"
)

func TestMain(m *testing.M) { mysqltest.Main(m) }

// Every connection of a MySQL pool, and every transaction begun with TxOptions, is READ
// COMMITTED, though TxOptions names no level (the session is set when a connection is made).
func TestOpen_mysqlSessionsAreReadCommitted_onEveryConnection(t *testing.T) {
	dsn := mysqltest.New(t, migrations.Inventory)
	ctx := context.Background()
	db, err := sqldb.Open(ctx, sqldb.Options{MySQLDSN: dsn, MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Hold four transactions at once, so the pool opens four connections.
	var wg sync.WaitGroup
	release := make(chan struct{})
	levels := make(chan string, 4)
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			tx, err := db.SQL.BeginTx(ctx, db.TxOptions())
			if err != nil {
				errs <- err
				return
			}
			defer tx.Rollback()
			levels <- isolation(ctx, t, tx)
			<-release
		})
	}
	for range 4 {
		select {
		case l := <-levels:
			if l != "READ-COMMITTED" {
				t.Errorf("transaction isolation %q, want READ-COMMITTED", l)
			}
		case err := <-errs:
			t.Fatal(err)
		}
	}
	close(release)
	wg.Wait()
	if n := db.SQL.Stats().OpenConnections; n != 4 {
		t.Errorf("%d connections open, want 4", n)
	}
}

// isolation reads the session's isolation level under MariaDB's name or MySQL 8's.
func isolation(ctx context.Context, t *testing.T, tx *sql.Tx) string {
	t.Helper()
	var level string
	err := tx.QueryRowContext(ctx, "SELECT @@SESSION.tx_isolation").Scan(&level)
	if err != nil { // MySQL 8 has only transaction_isolation
		err = tx.QueryRowContext(ctx, "SELECT @@SESSION.transaction_isolation").Scan(&level)
	}
	if err != nil {
		t.Fatal(err)
	}
	return level
}
