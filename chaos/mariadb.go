//go:build unix

package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqldb"
)

// mariadb is the database server of a -db mariadb campaign: a Docker container of the offline
// image (deploy/mariadb), published on a fixed loopback port so that it keeps its address across
// kill -9 and restart. Its data stays in the container between restarts.
type mariadb struct {
	name     string
	image    string
	port     int
	password string
}

func (m *mariadb) docker(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (m *mariadb) dsn(db string) string {
	return fmt.Sprintf("root:%s@tcp(127.0.0.1:%d)/%s", m.password, m.port, db)
}

// start runs the container and waits until both databases exist.
func (m *mariadb) start(ctx context.Context) error {
	if err := m.docker(ctx, "run", "-d", "--name", m.name, "-p", fmt.Sprintf("127.0.0.1:%d:3306", m.port),
		"-e", "MARIADB_ROOT_PASSWORD="+m.password, m.image); err != nil {
		return err
	}
	return m.awaitReady(ctx, func(db *sql.DB) error {
		for _, name := range []string{"orders", "inventory"} {
			if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+name); err != nil {
				return err
			}
		}
		return nil
	})
}

// awaitReady polls the server until it answers (then runs then) or 90 s pass.
func (m *mariadb) awaitReady(ctx context.Context, then func(*sql.DB) error) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		db, err := sqldb.Open(ctx, sqldb.Options{MySQLDSN: m.dsn("mysql"), Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			err = then(db.SQL)
			_ = db.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mariadb %s not ready: %w", m.name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// kill9 kills the server with SIGKILL and starts it again (crash recovery on the same data).
func (m *mariadb) kill9(ctx context.Context) error {
	if err := m.docker(ctx, "kill", "--signal", "KILL", m.name); err != nil {
		return err
	}
	return m.docker(ctx, "start", m.name)
}

func (m *mariadb) pause(ctx context.Context, d time.Duration) error {
	if err := m.docker(ctx, "pause", m.name); err != nil {
		return err
	}
	time.Sleep(d) // the pause itself
	return m.docker(context.WithoutCancel(ctx), "unpause", m.name)
}

// ensureRunning unpauses and starts the container if a fault left it stopped.
func (m *mariadb) ensureRunning(ctx context.Context) {
	_ = m.docker(ctx, "unpause", m.name)
	_ = m.docker(ctx, "start", m.name)
}

func (m *mariadb) remove() { _ = m.docker(context.Background(), "rm", "-f", m.name) }
