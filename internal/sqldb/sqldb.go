// Package sqldb opens the database of a shopsaga service through gorm on either dialect the
// services support — MySQL/MariaDB (given a DSN) or SQLite (given a file, through the pure-Go
// driver github.com/glebarez/sqlite, so no C toolchain and no server are needed) — and holds what
// differs between the two, so that the services' repositories share every method:
//
//   - connection settings (Open): MySQL gets parseTime in UTC and client-side interpolation;
//     SQLite gets WAL with synchronous=FULL (a reported commit survives a power loss), a 10 s
//     busy timeout, BEGIN IMMEDIATE and one connection, so writers are serialised and a
//     transaction holds the write lock from its first statement;
//   - error classification (IsDuplicateKey, IsCheckViolation, IsRetryable);
//   - transaction isolation: READ COMMITTED for every MySQL session, set when it connects
//     (TxOptions names no level, so BEGIN costs one statement); SQLite's default elsewhere;
//   - migrations (Migrate): the goose dialect, and the named lock MySQL instances take so that
//     only one of several starting together applies them.
//
// SQL that differs between the dialects (upserts) stays in the repositories, switched on
// DB.Dialect, next to the SQL it replaces. The package must not import any service package.
package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	gosqlite "github.com/glebarez/go-sqlite"
	gormsqlite "github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names the SQL dialect of a DB.
type Dialect string

// The dialects Open supports.
const (
	MySQL  Dialect = "mysql"  // MySQL or MariaDB through go-sql-driver/mysql
	SQLite Dialect = "sqlite" // SQLite through glebarez/go-sqlite (modernc.org/sqlite, pure Go)
)

// Options tell Open which database to use. Exactly one of MySQLDSN and SQLitePath must be set.
type Options struct {
	// MySQLDSN is a go-sql-driver/mysql DSN naming a database, e.g. "u:pw@tcp(db:3306)/shop".
	MySQLDSN string
	// SQLitePath is the SQLite database file; it and its directory are created if missing.
	SQLitePath string
	// MaxOpenConns caps MySQL's connection pool (default 20). SQLite always uses one
	// connection: SQLite allows one writer at a time, and a single connection turns contention
	// into queueing in database/sql instead of SQLITE_BUSY errors.
	MaxOpenConns int
	// Logger receives gorm's messages (default slog.Default()).
	Logger *slog.Logger
	// LogSQL logs every statement.
	LogSQL bool
}

// DB is an open database. Its fields are set by Open and never change; it is safe for
// concurrent use.
type DB struct {
	Gorm    *gorm.DB
	SQL     *sql.DB
	Dialect Dialect
}

// NormalizeMySQLDSN parses a go-sql-driver/mysql DSN and sets what the repositories rely on:
// parseTime (DATETIME columns scan into time.Time) in UTC, the session time zone UTC (unless the
// DSN sets one), and client-side parameter interpolation (one round trip per statement instead of
// prepare + execute + close).
//
// The connection character set must be utf8mb4 (the driver's default): a DSN naming another
// charset, or setting a character_set_* session variable, is refused. With client-side
// interpolation the driver escapes values for utf8mb4; under a multi-byte charset such as gbk or
// sjis a value could end its string literal (a byte 0x5c completing a character), and the pools
// that allow several statements per round trip would then run what follows it.
func NormalizeMySQLDSN(dsn string) (string, error) {
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("parse mysql dsn: %w", err)
	}
	if cfg.DBName == "" {
		return "", errors.New("mysql dsn names no database (…/dbname)")
	}
	if err := checkCharset(dsn, cfg.Params); err != nil {
		return "", err
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	// Column defaults (CURRENT_TIMESTAMP(6)) are then in UTC too, like every time the services
	// write and read (Loc): a window such as inventory's "deducted before T" compares like with
	// like whatever the server's time zone. An offset needs no time-zone tables.
	if _, set := cfg.Params["time_zone"]; !set {
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["time_zone"] = "'+00:00'"
	}
	return cfg.FormatDSN(), nil
}

