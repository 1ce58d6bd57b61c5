package sqldb

import (
	"context"
	"path/filepath"
	"testing"
)

// TestOpen_sqlite_isDurableOnPowerLoss: a reported COMMIT must survive a power loss (WAL with
// synchronous=FULL, 2), not only a process crash (NORMAL, 1).
func TestOpen_sqlite_isDurableOnPowerLoss(t *testing.T) {
	t.Parallel()
	db, err := Open(context.Background(), Options{SQLitePath: filepath.Join(t.TempDir(), "db.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sync int
	var journal string
	if err := db.SQL.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL.QueryRow(`PRAGMA journal_mode`).Scan(&journal); err != nil {
		t.Fatal(err)
	}
	if sync != 2 || journal != "wal" {
		t.Errorf("synchronous = %d, journal_mode = %s; want 2 (FULL) and wal", sync, journal)
	}
}
