package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

var _ app.SagaStore = (*Store)(nil)

// Barrier operations, as stored in tx_barriers.op.
const (
	barrierLocal = "local"
	barrierCheck = "check"
)

// CommitOrder implements app.SagaStore. The barrier insert is the first statement, so from then
// on the transaction holds the barrier row's lock and a concurrent ResolveCheck waits for it.
//
// On MySQL it runs on the store's multi-statement pool (see openMulti). MySQL runs the statements
// of one round trip in order and stops at the first that fails, whose error the driver returns:
// a duplicate barrier stops the rest and is ErrBarrierTaken, as before. An order with no cart
// items to remove, no Idempotency-Key and no BeforeCommit is one round trip (commitOrderOneTrip:
// START TRANSACTION, the INSERTs of barrier, order, items and timeline steps, COMMIT); otherwise
// three or more (commitOrderMulti: START TRANSACTION, the INSERTs, the cart and key statements,
// COMMIT), instead of six or more.
func (s *Store) CommitOrder(ctx context.Context, o order.Order, opts app.CommitOptions) error {
	commit := s.commitOrder
	switch {
	case s.multi != nil && len(opts.RemoveCartItems) == 0 && opts.Idempotency == nil && opts.BeforeCommit == nil:
		commit = s.commitOrderOneTrip
	case s.multi != nil:
		commit = s.commitOrderMulti
	}
	for attempt := 1; ; attempt++ {
		err := commit(ctx, o, opts)
		if !sqldb.IsRetryable(err) || attempt == maxTxAttempts {
			return err
		}
	}
}

func (s *Store) commitOrder(ctx context.Context, o order.Order, opts app.CommitOptions) (err error) {
	tx := s.db.WithContext(ctx).Begin(s.sql.TxOptions())
	if tx.Error != nil {
		return fmt.Errorf("begin: %w", tx.Error)
	}
	committing := false
	defer func() {
		if !committing {
			err = errors.Join(err, ignoreDone(tx.Rollback().Error))
		}
	}()

	err = tx.Exec(`INSERT INTO tx_barriers (order_sn, op, created_at) VALUES (?, ?, ?)`,
		string(o.SN), barrierLocal, o.CreatedAt).Error
	if sqldb.IsDuplicateKey(err) {
		return fmt.Errorf("order %s: %w", o.SN, app.ErrBarrierTaken)
	}
	if err != nil {
		return fmt.Errorf("claim barrier: %w", err)
	}
	if err := insertOrder(tx, o); err != nil {
		return err
	}
	if err := insertSteps(tx, o.SN, opts.Steps); err != nil {
		return err
	}
	err = finishLocalTx(o, opts, func(q string, args ...any) (int64, error) {
		res := tx.Exec(q, args...)
		return res.RowsAffected, res.Error
	})
	if err != nil {
		return err
	}
	committing = true
	if err := tx.Commit().Error; err != nil {
		return fmt.Errorf("order %s: %w: %v", o.SN, app.ErrCommitUnknown, err)
	}
	return nil
}

// commitOrderOneTrip is the local transaction in one round trip: START TRANSACTION, the INSERTs
// of localTxSQL, COMMIT. The driver does not say which statement failed, so an error is read
// conservatively: a duplicate key comes from an INSERT (COMMIT did not run: ErrBarrierTaken), a
// deadlock rolled the transaction back (retried by CommitOrder); anything else may have come from
// the COMMIT or cut the round trip after it, so it is ErrCommitUnknown, settled by ResolveCheck.
// Until COMMIT ran the transaction is open on the connection and holds the barrier row, so after
// an error the connection is rolled back — or dropped, which makes the server roll back — before
// it goes back to the pool and before the caller's ResolveCheck.
func (s *Store) commitOrderOneTrip(ctx context.Context, o order.Order, opts app.CommitOptions) error {
	q, args, err := localTxSQL(o, opts.Steps)
	if err != nil {
		return err
	}
	conn, err := s.multi.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	q = "START TRANSACTION;\n" + q + ";\nCOMMIT"
	start := time.Now()
	_, err = conn.ExecContext(ctx, q, args...)
	s.logMultiSQL(ctx, q, len(args), start, err)
	if err == nil {
		return nil
	}
	rollbackOrDrop(conn)
	switch {
	case sqldb.IsDuplicateKey(err):
		return fmt.Errorf("order %s: %w", o.SN, app.ErrBarrierTaken)
	case sqldb.IsRetryable(err):
		return fmt.Errorf("local transaction: %w", err)
	}
	return fmt.Errorf("order %s: %w: %v", o.SN, app.ErrCommitUnknown, err)
}

// logMultiSQL logs one statement of the multi-statement pool when Options.LogSQL is set: its
// text, the number of its values (not the values), how long it took and its error.
func (s *Store) logMultiSQL(ctx context.Context, q string, values int, start time.Time, err error) {
	if s.logMulti == nil {
		return
	}
	s.logMulti.InfoContext(ctx, "sql (local transaction pool)", "sql", q, "values", values,
		"elapsed", time.Since(start), "err", err)
}

// rollbackOrDrop ends whatever transaction conn has open: ROLLBACK, or, if that fails, the
// connection is closed instead of going back to the pool (the server rolls back a transaction
// whose connection is gone).
func rollbackOrDrop(conn *sql.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // closes the connection
	}
}

