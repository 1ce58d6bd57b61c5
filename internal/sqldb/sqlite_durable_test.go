package sqldb

import (
	"context"
	"path/filepath"
	"strings"
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

func TestNormalizeMySQLDSN_setsTheSessionTimeZoneToUTC_unlessGiven(t *testing.T) {
	t.Parallel()
	got, err := NormalizeMySQLDSN("u:p@tcp(db:3306)/shop")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "time_zone=%27%2B00%3A00%27") || !strings.Contains(got, "parseTime=true") {
		t.Errorf("dsn %s: want time_zone '+00:00' and parseTime", got)
	}
	got, err = NormalizeMySQLDSN("u:p@tcp(db:3306)/shop?time_zone=%27Europe%2FParis%27")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "Europe") || strings.Contains(got, "%2B00") {
		t.Errorf("dsn %s: a given time zone must be kept", got)
	}
}
