package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/shopsaga/shopsaga/migrations"
)

// migrationLockWait is how long a starting instance waits for another one that is migrating the
// same database.
const migrationLockWait = 60 * time.Second

// Migrate applies the pending migrations of migrations.Inventory and logs each one.
//
// Instances starting at the same time take turns: each holds a MySQL named lock (GET_LOCK, named
// after the database) for its whole run, so only the first applies anything and the others find
// nothing pending. The lock is taken here rather than through goose's SessionLocker because
// goose (v3.28) checks for pending migrations, and creates its version table, before taking that
// lock, which lets a second instance read a half-created version table ("missing zero version
// migration"). The lock belongs to its connection: a crashed instance releases it by
// disconnecting.
func (s *Store) Migrate(ctx context.Context, log *slog.Logger) (err error) {
	conn, err := s.sql.Conn(ctx)
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

	p, err := newMigrator(s.sql)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx) // on other connections of the pool, which is why MaxOpenConns ≥ 2
	for _, r := range results {
		log.InfoContext(ctx, "applied migration", "file", r.Source.Path, "duration", r.Duration)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// newMigrator returns the goose provider of the inventory migrations on db.
func newMigrator(db *sql.DB) (*goose.Provider, error) {
	p, err := goose.NewProvider(goose.DialectMySQL, db, migrations.Inventory,
		goose.WithDisableGlobalRegistry(true), // SQL files only; no Go migrations registered in init()
	)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
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
