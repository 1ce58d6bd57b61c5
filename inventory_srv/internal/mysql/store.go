// Package mysql stores the inventory in MySQL/MariaDB through gorm: it implements
// inventory.Store and inventory.StockTx over the tables goods and stock_sell_details, and
// applies their migrations (migrations.Inventory) with goose.
//
// Writes are plain SQL so the conditions they rely on are visible: stock is deducted with
// "UPDATE … SET stock = stock - ? WHERE id = ? AND stock >= ?" and a sell record moves to returned
// with "… WHERE order_sn = ? AND status = 1", both checked by rows affected (MySQL counts changed
// rows). Transactions run at READ COMMITTED, so every read sees the latest committed state and
// no gap locks are taken, and a transaction chosen as a deadlock victim is run again.
//
// Callers never see *gorm.DB. The package must not import the transport or the broker client.
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

// MySQL error numbers the package branches on.
const (
	errDuplicateEntry = 1062 // ER_DUP_ENTRY
	errLockDeadlock   = 1213 // ER_LOCK_DEADLOCK: the transaction was rolled back
)

// maxTxAttempts bounds how often InTx runs a transaction that keeps losing deadlocks.
const maxTxAttempts = 5

// Options tune Open. The zero value is usable.
type Options struct {
	// MaxOpenConns caps the connection pool (default 20). Every concurrent request holds one
	// connection for the length of its transaction; the cap keeps a burst from exhausting the
	// server's max_connections.
	MaxOpenConns int
	// Logger receives gorm's messages (default slog.Default()).
	Logger *slog.Logger
	// LogSQL logs every statement at debug level.
	LogSQL bool
}

// Store is the inventory.Store on MySQL/MariaDB. It is safe for concurrent use.
type Store struct {
	db  *gorm.DB
	sql *sql.DB
}

var _ inventory.Store = (*Store)(nil)

// NormalizeDSN parses a go-sql-driver/mysql DSN and sets what the package relies on: parseTime
// (DATETIME columns scan into time.Time) in UTC, and client-side parameter interpolation (one
// round trip per statement instead of prepare + execute + close).
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
		opts.MaxOpenConns = 20
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
		_ = sqlDB.Close()
		return nil, fmt.Errorf("connect to mysql: %w", err)
	}

	level := logger.Silent // expected failures (duplicate keys) are handled, not logged
	if opts.LogSQL {
		level = logger.Info
	}
	db, err := gorm.Open(gormmysql.New(gormmysql.Config{Conn: sqlDB}), &gorm.Config{
		Logger:                 logger.NewSlogLogger(opts.Logger, logger.Config{LogLevel: level}),
		SkipDefaultTransaction: true, // single statements need no transaction of their own
	})
	if err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("open gorm: %w", err)
	}
	return &Store{db: db, sql: sqlDB}, nil
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.sql.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.sql.PingContext(ctx) }

// SaveGoods implements inventory.Store.
func (s *Store) SaveGoods(ctx context.Context, g inventory.Goods) (bool, error) {
	// Rows affected: 1 for an insert, 2 for an update that changed something, 0 for one that
	// did not (the driver does not set CLIENT_FOUND_ROWS).
	res := s.db.WithContext(ctx).Exec(
		`INSERT INTO goods (id, name, price_cents, stock) VALUES (?, ?, ?, ?)
		 ON DUPLICATE KEY UPDATE name = VALUES(name), price_cents = VALUES(price_cents), stock = VALUES(stock)`,
		g.ID, g.Name, g.PriceCents, g.Stock)
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected == 1, nil
}

// Goods implements inventory.Store.
func (s *Store) Goods(ctx context.Context, ids []int64) ([]inventory.Goods, error) {
	return goods(s.db.WithContext(ctx), ids)
}

// SellDetail implements inventory.Store.
func (s *Store) SellDetail(ctx context.Context, orderSN string) (inventory.SellDetail, error) {
	return sellDetail(s.db.WithContext(ctx), orderSN)
}

// InTx implements inventory.Store.
func (s *Store) InTx(ctx context.Context, fn func(tx inventory.StockTx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.db.WithContext(ctx).Transaction(func(gtx *gorm.DB) error {
			return fn(stockTx{db: gtx})
		}, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		if !isMySQLError(err, errLockDeadlock) || attempt == maxTxAttempts {
			return err
		}
		// InnoDB rolled the whole transaction back; run it again after a short random pause so
		// the contenders do not collide again in lockstep.
		pause := time.Duration(rand.Int64N(int64(attempt) * int64(5*time.Millisecond)))
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(pause):
		}
	}
}

// stockTx is inventory.StockTx on one gorm transaction.
type stockTx struct {
	db *gorm.DB
}

var _ inventory.StockTx = stockTx{}

func (t stockTx) Deduct(ctx context.Context, goodsID, num int64) (bool, error) {
	res := t.db.WithContext(ctx).Exec(
		`UPDATE goods SET stock = stock - ? WHERE id = ? AND stock >= ?`, num, goodsID, num)
	return res.RowsAffected == 1, res.Error
}

func (t stockTx) Restock(ctx context.Context, goodsID, num int64) (bool, error) {
	res := t.db.WithContext(ctx).Exec(`UPDATE goods SET stock = stock + ? WHERE id = ?`, num, goodsID)
	return res.RowsAffected == 1, res.Error
}

func (t stockTx) Goods(ctx context.Context, ids []int64) ([]inventory.Goods, error) {
	return goods(t.db.WithContext(ctx), ids)
}

func (t stockTx) InsertSellDetail(ctx context.Context, d inventory.SellDetail) error {
	detail, err := encodeItems(d.Items)
	if err != nil {
		return err
	}
	err = t.db.WithContext(ctx).Exec(
		`INSERT INTO stock_sell_details (order_sn, status, detail) VALUES (?, ?, ?)`,
		d.OrderSN, int8(d.Status), detail).Error
	if isMySQLError(err, errDuplicateEntry) {
		return inventory.ErrSellDetailExists
	}
	return err
}

func (t stockTx) MarkReturned(ctx context.Context, orderSN string) (bool, error) {
	res := t.db.WithContext(ctx).Exec(
		`UPDATE stock_sell_details SET status = ? WHERE order_sn = ? AND status = ?`,
		int8(inventory.StatusReturned), orderSN, int8(inventory.StatusDeducted))
	return res.RowsAffected == 1, res.Error
}

func (t stockTx) SellDetail(ctx context.Context, orderSN string) (inventory.SellDetail, error) {
	return sellDetail(t.db.WithContext(ctx), orderSN)
}

func goods(db *gorm.DB, ids []int64) ([]inventory.Goods, error) {
	var rows []goodsRow
	if err := db.Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]inventory.Goods, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

func sellDetail(db *gorm.DB, orderSN string) (inventory.SellDetail, error) {
	var row sellDetailRow
	err := db.Where("order_sn = ?", orderSN).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return inventory.SellDetail{}, inventory.ErrSellDetailNotFound
	}
	if err != nil {
		return inventory.SellDetail{}, err
	}
	return row.domain()
}

func isMySQLError(err error, number uint16) bool {
	var me *mysqldriver.MySQLError
	return errors.As(err, &me) && me.Number == number
}
