package migrations_test

import (
	"context"
	"database/sql"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	_ "github.com/glebarez/go-sqlite" // the "sqlite" driver
	"github.com/pressly/goose/v3"

	"github.com/shopsaga/shopsaga/internal/mysqltest"
	"github.com/shopsaga/shopsaga/internal/sqlitetest"
	"github.com/shopsaga/shopsaga/migrations"
)

func TestMain(m *testing.M) { mysqltest.Main(m) }

// pair is one database's migrations in both dialects.
type pair struct {
	name           string
	mysql, sqlite  fs.FS
	wantMigrations int
}

var pairs = []pair{
	{"inventory", migrations.Inventory, migrations.InventorySQLite, 3},
	{"order", migrations.Order, migrations.OrderSQLite, 5},
}

func sqlFiles(t *testing.T, fsys fs.FS) []string {
	t.Helper()
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestTwins_haveTheSameVersionsAndNames(t *testing.T) {
	t.Parallel()
	for _, p := range pairs {
		my, lite := sqlFiles(t, p.mysql), sqlFiles(t, p.sqlite)
		if !slices.Equal(my, lite) {
			t.Errorf("%s: MySQL migrations %v, SQLite migrations %v; want the same files", p.name, my, lite)
		}
		if len(my) != p.wantMigrations {
			t.Errorf("%s: %d migrations, want %d (update this test when adding one)", p.name, len(my), p.wantMigrations)
		}
	}
}

// schema maps each table (goose's own excluded) to its column names, sorted.
type schema map[string][]string

func (s schema) String() string {
	var b strings.Builder
	for _, table := range slices.Sorted(maps.Keys(s)) {
		b.WriteString(table + "(" + strings.Join(s[table], ", ") + ") ")
	}
	return b.String()
}

var (
	createTable = regexp.MustCompile(`(?is)CREATE TABLE (\w+) \((.*?)\n\)`)
	columnLine  = regexp.MustCompile(`^\s*([a-z_][a-z0-9_]*)\s`)
)

// declaredSchema reads the tables and columns the Up sections of the MySQL files create: the
// reference the SQLite twins are held to even where no MariaDB is at hand.
func declaredSchema(t *testing.T, fsys fs.FS) schema {
	t.Helper()
	out := schema{}
	for _, name := range sqlFiles(t, fsys) {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		up, _, _ := strings.Cut(string(b), "-- +goose Down")
		for _, m := range createTable.FindAllStringSubmatch(up, -1) {
			var cols []string
			for line := range strings.SplitSeq(m[2], "\n") {
				if c := columnLine.FindStringSubmatch(line); c != nil {
					cols = append(cols, c[1])
				}
			}
			slices.Sort(cols)
			out[m[1]] = cols
		}
	}
	return out
}

func querySchema(t *testing.T, db *sql.DB, q string) schema {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := schema{}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			t.Fatal(err)
		}
		if table != "goose_db_version" {
			out[table] = append(out[table], col)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, cols := range out {
		slices.Sort(cols)
	}
	return out
}

const (
	sqliteSchemaQuery = `SELECT m.name, c.name FROM sqlite_master m JOIN pragma_table_info(m.name) c
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`
	mysqlSchemaQuery = `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = DATABASE()`
)

// checkUpDownUp applies every migration, checks the schema against want, goes down to version 0
// (only goose's table left), and up again.
func checkUpDownUp(t *testing.T, mig *goose.Provider, db *sql.DB, schemaQuery string, want schema, n int) {
	t.Helper()
	ctx := context.Background()
	results, err := mig.Up(ctx)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	if len(results) != n {
		t.Errorf("up applied %d migrations, want %d", len(results), n)
	}
	if got := querySchema(t, db, schemaQuery); got.String() != want.String() {
		t.Fatalf("after up:\n got %v\nwant %v", got, want)
	}
	if _, err := mig.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	if got := querySchema(t, db, schemaQuery); len(got) != 0 {
		t.Fatalf("after down to 0: tables %v left", got)
	}
	if _, err := mig.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if got := querySchema(t, db, schemaQuery); got.String() != want.String() {
		t.Fatalf("after up again:\n got %v\nwant %v", got, want)
	}
}

func TestTwins_createTheSameTablesAndColumns_andGoDownToNothing(t *testing.T) {
	for _, p := range pairs {
		want := declaredSchema(t, p.mysql)
		if len(want) == 0 {
			t.Fatalf("%s: found no CREATE TABLE in the MySQL migrations", p.name)
		}
		t.Run(p.name+"/sqlite", func(t *testing.T) {
			path := sqlitetest.New(t, nil)
			mig := sqlitetest.Migrator(t, path, p.sqlite)
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			checkUpDownUp(t, mig, db, sqliteSchemaQuery, want, p.wantMigrations)
		})
		t.Run(p.name+"/mysql", func(t *testing.T) {
			dsn := mysqltest.New(t, nil) // skips without a MariaDB
			mig := mysqltest.Migrator(t, dsn, p.mysql)
			db, err := sql.Open("mysql", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			checkUpDownUp(t, mig, db, mysqlSchemaQuery, want, p.wantMigrations)
		})
	}
}