// checkCharset refuses a DSN whose connection character set is not utf8mb4 (see
// NormalizeMySQLDSN). The driver keeps its charset parameter unexported, so it is read from the
// DSN's query string.
func checkCharset(dsn string, params map[string]string) error {
	if i := strings.LastIndexByte(dsn, '?'); i >= 0 {
		q, err := url.ParseQuery(dsn[i+1:])
		if err != nil {
			return fmt.Errorf("parse mysql dsn parameters: %w", err)
		}
		for _, v := range q["charset"] {
			for _, cs := range strings.Split(v, ",") {
				if !strings.EqualFold(strings.TrimSpace(cs), "utf8mb4") {
					return fmt.Errorf("mysql dsn: charset %q is not supported: the services escape values for utf8mb4 only (leave charset out, or set charset=utf8mb4)", cs)
				}
			}
		}
	}
	for k := range params {
		if k := strings.ToLower(k); strings.HasPrefix(k, "character_set") || k == "names" {
			return fmt.Errorf("mysql dsn: the session variable %s is not supported: the connection character set must stay utf8mb4", k)
		}
	}
	return nil
}

// SQLiteDSN is the glebarez/go-sqlite DSN of the database file at path: WAL (readers do not
// block the writer), a busy timeout for other processes holding the lock, transactions that
// take the write lock at BEGIN (so two of them never deadlock upgrading a read lock), and
// times written in SQLite's own format.
//
// synchronous=FULL: every COMMIT fsyncs the WAL before it returns, so a transaction whose
// commit was reported — and whose outcome the broker may already have been told (the half
// message's answer, an acknowledged reback) — survives a power loss. NORMAL, SQLite's usual
// choice with WAL, only survives a crash of the process: a power loss may undo the last
// commits, and the saga would then contradict what it told the broker. The cost is one fsync
// per commit (loadgen/README.md has the numbers).
func SQLiteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	return "file:" + path + "?" + q.Encode()
}

// Open opens the database opts name and checks that it answers. It does not migrate: call
// Migrate.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	level := logger.Silent // expected failures (duplicate keys, not found) are handled, not logged
	if opts.LogSQL {
		level = logger.Info
	}
	// A fresh gorm.Config per Open: gorm keeps dialect state in it (never share one).
	gcfg := &gorm.Config{
		Logger:                 logger.NewSlogLogger(opts.Logger, logger.Config{LogLevel: level}),
		SkipDefaultTransaction: true, // single statements need no transaction of their own
	}

	var (
		d       Dialect
		sqlDB   *sql.DB
		dialect gorm.Dialector
	)
	switch {
	case opts.MySQLDSN != "" && opts.SQLitePath != "":
		return nil, errors.New("open database: both a MySQL DSN and an SQLite path given; choose one")
	case opts.MySQLDSN != "":
		dsn, err := NormalizeMySQLDSN(opts.MySQLDSN)
		if err != nil {
			return nil, err
		}
		if opts.MaxOpenConns <= 0 {
			opts.MaxOpenConns = 20
		}
		cfg, err := mysqldriver.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("open mysql: %w", err)
		}
		connector, err := mysqldriver.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("open mysql: %w", err)
		}
		sqlDB = sql.OpenDB(readCommittedConnector{connector})
		sqlDB.SetMaxOpenConns(opts.MaxOpenConns)
		sqlDB.SetMaxIdleConns(opts.MaxOpenConns)
		sqlDB.SetConnMaxLifetime(5 * time.Minute)
		sqlDB.SetConnMaxIdleTime(time.Minute)
		d, dialect = MySQL, gormmysql.New(gormmysql.Config{Conn: sqlDB})
	case opts.SQLitePath != "":
		if dir := filepath.Dir(opts.SQLitePath); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("open sqlite: %w", err)
			}
		}
		var err error
		if sqlDB, err = sql.Open(gormsqlite.DriverName, SQLiteDSN(opts.SQLitePath)); err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", opts.SQLitePath, err)
		}
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		sqlDB.SetConnMaxLifetime(0) // keep the one connection (and its pragmas)
		sqlDB.SetConnMaxIdleTime(0)
		d, dialect = SQLite, &gormsqlite.Dialector{Conn: sqlDB}
	default:
		return nil, errors.New("open database: neither a MySQL DSN nor an SQLite path given")
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("connect to %s: %w", d, err), sqlDB.Close())
	}
	db, err := gorm.Open(dialect, gcfg)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open gorm on %s: %w", d, err), sqlDB.Close())
	}
	return &DB{Gorm: db, SQL: sqlDB, Dialect: d}, nil
}

