// Package sqlstore stores the inventory in SQL through gorm, on MySQL/MariaDB or on SQLite
// (pure Go, one file; see internal/sqldb): it implements inventory.Store and inventory.StockTx
// over the tables goods and stock_sell_details, and applies their migrations
// (migrations.Inventory or migrations.InventorySQLite) with goose. Every repository method is
// shared by both dialects; the one statement that differs (the goods upsert) switches on the
// dialect in place.
//
// Writes are plain SQL so the conditions they rely on are visible: stock is deducted with
// "UPDATE … SET stock = stock - ? WHERE id = ? AND stock >= ?" and a sell record moves to returned
// with "… WHERE order_sn = ? AND status = 1", both checked by rows affected (MySQL counts changed
// rows; SQLite matched rows, the same here since both statements change what they match).
// A sell's records and its deduction go as one multi-statement round trip on MySQL
// (RecordAndDeduct, "INSERT …; UPDATE …"; the pool enables multiStatements, and every statement
// is constant text whose arguments the driver escapes), optionally guarded by the goods' name
// (compared byte for byte) and price; DeductAll takes the same guard.
// A coalesced sell whose sum does not fit locks the goods row ("SELECT stock, name, price_cents …
// FOR UPDATE", so the caller can check the name and price its records carry; SQLite
// holds its write lock already) and removes, before commit, the records it inserted for the orders
// that do not fit (DeleteSellDetails); committed records are never deleted.
// Transactions run at READ COMMITTED on MySQL, so every read sees the latest committed state and
// no gap locks are taken, and a transaction chosen as a deadlock victim is run again. On SQLite
// transactions run one at a time.
//
// Callers never see *gorm.DB. The package must not import the transport or the broker client.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
	"github.com/shopsaga/shopsaga/migrations"
)

// maxTxAttempts bounds how often InTx runs a transaction that keeps losing deadlocks.
const maxTxAttempts = 5

// Options tune Open. Exactly one of MySQLDSN and SQLitePath must be set.
type Options struct {
	// MySQLDSN is a go-sql-driver/mysql DSN naming the database.
	MySQLDSN string
	// SQLitePath is the SQLite database file, created if missing.
	SQLitePath string
	// MaxOpenConns caps MySQL's connection pool (default 20). Every concurrent request holds one
	// connection for the length of its transaction; the cap keeps a burst from exhausting the
	// server's max_connections. SQLite always uses one connection.
	MaxOpenConns int
	// Logger receives gorm's messages (default slog.Default()).
	Logger *slog.Logger
	// LogSQL logs every statement at debug level.
	LogSQL bool
}

// Store is the inventory.Store on MySQL/MariaDB or SQLite. It is safe for concurrent use.
type Store struct {
	db  *gorm.DB
	sql *sqldb.DB
}

var _ inventory.Store = (*Store)(nil)

// NormalizeDSN parses a go-sql-driver/mysql DSN and sets what the package relies on: parseTime
// (DATETIME columns scan into time.Time) in UTC, and client-side parameter interpolation (one
// round trip per statement instead of prepare + execute + close).
func NormalizeDSN(dsn string) (string, error) { return sqldb.NormalizeMySQLDSN(dsn) }

// Open connects to the database opts name and checks that it answers. It does not migrate: call
// Migrate.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 20
	}
	if opts.MySQLDSN != "" {
		// RecordAndDeduct sends two statements in one round trip. Every statement of this
		// package is a constant text with ? placeholders whose arguments the driver escapes
		// (interpolateParams), so no input can add a statement.
		cfg, err := mysqldriver.ParseDSN(opts.MySQLDSN)
		if err != nil {
			return nil, fmt.Errorf("parse mysql dsn: %w", err)
		}
		cfg.MultiStatements = true
		opts.MySQLDSN = cfg.FormatDSN()
	}
	db, err := sqldb.Open(ctx, sqldb.Options{
		MySQLDSN: opts.MySQLDSN, SQLitePath: opts.SQLitePath, MaxOpenConns: opts.MaxOpenConns,
		Logger: opts.Logger, LogSQL: opts.LogSQL,
	})
	if err != nil {
		return nil, err
	}
	return &Store{db: db.Gorm, sql: db}, nil
}

