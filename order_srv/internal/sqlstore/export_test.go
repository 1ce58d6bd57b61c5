package sqlstore

import (
	"context"
	"fmt"

	"github.com/shopsaga/shopsaga/internal/sqldb"
)

// CheckWaiting returns a function that reports whether a check-back barrier insert, started
// after CheckWaiting returned, is waiting for a local transaction in flight. On MySQL the server
// is executing it (MariaDB does not list an autocommit statement waiting for a row lock in
// INNODB_TRX, so the process list is the reliable view); on SQLite it is queued for the one
// connection, which the local transaction holds (the caller makes sure nothing else is).
func CheckWaiting(s *Store) func(ctx context.Context) (bool, error) {
	if s.sql.Dialect == sqldb.SQLite {
		before := s.sql.SQL.Stats().WaitCount
		return func(context.Context) (bool, error) { return s.sql.SQL.Stats().WaitCount > before, nil }
	}
	return func(ctx context.Context) (bool, error) {
		var n int
		err := s.sql.SQL.QueryRowContext(ctx,
			`SELECT COUNT(*) FROM information_schema.PROCESSLIST
			 WHERE DB = DATABASE() AND COMMAND = 'Query' AND INFO LIKE 'INSERT INTO tx\_barriers%''check''%'`).Scan(&n)
		return n > 0, err
	}
}

// DescribeTrx lists the server's InnoDB transactions and connections (on SQLite the pool's
// statistics), for failure messages.
func DescribeTrx(ctx context.Context, s *Store) string {
	if s.sql.Dialect == sqldb.SQLite {
		return fmt.Sprintf("%+v", s.sql.SQL.Stats())
	}
	var out string
	for _, q := range []string{
		`SELECT CONCAT_WS(' ', trx_id, trx_state, trx_mysql_thread_id, IFNULL(trx_query, '-')) FROM information_schema.INNODB_TRX`,
		`SELECT CONCAT_WS(' ', id, db, command, time, IFNULL(state, '-'), IFNULL(info, '-')) FROM information_schema.PROCESSLIST`,
	} {
		rows, err := s.sql.SQL.QueryContext(ctx, q)
		if err != nil {
			return err.Error()
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				return err.Error()
			}
			out += "\n" + line
		}
		rows.Close()
	}
	return out
}

// MaxOpenConns reports the connection caps of the store's pools: the main one and, on MySQL,
// the local transaction's (0 on SQLite).
func MaxOpenConns(s *Store) (main, multi int) {
	main = s.sql.SQL.Stats().MaxOpenConnections
	if s.multi != nil {
		multi = s.multi.Stats().MaxOpenConnections
	}
	return main, multi
}