// Close closes the connection pool.
func (db *DB) Close() error { return db.SQL.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.SQL.PingContext(ctx) }

// TxOptions are the options of every read-write transaction. On MySQL every connection's session
// is READ COMMITTED from the moment it connects (readCommittedConnector), so every read sees the
// latest committed state and InnoDB takes no gap locks; the options name no level, so BEGIN is one
// statement (START TRANSACTION) instead of two (SET TRANSACTION ISOLATION LEVEL … first). On
// SQLite: the default (SERIALIZABLE; with BEGIN IMMEDIATE and one connection, transactions simply
// run one at a time).
func (db *DB) TxOptions() *sql.TxOptions {
	return nil
}

// readCommittedSQL is run on every new MySQL connection: the same statement on MySQL and MariaDB
// (whose variables differ: transaction_isolation, tx_isolation).
const readCommittedSQL = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"

// ReadCommitted wraps a MySQL connector so that every connection it makes is READ COMMITTED for
// its whole session, as Open's pool is: for a pool of its own that a repository opens on the same
// DSN (order_srv's multi-statement pool).
func ReadCommitted(c driver.Connector) driver.Connector { return readCommittedConnector{c} }

// readCommittedConnector makes every connection of the pool READ COMMITTED for its whole session.
type readCommittedConnector struct {
	driver.Connector
}

func (c readCommittedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		return nil, errors.Join(errors.New("mysql connection cannot execute statements"), conn.Close())
	}
	if _, err := ex.ExecContext(ctx, readCommittedSQL, nil); err != nil {
		return nil, errors.Join(fmt.Errorf("set read committed: %w", err), conn.Close())
	}
	return conn, nil
}

// Error numbers the package branches on.
const (
	mysqlDupEntry          = 1062 // ER_DUP_ENTRY
	mysqlLockDeadlock      = 1213 // ER_LOCK_DEADLOCK: the transaction was rolled back
	mysqlCheckViolated     = 3819 // ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
	mariadbCheckViolated   = 4025 // ER_CONSTRAINT_FAILED (MariaDB)
	sqliteBusy             = 5    // SQLITE_BUSY (primary code; extended codes add bits above 0xff)
	sqliteConstraintCheck  = 275  // SQLITE_CONSTRAINT_CHECK
	sqliteConstraintPK     = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
	sqliteConstraintUnique = 2067 // SQLITE_CONSTRAINT_UNIQUE
)

// IsDuplicateKey reports whether err is a unique or primary key violation on either dialect.
func IsDuplicateKey(err error) bool {
	return mysqlNumber(err) == mysqlDupEntry ||
		sqliteCode(err) == sqliteConstraintUnique || sqliteCode(err) == sqliteConstraintPK
}

// IsCheckViolation reports whether err is a CHECK constraint violation on either dialect.
func IsCheckViolation(err error) bool {
	n := mysqlNumber(err)
	return n == mysqlCheckViolated || n == mariadbCheckViolated || sqliteCode(err) == sqliteConstraintCheck
}