// Dialect reports which database the store is on.
func (s *Store) Dialect() sqldb.Dialect { return s.sql.Dialect }

// Close closes the connection pool.
func (s *Store) Close() error { return s.sql.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.sql.Ping(ctx) }

// Migrate applies the pending inventory migrations of the store's dialect and logs each one;
// instances starting together take turns (see sqldb.DB.Migrate).
func (s *Store) Migrate(ctx context.Context, log *slog.Logger) error {
	return s.sql.Migrate(ctx, migrationSet, log)
}

// migrationSet is the inventory database's migrations in both dialects.
var migrationSet = sqldb.Migrations{MySQL: migrations.Inventory, SQLite: migrations.InventorySQLite}

// SaveGoods implements inventory.Store.
func (s *Store) SaveGoods(ctx context.Context, g inventory.Goods) (bool, error) {
	if s.sql.Dialect == sqldb.SQLite {
		return s.saveGoodsSQLite(ctx, g)
	}
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

// saveGoodsSQLite is SaveGoods on SQLite, whose upsert counts one changed row either way: an
// insert that does nothing on a conflict tells whether the row is new, and an update follows if
// it was not, in one transaction.
func (s *Store) saveGoodsSQLite(ctx context.Context, g inventory.Goods) (created bool, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec(`INSERT INTO goods (id, name, price_cents, stock) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			g.ID, g.Name, g.PriceCents, g.Stock)
		if res.Error != nil || res.RowsAffected == 1 {
			created = res.RowsAffected == 1
			return res.Error
		}
		return tx.Exec(`UPDATE goods SET name = ?, price_cents = ?, stock = ? WHERE id = ?`,
			g.Name, g.PriceCents, g.Stock, g.ID).Error
	}, s.sql.TxOptions())
	return created, err
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
			return fn(stockTx{db: gtx, dialect: s.sql.Dialect})
		}, s.sql.TxOptions())
		if !sqldb.IsRetryable(err) || attempt == maxTxAttempts {
			return err
		}
		// The whole transaction was rolled back (an InnoDB deadlock victim, or SQLite busy); run it again after a short random pause so
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
	db      *gorm.DB
	dialect sqldb.Dialect
}

var _ inventory.StockTx = stockTx{}

func (t stockTx) Deduct(ctx context.Context, goodsID, num int64) (bool, error) {
	res := t.db.WithContext(ctx).Exec(
		`UPDATE goods SET stock = stock - ? WHERE id = ? AND stock >= ?`, num, goodsID, num)
	return res.RowsAffected == 1, res.Error
}

// DeductAll implements inventory.StockTx: "UPDATE goods SET stock = stock - CASE id … END WHERE
// id IN (…) AND stock >= CASE id … END", checked by rows affected. The primary key is scanned in
// ascending id order, the lock order of every transaction.
//
// asSold, when not nil, adds RecordAndDeduct's guard: each row must still have that name (byte
// for byte) and price.
func (t stockTx) DeductAll(ctx context.Context, items []inventory.Item, asSold []inventory.Goods) (bool, error) {
	if len(items) == 0 || asSold != nil && len(asSold) != len(items) {
		return false, fmt.Errorf("deduct: %d items, %d goods: want at least one item, and a goods per item", len(items), len(asSold))
	}
	q, args := t.guardedDeductSQL(items, asSold)
	res := t.db.WithContext(ctx).Exec(q, args...)
	return res.RowsAffected == int64(len(items)), res.Error
}

// guardedDeductSQL is deductSQL's UPDATE of items, with guardSQL's condition when asSold is not nil.
func (t stockTx) guardedDeductSQL(items []inventory.Item, asSold []inventory.Goods) (string, []any) {
	q, args := deductSQL(items)
	if asSold != nil {
		guard, guardArgs := t.guardSQL(asSold)
		q, args = q+guard, append(args, guardArgs...)
	}
	return q, args
}

// guardSQL is the condition, appended to deductSQL's UPDATE of the same goods, that each row
// still has the name and price of asSold.
func (t stockTx) guardSQL(asSold []inventory.Goods) (string, []any) {
	nameEq := func(v string) string { return ` AND CAST(name AS BINARY) = CAST(` + v + ` AS BINARY)` }
	if t.dialect == sqldb.SQLite { // = compares text byte for byte unless told otherwise
		nameEq = func(v string) string { return ` AND name = ` + v }
	}
	if len(asSold) == 1 {
		return nameEq("?") + ` AND price_cents = ?`, []any{asSold[0].Name, asSold[0].PriceCents}
	}
	var names, prices strings.Builder
	names.WriteString("CASE id")
	prices.WriteString("CASE id")
	nameArgs := make([]any, 0, 2*len(asSold))
	priceArgs := make([]any, 0, 2*len(asSold))
	for _, g := range asSold {
		names.WriteString(" WHEN ? THEN ?")
		prices.WriteString(" WHEN ? THEN ?")
		nameArgs = append(nameArgs, g.ID, g.Name)
		priceArgs = append(priceArgs, g.ID, g.PriceCents)
	}
	names.WriteString(" END")
	prices.WriteString(" END")
	return nameEq(names.String()) + ` AND price_cents = ` + prices.String(), append(nameArgs, priceArgs...)
}

// deductSQL is the conditional UPDATE that deducts items (distinct goods): Deduct's statement
// for one, DeductAll's for more. Each row it changes is one item that fit.
func deductSQL(items []inventory.Item) (string, []any) {
	if len(items) == 1 {
		return `UPDATE goods SET stock = stock - ? WHERE id = ? AND stock >= ?`,
			[]any{items[0].Num, items[0].GoodsID, items[0].Num}
	}
	var cases strings.Builder
	cases.WriteString("CASE id")
	caseArgs := make([]any, 0, 2*len(items))
	ids := make([]int64, len(items))
	for i, it := range items {
		cases.WriteString(" WHEN ? THEN ?")
		caseArgs = append(caseArgs, it.GoodsID, it.Num)
		ids[i] = it.GoodsID
	}
	cases.WriteString(" END")
	args := append(append(append([]any(nil), caseArgs...), ids), caseArgs...)
	return `UPDATE goods SET stock = stock - ` + cases.String() + ` WHERE id IN ? AND stock >= ` + cases.String(), args
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
	if sqldb.IsDuplicateKey(err) {
		return inventory.ErrSellDetailExists
	}
	return err
}

// InsertSellDetails implements inventory.StockTx: one multi-row INSERT. A duplicate key fails the
// statement alone (MySQL and SQLite roll back the statement, not the transaction).
func (t stockTx) InsertSellDetails(ctx context.Context, ds []inventory.SellDetail) error {
	if len(ds) == 0 {
		return nil
	}
	q, args, err := insertSellDetailsSQL(ds)
	if err != nil {
		return err
	}
	return t.execInsert(ctx, q, args)
}

// execInsert runs an INSERT of sell records, reporting a duplicate order as
// inventory.ErrSellDetailExists.
func (t stockTx) execInsert(ctx context.Context, q string, args []any) error {
	err := t.db.WithContext(ctx).Exec(q, args...).Error
	if sqldb.IsDuplicateKey(err) {
		return inventory.ErrSellDetailExists
	}
	return err
}

// insertSellDetailsSQL is the multi-row INSERT of ds (at least one).
func insertSellDetailsSQL(ds []inventory.SellDetail) (string, []any, error) {
	var q strings.Builder
	q.WriteString(`INSERT INTO stock_sell_details (order_sn, status, detail) VALUES `)
	args := make([]any, 0, 3*len(ds))
	for i, d := range ds {
		detail, err := encodeItems(d.Items)
		if err != nil {
			return "", nil, err
		}
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?)")
		args = append(args, d.OrderSN, int8(d.Status), detail)
	}
	return q.String(), args, nil
}

// RecordAndDeduct implements inventory.StockTx. On MySQL it sends the multi-row INSERT and the
// conditional UPDATE (Deduct's for one goods, DeductAll's for more) as one multi-statement round
// trip ("INSERT …; UPDATE …", see multiStatements in Open): the server runs the UPDATE only if the
// INSERT succeeded, it stops at the first error, and the result's rows affected are the last
// statement's, the UPDATE's. On SQLite the two statements run one after the other, which costs
// no round trip.
//
// The guard of asSold compares the name byte for byte (the column's collation would take "Tea"
// for "tea"), and the price.
//
// Nothing partial is undone here: when the INSERT succeeded and the UPDATE failed (a lock wait
// timeout, a trigger, a lost connection), the records stay in the transaction and the error is
// returned; the caller must roll back, as inventory.StockTx says (a savepoint would cost a round
// trip on every sell to save one on a failure that rolls back anyway).
func (t stockTx) RecordAndDeduct(ctx context.Context, ds []inventory.SellDetail, items []inventory.Item, asSold []inventory.Goods) (bool, error) {
	if len(ds) == 0 || len(items) == 0 || asSold != nil && len(asSold) != len(items) {
		return false, fmt.Errorf("record and deduct: %d records, %d items, %d goods: want at least one record and item, and a goods per item",
			len(ds), len(items), len(asSold))
	}
	insert, insertArgs, err := insertSellDetailsSQL(ds)
	if err != nil {
		return false, err
	}
	if t.dialect == sqldb.SQLite {
		if err := t.execInsert(ctx, insert, insertArgs); err != nil {
			return false, err
		}
		return t.DeductAll(ctx, items, asSold)
	}
	update, updateArgs := t.guardedDeductSQL(items, asSold)
	res := t.db.WithContext(ctx).Exec(insert+"; "+update, append(insertArgs, updateArgs...)...)
	if sqldb.IsDuplicateKey(res.Error) {
		return false, inventory.ErrSellDetailExists
	}
	return res.RowsAffected == int64(len(items)), res.Error
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

// LockStock implements inventory.StockTx: "SELECT stock, name, price_cents … FOR UPDATE", a
// locking read, so it sees the latest committed row even under READ COMMITTED and nobody can
// change the row until the transaction ends. SQLite has no FOR UPDATE and needs none: its
// transactions hold the database's write lock from BEGIN IMMEDIATE.
func (t stockTx) LockStock(ctx context.Context, goodsID int64) (inventory.Goods, bool, error) {
	q := `SELECT stock, name, price_cents FROM goods WHERE id = ? FOR UPDATE`
	if t.dialect == sqldb.SQLite {
		q = `SELECT stock, name, price_cents FROM goods WHERE id = ?`
	}
	rows, err := t.db.WithContext(ctx).Raw(q, goodsID).Rows()
	if err != nil {
		return inventory.Goods{}, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return inventory.Goods{}, false, rows.Err()
	}
	g := inventory.Goods{ID: goodsID}
	if err := rows.Scan(&g.Stock, &g.Name, &g.PriceCents); err != nil {
		return inventory.Goods{}, false, err
	}
	return g, true, rows.Err()
}

// DeleteSellDetails implements inventory.StockTx.
func (t stockTx) DeleteSellDetails(ctx context.Context, orderSNs []string) error {
	if len(orderSNs) == 0 {
		return nil
	}
	return t.db.WithContext(ctx).Exec(`DELETE FROM stock_sell_details WHERE order_sn IN ?`, orderSNs).Error
}

// goods reads the goods among ids. It scans the rows itself instead of through gorm's Find: it
// is on every sell's path, and gorm's reflection cost more CPU than the query.
func goods(db *gorm.DB, ids []int64) ([]inventory.Goods, error) {
	rows, err := db.Raw(`SELECT id, name, price_cents, stock, created_at, updated_at FROM goods WHERE id IN ?`, ids).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]inventory.Goods, 0, len(ids))
	for rows.Next() {
		var g inventory.Goods
		if err := rows.Scan(&g.ID, &g.Name, &g.PriceCents, &g.Stock, &g.CreatedAt, &g.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
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
