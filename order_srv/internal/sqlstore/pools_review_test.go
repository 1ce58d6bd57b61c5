package sqlstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/sqlstore"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// On MySQL the two pools share MaxOpenConns (the local transaction's gets half, rounded up),
// readiness pings both, and LogSQL logs the local transaction's round trip too.
func TestReview_onMySQL_thePoolsShareMaxOpenConns_arePinged_andLogged(t *testing.T) {
	db := sqltest.New(t, sqldb.MySQL, sqltest.Order)
	ctx := context.Background()
	var logs syncBuffer
	for _, c := range []struct{ total, main, multi int }{{32, 16, 16}, {5, 2, 3}, {1, 1, 1}} {
		s, err := sqlstore.Open(ctx, sqlstore.Options{MySQLDSN: db.MySQLDSN, MaxOpenConns: c.total,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)), LogSQL: true})
		if err != nil {
			t.Fatal(err)
		}
		if main, multi := sqlstore.MaxOpenConns(s); main != c.main || multi != c.multi {
			t.Errorf("MaxOpenConns %d: pools of %d and %d connections, want %d and %d", c.total, main, multi, c.main, c.multi)
		}
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
		if c.total == 32 {
			o := newOrder(t, 1)
			if err := s.CommitOrder(ctx, o, app.CommitOptions{Steps: []app.SagaStep{app.NewSagaStep(app.StepLocalCommitted, "", t0)}}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs.String(), "local transaction pool") || !strings.Contains(logs.String(), "INSERT INTO tx_barriers") {
				t.Errorf("LogSQL did not log the local transaction's round trip:\n%s", logs.String())
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); err == nil {
			t.Error("Ping after Close succeeded")
		}
	}
}

// A real data error (MariaDB 1406, SQLSTATE 22001: a detail too long for its column) among
// concurrent Records fails only its own write, whether or not it shared a grouped INSERT: the
// writer retries a group alone only for such errors, and must recognise the server's.
func TestReview_onMySQL_aRowTooLong_amongConcurrentRecords_failsAlone(t *testing.T) {
	db := sqltest.New(t, sqldb.MySQL, sqltest.Order)
	s := newStore(t, db)
	ctx := context.Background()
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			detail := ""
			if i == n/2 {
				detail = strings.Repeat("x", 600)
			}
			errs[i] = s.Record(ctx, newOrder(t, int64(i+1)).SN, app.SagaStep{Step: app.StepHalfSent, Detail: detail, At: t0}) // NewSagaStep would cut the detail
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (i == n/2) != (err != nil) {
			t.Errorf("Record %d = %v", i, err)
		}
	}
	t.Logf("%d INSERTs for %d Records", sqlstore.StepInserts(s), n)
}