// IsRetryable reports whether err means the whole transaction was rolled back because of
// contention and may simply be run again: an InnoDB deadlock victim, or SQLite still busy
// after its busy timeout (another process held the write lock).
func IsRetryable(err error) bool {
	return mysqlNumber(err) == mysqlLockDeadlock || sqliteCode(err)&0xff == sqliteBusy
}

func mysqlNumber(err error) uint16 {
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func sqliteCode(err error) int {
	var se *gosqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// Migrations are the two variants of one database's migrations, kept in step (same versions,
// same tables and columns; see package migrations).
type Migrations struct {
	MySQL  fs.FS
	SQLite fs.FS
}

// Migrator returns the goose provider of db's variant of m.
func (db *DB) Migrator(m Migrations) (*goose.Provider, error) {
	dialect, fsys := goose.DialectMySQL, m.MySQL
	if db.Dialect == SQLite {
		dialect, fsys = goose.DialectSQLite3, m.SQLite
	}
	p, err := goose.NewProvider(dialect, db.SQL, fsys,
		goose.WithDisableGlobalRegistry(true), // SQL files only; no Go migrations registered in init()
	)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// migrationLockWait is how long a starting instance waits for another one that is migrating the
// same database.
const migrationLockWait = 60 * time.Second

// Migrate applies the pending migrations of db's variant of m and logs each one.
//
// MySQL instances starting at the same time take turns: each holds a MySQL named lock
// (GET_LOCK, named after the database) for its whole run, so only the first applies anything and
// the others find nothing pending. The lock is taken here rather than through goose's
// SessionLocker because goose (v3.28) checks for pending migrations, and creates its version
// table, before taking that lock, which lets a second instance read a half-created version table
// ("missing zero version migration"). The lock belongs to its connection: a crashed instance
// releases it by disconnecting.
//
// SQLite has no named lock; instances starting together may both try a migration. Each goose
// migration runs in a transaction and SQLite's DDL is transactional, so the loser's attempt ("table
// … already exists") rolls back entirely; it then runs Up again and finds nothing pending.
func (db *DB) Migrate(ctx context.Context, m Migrations, log *slog.Logger) (err error) {
	if db.Dialect == SQLite {
		for attempt := 1; ; attempt++ {
			err := db.migrateOnce(ctx, m, log)
			if err == nil || attempt == sqliteMigrateAttempts {
				return err
			}
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
			}
		}
	}
	return db.migrateOnce(ctx, m, log)
}

// sqliteMigrateAttempts bounds how often Migrate runs goose on SQLite (see Migrate).
const sqliteMigrateAttempts = 5

func (db *DB) migrateOnce(ctx context.Context, m Migrations, log *slog.Logger) (err error) {
	if db.Dialect == MySQL {
		conn, err := db.SQL.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer conn.Close()
		if err := lockMigrations(ctx, conn, migrationLockWait); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer func() {
			// Detached: the lock must be released even when ctx has been cancelled.
			err = errors.Join(err, unlockMigrations(context.WithoutCancel(ctx), conn))
		}()
	}
	p, err := db.Migrator(m)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx) // on MySQL on another connection of the pool, which is why MaxOpenConns ≥ 2
	for _, r := range results {
		log.InfoContext(ctx, "applied migration", "file", r.Source.Path, "duration", r.Duration)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// The lock's name is server-wide, so it names the database (cut to MySQL's 64-character limit).
const migrationLockName = `LEFT(CONCAT('goose:', DATABASE()), 64)`

func lockMigrations(ctx context.Context, conn *sql.Conn, wait time.Duration) error {
	var got sql.NullInt64
	err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(`+migrationLockName+`, ?)`, int(wait.Seconds())).Scan(&got)
	if err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("take migration lock: another instance held it for %v", wait)
	}
	return nil
}

func unlockMigrations(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, `DO RELEASE_LOCK(`+migrationLockName+`)`); err != nil {
		return fmt.Errorf("release migration lock: %w", err)
	}
	return nil
}
