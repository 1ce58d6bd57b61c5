// Package sqlstore stores order_srv's data in SQL through gorm, on MySQL/MariaDB or on SQLite
// (pure Go, one file; see internal/sqldb): orders and their items, carts, the check-back barrier
// (tx_barriers), Idempotency-Keys, the saga timeline (order_saga_steps) and payments. It implements the
// repositories of internal/app and applies migrations.Order (or migrations.OrderSQLite) with
// goose. Every repository method is shared by both dialects; the one statement that differs
// (the cart upsert) switches on the dialect in place, and errors are classified by
// internal/sqldb.
//
// State changes are plain, visible SQL: the barrier is claimed with a plain INSERT whose
// duplicate key (MySQL error 1062, SQLite's UNIQUE/PRIMARY KEY constraint) means "someone else
// decided first" (gorm's OnConflict DoNothing cannot be trusted on MariaDB ≥ 10.5, which reports
// RETURNING rows even on a conflict); status changes are compare-and-set updates
// ("… WHERE order_sn = ? AND status = ?") checked by rows affected. Transactions run at READ
// COMMITTED on MySQL; on SQLite they run one at a time (one connection, BEGIN IMMEDIATE), so a
// check-back waits for a local transaction in flight exactly as it waits for its row lock on
// MySQL. On MySQL the local transaction (CommitOrder) runs on a second pool whose connections
// take several statements per round trip (openMulti), so its INSERTs cost one round trip; every
// other statement runs on the main pool, one per round trip; the two pools share
// Options.MaxOpenConns, and Ping checks both. Timeline steps outside a transaction go through one
// writer that groups them (stepWriter), bounded so that a sick database cannot stall it: a group
// failing for a reason other than its rows' data fails whole, one write cycle has one deadline,
// Append's queue is capped (past it steps are dropped and logged) and Close drops what is left
// after its deadline; dropped steps are counted (DroppedSteps). Transactions go through closures or
// methods: callers never see *gorm.DB. The package
// must not import the transport or the broker client.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"gorm.io/gorm"

	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/migrations"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// maxTxAttempts bounds how often a transaction that keeps losing deadlocks is run.
const maxTxAttempts = 4

// Options tune Open. Exactly one of MySQLDSN and SQLitePath must be set.
type Options struct {
	// MySQLDSN is a go-sql-driver/mysql DSN naming the database.
	MySQLDSN string
	// SQLitePath is the SQLite database file, created if missing.
	SQLitePath string
	// MaxOpenConns caps the store's connections to MySQL (default 32), both pools together: the
	// local transaction's pool gets half (rounded up) — every order in its local transaction holds
	// one of those — and the main pool, every other statement, the rest; each at least one (so
	// MaxOpenConns 1 opens up to 2). SQLite always uses one connection.
	MaxOpenConns int
	// Logger receives gorm's messages (default slog.Default()).
	Logger *slog.Logger
	// LogSQL logs every statement gorm runs, and on MySQL each round trip of the local
	// transaction on the multi-statement pool (see openMulti): its text and the number of its
	// values, not the values.
	LogSQL bool
}

// Store implements the repositories of internal/app. It is safe for concurrent use.
type Store struct {
	db    *gorm.DB
	sql   *sqldb.DB
	steps *stepWriter // the one writer of Record and Append (batch.go)
	// multi is MySQL's second pool, whose connections allow several statements per round trip
	// (multiStatements): only CommitOrder uses it (saga.go). Nil on SQLite.
	multi *sql.DB
	// logMulti logs multi's statements (Options.LogSQL); nil when they are not logged.
	logMulti *slog.Logger
}

// splitConns divides the connection ceiling total between the main pool and the local
// transaction's pool (Options.MaxOpenConns).
func splitConns(total int) (main, multi int) {
	multi = (total + 1) / 2
	return max(1, total-multi), max(1, multi)
}

// NormalizeDSN parses a go-sql-driver/mysql DSN and sets what the package relies on: parseTime
// in UTC and client-side parameter interpolation (one round trip per statement).
func NormalizeDSN(dsn string) (string, error) { return sqldb.NormalizeMySQLDSN(dsn) }

