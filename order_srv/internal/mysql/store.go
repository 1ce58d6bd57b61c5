// Package mysql stores order_srv's data in MySQL/MariaDB through gorm: orders and their items,
// carts, the check-back barrier (tx_barriers) and Idempotency-Keys. It implements the
// repositories of internal/app and applies migrations.Order with goose.
//
// State changes are plain, visible SQL: the barrier is claimed with a plain INSERT whose
// duplicate key (MySQL error 1062) means "someone else decided first" (gorm's OnConflict
// DoNothing cannot be trusted on MariaDB ≥ 10.5, which reports RETURNING rows even on a
// conflict); status changes are compare-and-set updates ("… WHERE order_sn = ? AND status = ?")
// checked by rows affected. Transactions run at READ COMMITTED and go through closures or
// methods: callers never see *gorm.DB. The package must not import the transport or the broker
// client.
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// MySQL error numbers the package branches on.
const (
	errDuplicateEntry = 1062 // ER_DUP_ENTRY
	errLockDeadlock   = 1213 // ER_LOCK_DEADLOCK: the transaction was rolled back
)

// maxTxAttempts bounds how often a transaction that keeps losing deadlocks is run.
const maxTxAttempts = 4

// Options tune Open. The zero value is usable.
type Options struct {
	// MaxOpenConns caps the connection pool (default 32). Every order in flight holds one
	// connection for its local transaction.
	MaxOpenConns int
	// Logger receives gorm's messages (default slog.Default()).
	Logger *slog.Logger
	// LogSQL logs every statement.
	LogSQL bool
}

// Store implements the repositories of internal/app. It is safe for concurrent use.
type Store struct {
	db  *gorm.DB
	sql *sql.DB
}

// NormalizeDSN parses a go-sql-driver/mysql DSN and sets what the package relies on: parseTime
// in UTC and client-side parameter interpolation (one round trip per statement).
func NormalizeDSN(dsn string) (string, error) {
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("parse mysql dsn: %w", err)
	}
	if cfg.DBName == "" {
		return "", errors.New("mysql dsn names no database (…/dbname)")
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	return cfg.FormatDSN(), nil
}

// Open connects to the database of dsn and checks that it answers. It does not migrate: call
// Migrate.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	dsn, err := NormalizeDSN(dsn)
	if err != nil {
		return nil, err
	}
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 32
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	sqlDB, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	sqlDB.SetMaxOpenConns(opts.MaxOpenConns)
	sqlDB.SetMaxIdleConns(opts.MaxOpenConns)
	sqlDB.SetConnMaxLifetime(5 * time.Minute)
	sqlDB.SetConnMaxIdleTime(time.Minute)
	if err := sqlDB.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("connect to mysql: %w", err), sqlDB.Close())
	}
	level := logger.Silent // expected failures (duplicate keys, not found) are handled, not logged
	if opts.LogSQL {
		level = logger.Info
	}
	db, err := gorm.Open(gormmysql.New(gormmysql.Config{Conn: sqlDB}), &gorm.Config{
		Logger:                 logger.NewSlogLogger(opts.Logger, logger.Config{LogLevel: level}),
		SkipDefaultTransaction: true,
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open gorm: %w", err), sqlDB.Close())
	}
	return &Store{db: db, sql: sqlDB}, nil
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.sql.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.sql.PingContext(ctx) }

var readCommitted = &sql.TxOptions{Isolation: sql.LevelReadCommitted}

// inTx runs fn in a READ COMMITTED transaction, again when InnoDB picked it as a deadlock
// victim (it was rolled back entirely).
func (s *Store) inTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	for attempt := 1; ; attempt++ {
		err := s.db.WithContext(ctx).Transaction(fn, readCommitted)
		if !isMySQLError(err, errLockDeadlock) || attempt == maxTxAttempts {
			return err
		}
	}
}

func isMySQLError(err error, number uint16) bool {
	var me *mysqldriver.MySQLError
	return errors.As(err, &me) && me.Number == number
}
