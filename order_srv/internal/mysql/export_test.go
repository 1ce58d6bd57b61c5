package mysql

import "context"

// CountCheckInserts counts the check-back barrier inserts of s's database that the server is
// executing right now. (MariaDB does not list an autocommit statement waiting for a row lock in
// INNODB_TRX, so the process list is the reliable view.)
func CountCheckInserts(ctx context.Context, s *Store) (int, error) {
	var n int
	err := s.sql.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM information_schema.PROCESSLIST
		 WHERE DB = DATABASE() AND COMMAND = 'Query' AND INFO LIKE 'INSERT INTO tx\_barriers%''check''%'`).Scan(&n)
	return n, err
}

// DescribeTrx lists the server's InnoDB transactions and connections, for failure messages.
func DescribeTrx(ctx context.Context, s *Store) string {
	var out string
	for _, q := range []string{
		`SELECT CONCAT_WS(' ', trx_id, trx_state, trx_mysql_thread_id, IFNULL(trx_query, '-')) FROM information_schema.INNODB_TRX`,
		`SELECT CONCAT_WS(' ', id, db, command, time, IFNULL(state, '-'), IFNULL(info, '-')) FROM information_schema.PROCESSLIST`,
	} {
		rows, err := s.sql.QueryContext(ctx, q)
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
