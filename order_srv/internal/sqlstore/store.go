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
// MySQL. Transactions go through closures or methods: callers never see *gorm.DB. The package
// must not import the transport or the broker client.
package sqlstore

import (
	"context"
	"log/slog"

	"gorm.io/gorm"

	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/migrations"
)

// maxTxAttempts bounds how often a transaction that keeps losing deadlocks is run.
const maxTxAttempts = 4

// Options tune Open. Exactly one of MySQLDSN and SQLitePath must be set.
type Options struct {
	// MySQLDSN is a go-sql-driver/mysql DSN naming the database.
	MySQLDSN string
	// SQLitePath is the SQLite database file, created if missing.
	SQLitePath string
	// MaxOpenConns caps MySQL's connection pool (default 32). Every order in flight holds one
	// connection for its local transaction. SQLite always uses one connection.
	MaxOpenConns int
	// Logger receives gorm's messages (default slog.Default()).
	Logger *slog.Logger
	// LogSQL logs every statement.
	LogSQL bool
}

// Store implements the repositories of internal/app. It is safe for concurrent use.
type Store struct {
	db    *gorm.DB
	sql   *sqldb.DB
	steps *stepWriter // the one writer of Record and Append (batch.go)
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
	db, err := sqldb.Open(ctx, sqldb.Options{
		MySQLDSN: opts.MySQLDSN, SQLitePath: opts.SQLitePath, MaxOpenConns: opts.MaxOpenConns,
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
	s.steps = newStepWriter(func(ctx context.Context, rows []sagaStepRow) error {
		return insertStepRows(s.db.WithContext(ctx), rows)
	}, log)
	return s, nil
}

// Dialect reports which database the store is on.
func (s *Store) Dialect() sqldb.Dialect { return s.sql.Dialect }

// Close stores the timeline steps still queued by Append (waiting for their INSERTs), then
// closes the connection pool. Record and Append fail afterwards.
func (s *Store) Close() error {
	s.steps.close()
	return s.sql.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.sql.Ping(ctx) }

// Migrate applies the pending order migrations of the store's dialect and logs each one;
// instances starting together take turns (see sqldb.DB.Migrate).
func (s *Store) Migrate(ctx context.Context, log *slog.Logger) error {
	return s.sql.Migrate(ctx, migrationSet, log)
}

// migrationSet is the order database's migrations in both dialects.
var migrationSet = sqldb.Migrations{MySQL: migrations.Order, SQLite: migrations.OrderSQLite}

// inTx runs fn in a read-write transaction (READ COMMITTED on MySQL), again when it was rolled
// back entirely for contention (an InnoDB deadlock victim, SQLite busy). It first waits for the
// timeline steps queued before (Append): a transaction that writes a step (paid, closed, a
// payment) then stores it after them, so the timeline keeps the order the steps were taken in.
func (s *Store) inTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if err := s.steps.flush(ctx); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := s.db.WithContext(ctx).Transaction(fn, s.sql.TxOptions())
		if !sqldb.IsRetryable(err) || attempt == maxTxAttempts {
			return err
		}
	}
}
