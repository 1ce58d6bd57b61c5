package mysqltest

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"testing/fstest"

	mysqldriver "github.com/go-sql-driver/mysql"
)

func TestMain(m *testing.M) { Main(m) }

func TestNew_givesAFreshMigratedDatabase_andDropsItAfterTheTest(t *testing.T) {
	migrations := fstest.MapFS{
		"00001_things.sql": {Data: []byte("-- +goose Up\nCREATE TABLE things (id INT PRIMARY KEY);\n-- +goose Down\nDROP TABLE things;\n")},
	}
	var name string
	t.Run("user", func(t *testing.T) {
		dsn := New(t, migrations)
		cfg, err := mysqldriver.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.ParseTime {
			t.Error("DSN without parseTime")
		}
		name = cfg.DBName
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec("INSERT INTO things VALUES (1)"); err != nil {
			t.Fatalf("migrated table: %v", err)
		}
		other := New(t, nil)
		if strings.Contains(other, "/"+name+"?") {
			t.Error("two calls gave the same database")
		}
	})
	if t.Skipped() || name == "" {
		return
	}
	root, err := sql.Open("mysql", shared.rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var n int
	if err := root.QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after its test", name)
	}
}

func TestDatabaseName_isShortAndUnique(t *testing.T) {
	t.Parallel()
	long := "TestSomething/with a very long subtest name, full of punctuation: ümlauts and more and more"
	a, b := databaseName(long), databaseName(long)
	if a == b || len(a) > 64 || strings.Trim(a, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		t.Errorf("databaseName gave %q and %q", a, b)
	}
}

func TestCheckImage_skipsWhenTheImageIsMissing(t *testing.T) {
	t.Parallel()
	skip := checkImage(context.Background(), "shopsaga/no-such-image:0")
	if !strings.Contains(skip, "no-such-image") && !strings.Contains(skip, "no Docker") {
		t.Errorf("checkImage = %q, want a reason naming the image (or Docker's absence)", skip)
	}
	if !strings.Contains(skip, EnvDSN) {
		t.Errorf("checkImage = %q, want it to say how to get a server", skip)
	}
}
