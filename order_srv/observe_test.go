//go:build !race

package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqldb"
)

// The saga tests' view of the observability: an order's timeline over HTTP and the services'
// /metrics.

// timelineSteps returns the step names of order sn's timeline at orderURL.
func timelineSteps(t testing.TB, orderURL, sn string) []string {
	t.Helper()
	st, body := call(t, "GET", orderURL+"/v1/orders/"+sn+"/timeline", nil)
	if st != http.StatusOK {
		t.Fatalf("timeline of %s: %d %v", sn, st, body)
	}
	var out []string
	for _, s := range body["steps"].([]any) {
		out = append(out, s.(map[string]any)["step"].(string))
	}
	return out
}

// settleWithin bounds how long the timeline and the metrics may lag behind what the tests
// observe (a step or a counter is written just after the effect a test waits for).
const settleWithin = 10 * time.Second

// wantTimeline checks order sn's timeline (waiting up to settleWithin for it), and that its
// page renders.
func wantTimeline(t testing.TB, orderURL, sn string, want ...string) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(settleWithin); ; time.Sleep(50 * time.Millisecond) {
		if got = timelineSteps(t, orderURL, sn); slices.Equal(got, want) || time.Now().After(deadline) {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("timeline of %s:\n got %v\nwant %v", sn, got, want)
	}
	// As a browser opens it from the broker console: the token in the query.
	resp, err := httpClient.Get(orderURL + "/v1/orders/" + sn + "/timeline/page?access_token=" + strings.TrimPrefix(adminToken(t), "Bearer "))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), want[len(want)-1]) {
		t.Errorf("timeline page of %s: %d\n%s", sn, resp.StatusCode, page)
	}
}

// metric scrapes url's /metrics and returns the value of one series, written as in the
// exposition (`name{label="v",…}` with labels sorted), or -1 if it is absent.
func metric(t testing.TB, url, series string) float64 {
	t.Helper()
	resp, err := httpClient.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %d %v", url, resp.StatusCode, err)
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %q is not a number", series, v)
			}
			return f
		}
	}
	return -1
}

// wantMetrics checks series → value at url, waiting up to settleWithin for all to match.
func wantMetrics(t testing.TB, url string, want map[string]float64) {
	t.Helper()
	wrong := map[string]float64{}
	for deadline := time.Now().Add(settleWithin); ; time.Sleep(50 * time.Millisecond) {
		clear(wrong)
		for series, v := range want {
			if got := metric(t, url, series); got != v {
				wrong[series] = got
			}
		}
		if len(wrong) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for series, got := range wrong {
		t.Errorf("%s/metrics: %s = %v, want %v", url, series, got, want[series])
	}
}

// sagaSNs lists the order numbers that have a timeline in the order database (an order whose
// saga failed is answered without its number).
func (s *system) sagaSNs() []string {
	s.t.Helper()
	db, err := sqldb.Open(context.Background(), sqldb.Options{MySQLDSN: s.orderDB.MySQLDSN, SQLitePath: s.orderDB.SQLitePath, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.SQL.Query(`SELECT DISTINCT order_sn FROM order_saga_steps ORDER BY order_sn`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sn string
		if err := rows.Scan(&sn); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, sn)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// onlySagaSN returns the one order number with a timeline.
func (s *system) onlySagaSN() string {
	s.t.Helper()
	sns := s.sagaSNs()
	if len(sns) != 1 {
		s.t.Fatalf("orders with a timeline: %v, want one", sns)
	}
	return sns[0]
}