// Open connects to the database opts name and checks that it answers. It does not migrate: call
// Migrate.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 32
	}
	mainConns, multiConns := splitConns(opts.MaxOpenConns)
	if opts.SQLitePath != "" {
		mainConns = opts.MaxOpenConns // ignored: one connection
	}
	db, err := sqldb.Open(ctx, sqldb.Options{
		MySQLDSN: opts.MySQLDSN, SQLitePath: opts.SQLitePath, MaxOpenConns: mainConns,
		Logger: opts.Logger, LogSQL: opts.LogSQL,
	})
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Store{db: db.Gorm, sql: db}
	if db.Dialect == sqldb.MySQL {
		if s.multi, err = openMulti(ctx, opts.MySQLDSN, multiConns); err != nil {
			return nil, errors.Join(err, db.Close())
		}
		if opts.LogSQL {
			s.logMulti = log
		}
	}
	s.steps = newStepWriter(func(ctx context.Context, rows []sagaStepRow) error {
		return insertStepRows(s.db.WithContext(ctx), rows)
	}, log)
	return s, nil
}

// Dialect reports which database the store is on.
func (s *Store) Dialect() sqldb.Dialect { return s.sql.Dialect }

// Close stores the timeline steps still queued by Append (waiting for their INSERTs, at most 10 s:
// past that it cancels the INSERT in flight and logs and drops the steps left), then closes the
// connection pools. Record and Append fail afterwards.
func (s *Store) Close() error {
	s.steps.close()
	var err error
	if s.multi != nil {
		err = s.multi.Close()
	}
	return errors.Join(err, s.sql.Close())
}

// openMulti opens the pool of the local transaction on MySQL: the DSN as NormalizeDSN makes it
// (client-side interpolation: values are escaped by the driver), plus multiStatements, and every
// session READ COMMITTED like the main pool's. It is a pool of its own so that only the one
// statement built for it (localTxSQL: constants and placeholders) can ever carry several
// statements; every other statement of the store, gorm's and the migrations', runs where a
// stray semicolon is an error. Each order in flight holds one connection of it, not of the main
// pool, for its local transaction; it has maxOpen connections (half of Options.MaxOpenConns).
func openMulti(ctx context.Context, dsn string, maxOpen int) (*sql.DB, error) {
	norm, err := sqldb.NormalizeMySQLDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg, err := mysqldriver.ParseDSN(norm)
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	cfg.MultiStatements = true
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	db := sql.OpenDB(sqldb.ReadCommitted(connector))
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen)
	db.SetConnMaxLifetime(5 * time.Minute)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("connect to mysql (multi-statement pool): %w", err), db.Close())
	}
	return db, nil
}

// DroppedSteps reports how many timeline steps queued by Append were not stored (their INSERT
// failed, the queue was full, or Close's deadline passed); each is also logged.
func (s *Store) DroppedSteps() int64 { return s.steps.dropped.Load() }

// Ping checks that the database answers on every pool of the store (readiness): the main pool
// and, on MySQL, the local transaction's.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sql.Ping(ctx); err != nil {
		return err
	}
	if s.multi != nil {
		if err := s.multi.PingContext(ctx); err != nil {
			return fmt.Errorf("ping the local transaction's pool: %w", err)
		}
	}
	return nil
}

// Migrate applies the pending order migrations of the store's dialect and logs each one;
// instances starting together take turns (see sqldb.DB.Migrate).
func (s *Store) Migrate(ctx context.Context, log *slog.Logger) error {
	return s.sql.Migrate(ctx, migrationSet, log)
}

// migrationSet is the order database's migrations in both dialects.
var migrationSet = sqldb.Migrations{MySQL: migrations.Order, SQLite: migrations.OrderSQLite}

// inTx runs fn, a transaction on order sn, in a read-write transaction (READ COMMITTED on
// MySQL), again when it was rolled back entirely for contention (an InnoDB deadlock victim,
// SQLite busy). It first waits for sn's timeline steps queued before (Append), not for other
// orders': a transaction that writes a step of sn (paid, closed, a payment) then stores it after
// them, so the timeline keeps the order the steps were taken in, and a slow group of other
// orders' steps delays it at most one write cycle (see stepWriter).
func (s *Store) inTx(ctx context.Context, sn order.SN, fn func(tx *gorm.DB) error) error {
	if err := s.steps.flushOrder(ctx, string(sn)); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := s.db.WithContext(ctx).Transaction(fn, s.sql.TxOptions())
		if !sqldb.IsRetryable(err) || attempt == maxTxAttempts {
			return err
		}
	}
}