// commitOrderMulti is commitOrder on MySQL's multi-statement pool.
func (s *Store) commitOrderMulti(ctx context.Context, o order.Order, opts app.CommitOptions) (err error) {
	q, args, err := localTxSQL(o, opts.Steps)
	if err != nil {
		return err
	}
	tx, err := s.multi.BeginTx(ctx, s.sql.TxOptions())
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	committing := false
	defer func() {
		if !committing {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	start := time.Now()
	_, err = tx.ExecContext(ctx, q, args...)
	s.logMultiSQL(ctx, q, len(args), start, err)
	if err != nil {
		// The barrier is the first statement and tx_barriers' key is the order number, as is
		// orders': a duplicate key here means the number was claimed before.
		if sqldb.IsDuplicateKey(err) {
			return fmt.Errorf("order %s: %w", o.SN, app.ErrBarrierTaken)
		}
		return fmt.Errorf("insert barrier, order, items and steps: %w", err)
	}
	err = finishLocalTx(o, opts, func(q string, args ...any) (int64, error) {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
	if err != nil {
		return err
	}
	committing = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("order %s: %w: %v", o.SN, app.ErrCommitUnknown, err)
	}
	return nil
}

// finishLocalTx runs what the local transaction does after its INSERTs, on either path: it
// removes the ordered cart rows, binds the Idempotency-Key to its outcome and calls the fault
// hook. exec runs one statement in the transaction and reports the rows it affected.
func finishLocalTx(o order.Order, opts app.CommitOptions, exec func(q string, args ...any) (int64, error)) error {
	for _, it := range opts.RemoveCartItems {
		// Only the row as it was ordered: one the user changed meanwhile stays.
		_, err := exec(`DELETE FROM cart_items WHERE user_id = ? AND goods_id = ? AND num = ? AND checked = ?`,
			o.UserID, it.GoodsID, it.Num, true)
		if err != nil {
			return fmt.Errorf("remove cart item %d: %w", it.GoodsID, err)
		}
	}
	if k := opts.Idempotency; k != nil {
		n, err := exec(`UPDATE idempotency_keys SET outcome = ?, updated_at = ?
			WHERE user_id = ? AND idem_key = ? AND order_sn = ? AND outcome = ''`,
			app.OutcomeCreated, o.CreatedAt, k.UserID, k.Key, string(o.SN))
		if err != nil {
			return fmt.Errorf("finish idempotency key: %w", err)
		}
		if n != 1 {
			return fmt.Errorf("finish idempotency key: no longer bound to order %s", o.SN)
		}
	}
	if opts.BeforeCommit != nil {
		return opts.BeforeCommit()
	}
	return nil
}

// localTxSQL is the one round trip of commitOrderMulti: the INSERTs of the barrier, the order,
// its items and the timeline steps, separated by semicolons, with their placeholders' values
// (escaped by the driver: interpolateParams). Only constants and placeholders make the text.
func localTxSQL(o order.Order, steps []app.SagaStep) (string, []any, error) {
	var q strings.Builder
	args := []any{string(o.SN), barrierLocal, o.CreatedAt}
	q.WriteString(`INSERT INTO tx_barriers (order_sn, op, created_at) VALUES (?, ?, ?)`)
	stmts := [][]any{}
	add := func(table string, columns []string, rows [][]any) error {
		if len(rows) == 0 {
			return nil
		}
		sq, sargs, err := insertSQL(table, columns, rows)
		if err != nil {
			return err
		}
		q.WriteString(";\n")
		q.WriteString(sq)
		stmts = append(stmts, sargs)
		return nil
	}
	r := newOrderRow(o)
	items := make([][]any, len(o.Items))
	for i, it := range o.Items {
		items[i] = []any{string(o.SN), it.GoodsID, it.Num, it.PriceCents}
	}
	srows, err := stepRows(o.SN, steps)
	if err != nil {
		return "", nil, err
	}
	svalues := make([][]any, len(srows))
	for i, sr := range srows {
		svalues[i] = stepValues(sr)
	}
	err = errors.Join(
		add("orders", orderColumns, [][]any{orderValues(r)}),
		add("order_items", itemColumns, items),
		add("order_saga_steps", stepColumns, svalues))
	if err != nil {
		return "", nil, err
	}
	for _, a := range stmts {
		args = append(args, a...)
	}
	return q.String(), args, nil
}

// ResolveCheck implements app.SagaStore. The INSERT runs on its own (autocommit): if a local
// transaction holds the row, InnoDB makes it wait for that transaction's end and then either
// succeeds (rolled back) or reports the duplicate (committed). On SQLite the INSERT waits for the
// one connection, which the local transaction holds until its end, with the same outcome.
func (s *Store) ResolveCheck(ctx context.Context, sn order.SN, now time.Time) (app.Resolution, error) {
	db := s.db.WithContext(ctx)
	err := db.Exec(`INSERT INTO tx_barriers (order_sn, op, created_at) VALUES (?, ?, ?)`,
		string(sn), barrierCheck, now.UTC()).Error
	if err == nil {
		return app.ResolvedAborted, nil
	}
	if !sqldb.IsDuplicateKey(err) {
		return 0, fmt.Errorf("claim barrier of %s: %w", sn, err)
	}
	var op string
	if err := db.Raw(`SELECT op FROM tx_barriers WHERE order_sn = ?`, string(sn)).Scan(&op).Error; err != nil {
		return 0, fmt.Errorf("read barrier of %s: %w", sn, err)
	}
	switch op {
	case barrierLocal:
		return app.ResolvedCommitted, nil
	case barrierCheck:
		return app.ResolvedAborted, nil
	}
	return 0, fmt.Errorf("barrier of %s holds %q", sn, op)
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
