package inventory_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/sqlstore"
)

// BenchmarkSellCost measures what one sell costs the database and this process, as in the
// saga's load (one piece of one of 50 goods per order, 16 concurrent sellers), against a MariaDB
// server of your own: INVENTORY_BENCH_MYSQL_DSN names a user that may create databases (no
// database: user:pw@tcp(host:port)/), INVENTORY_BENCH_DB_PID the server's process id on this
// machine (optional). It reports per sell: the round trips of the store's connections
// (roundtrips), the server's CPU (db-ms), this process's CPU (inv-ms, the use case, the store
// and the driver; no HTTP), and from SHOW GLOBAL STATUS the statements (a multi-statement
// counts each), commits and InnoDB fsyncs (the server must be otherwise idle). one_by_one is every sell in its
// own transaction (WithMaxSellBatch(1)), coalesced the default, in the same run.
func BenchmarkSellCost(b *testing.B) {
	dsn := os.Getenv("INVENTORY_BENCH_MYSQL_DSN")
	if dsn == "" {
		b.Skip("INVENTORY_BENCH_MYSQL_DSN is not set")
	}
	b.Run("one_by_one", func(b *testing.B) { benchmarkSellCost(b, dsn, 1) })
	b.Run("coalesced", func(b *testing.B) { benchmarkSellCost(b, dsn, inventory.DefaultMaxSellBatch) })
}

func benchmarkSellCost(b *testing.B, dsn string, maxBatch int) {
	const skus, sellers = 50, 16
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		b.Fatal(err)
	}
	root, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	const dbName = "bench_inventory_sell_cost"
	for _, q := range []string{"DROP DATABASE IF EXISTS " + dbName, "CREATE DATABASE " + dbName} {
		if _, err := root.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	cfg.DBName = dbName
	// The store's connections count the commands they send: each is one round trip.
	var roundTrips atomic.Int64
	network := fmt.Sprintf("inventory-bench-%d", maxBatch)
	mysql.RegisterDialContext(network, func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, writes: &roundTrips}, nil
	})
	cfg.Net = network
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.Options{MySQLDSN: cfg.FormatDSN()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		b.Fatal(err)
	}
	svc := inventory.NewService(st, slog.New(slog.DiscardHandler), inventory.WithMaxSellBatch(maxBatch))
	for id := int64(1); id <= skus; id++ {
		g, err := inventory.NewGoods(id, fmt.Sprintf("goods %d", id), 100, inventory.MaxStock)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := svc.PutGoods(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
	dbPID, _ := strconv.Atoi(os.Getenv("INVENTORY_BENCH_DB_PID"))
	var orders atomic.Int64
	db0, self0, st0, rt0 := processCPU(b, dbPID), selfCPU(), globalStatus(b, root), roundTrips.Load()
	b.SetParallelism((sellers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := orders.Add(1)
			req := inventory.SellRequest{OrderSN: fmt.Sprintf("cost-%d", n),
				Items: []inventory.Item{{GoodsID: 1 + (n*7919)%skus, Num: 1}}}
			if _, err := svc.Sell(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	db1, self1, st1, rt1 := processCPU(b, dbPID), selfCPU(), globalStatus(b, root), roundTrips.Load()
	per := func(v float64) float64 { return v / float64(b.N) }
	b.ReportMetric(per(float64(rt1-rt0)), "roundtrips/op")
	if dbPID > 0 {
		b.ReportMetric(per(db1-db0)*1000, "db-ms/op")
	}
	b.ReportMetric(per(self1-self0)*1000, "inv-ms/op")
	for _, m := range []struct{ status, unit string }{
		{"Questions", "statements/op"}, {"Com_commit", "commits/op"}, {"Innodb_data_fsyncs", "fsyncs/op"},
	} {
		b.ReportMetric(per(float64(st1[m.status]-st0[m.status])), m.unit)
	}
}

// countingConn counts the writes to a connection to the server: the driver writes each
// command (a query, a multi-statement, a COMMIT) with one write, and reads its answer before
// the next, so every write is a round trip.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// processCPU is the user + system CPU seconds of process pid so far (0 when pid is 0).
func processCPU(b *testing.B, pid int) float64 {
	if pid <= 0 {
		return 0
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // f[11], f[12]: utime, stime in ticks
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return (utime + stime) / 100 // USER_HZ
}

// selfCPU is this process's user + system CPU seconds so far.
func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// globalStatus reads the server's counters.
func globalStatus(b *testing.B, db *sql.DB) map[string]int64 {
	rows, err := db.Query("SHOW GLOBAL STATUS")
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			b.Fatal(err)
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			m[k] = n
		}
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return m
}
