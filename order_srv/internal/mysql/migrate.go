package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/shopsaga/shopsaga/migrations"
)

// migrationLockWait is how long a starting instance waits for another one migrating the same
// database.
const migrationLockWait = 60 * time.Second

// Migrate applies the pending migrations of migrations.Order and logs each one. Instances
// starting together take turns through a MySQL named lock (GET_LOCK) per database.
func (s *Store) Migrate(ctx context.Context, log *slog.Logger) error {
	p, err := goose.NewProvider(goose.DialectMySQL, s.sql, migrations.Order,
		goose.WithDisableGlobalRegistry(true), // SQL files only
		goose.WithSessionLocker(namedLock{wait: migrationLockWait}),
	)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	for _, r := range results {
		log.InfoContext(ctx, "applied migration", "file", r.Source.Path, "duration", r.Duration)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// namedLock is a goose.SessionLocker on GET_LOCK, named after the current database (lock names
// are server-wide). A crashed instance releases it by disconnecting.
type namedLock struct {
	wait time.Duration
}

func (l namedLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var got sql.NullInt64
	err := conn.QueryRowContext(ctx,
		`SELECT GET_LOCK(LEFT(CONCAT('goose:', DATABASE()), 64), ?)`, int(l.wait.Seconds())).Scan(&got)
	if err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("take migration lock: another instance held it for %v", l.wait)
	}
	return nil
}

func (l namedLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, `DO RELEASE_LOCK(LEFT(CONCAT('goose:', DATABASE()), 64))`); err != nil {
		return fmt.Errorf("release migration lock: %w", err)
	}
	return nil
}
