//go:build unix

package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/shopsaga/shopsaga/internal/sqldb"
)

// check is one invariant's verdict.
type check struct {
	name   string
	ok     bool
	detail string
}

// state is what the stores hold at the end.
type state struct {
	orders  map[string]orderState
	stock   map[int64]int64
	sells   map[string]int // order_sn → status (1 deducted, 2 returned)
	pending int            // undecided half messages
}

type orderState struct {
	status       string
	paid, closed bool
	items        map[int64]int64
}

func readState(ctx context.Context, orderDB, invDB sqldb.Options, adminURL string) (state, error) {
	st := state{orders: map[string]orderState{}, stock: map[int64]int64{}, sells: map[string]int{}}
	odb, err := sqldb.Open(ctx, orderDB)
	if err != nil {
		return st, err
	}
	defer odb.Close()
	if err := scan(ctx, odb.SQL, `SELECT order_sn, status, paid_at IS NOT NULL, closed_at IS NOT NULL FROM orders`, func(r *sql.Rows) error {
		var sn string
		var o orderState
		if err := r.Scan(&sn, &o.status, &o.paid, &o.closed); err != nil {
			return err
		}
		o.items = map[int64]int64{}
		st.orders[sn] = o
		return nil
	}); err != nil {
		return st, err
	}
	if err := scan(ctx, odb.SQL, `SELECT order_sn, goods_id, num FROM order_items`, func(r *sql.Rows) error {
		var sn string
		var g, n int64
		if err := r.Scan(&sn, &g, &n); err != nil {
			return err
		}
		if o, ok := st.orders[sn]; ok {
			o.items[g] += n
		}
		return nil
	}); err != nil {
		return st, err
	}
	idb, err := sqldb.Open(ctx, invDB)
	if err != nil {
		return st, err
	}
	defer idb.Close()
	if err := scan(ctx, idb.SQL, `SELECT id, stock FROM goods`, func(r *sql.Rows) error {
		var id, n int64
		if err := r.Scan(&id, &n); err != nil {
			return err
		}
		st.stock[id] = n
		return nil
	}); err != nil {
		return st, err
	}
	if err := scan(ctx, idb.SQL, `SELECT order_sn, status FROM stock_sell_details`, func(r *sql.Rows) error {
		var sn string
		var s int
		if err := r.Scan(&sn, &s); err != nil {
			return err
		}
		st.sells[sn] = s
		return nil
	}); err != nil {
		return st, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/api/transactions", nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("undecided half messages: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, err
	}
	var halves []json.RawMessage
	if err := json.Unmarshal(raw, &halves); err != nil {
		return st, fmt.Errorf("undecided half messages: %w (%.200s)", err, raw)
	}
	st.pending = len(halves)
	return st, nil
}

func scan(ctx context.Context, db *sql.DB, q string, row func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// verify checks every invariant of the campaign on st.
func verify(st state, initial map[int64]int64, led *ledger) []check {
	var out []check
	add := func(name string, bad []string) {
		sort.Strings(bad)
		c := check{name: name, ok: len(bad) == 0, detail: "ok"}
		if !c.ok {
			c.detail = fmt.Sprintf("%d: %s", len(bad), strings.Join(bad[:min(len(bad), 5)], "; "))
		}
		out = append(out, c)
	}
	sold := map[int64]int64{}
	var waiting, both []string
	for sn, o := range st.orders {
		if o.status == "TRADE_SUCCESS" {
			for g, n := range o.items {
				sold[g] += n
			}
		}
		if o.status == "WAIT_BUYER_PAY" {
			waiting = append(waiting, sn)
		}
		if o.paid && o.closed {
			both = append(both, sn)
		}
	}
	var stockBad []string
	for g, init := range initial {
		if init-st.stock[g] != sold[g] {
			stockBad = append(stockBad, fmt.Sprintf("sku %d: initial %d − remaining %d = %d, paid orders hold %d", g, init, st.stock[g], init-st.stock[g], sold[g]))
		}
	}
	add("per SKU: initial − remaining = pieces of paid orders", stockBad)
	add("every order paid or closed (none waiting)", waiting)
	add("no order both paid and closed", both)
	led.mu.Lock()
	var unpaid, lost []string
	for sn := range led.paid {
		if st.orders[sn].status != "TRADE_SUCCESS" {
			unpaid = append(unpaid, sn+" is "+st.orders[sn].status)
		}
	}
	for sn := range led.created {
		if _, ok := st.orders[sn]; !ok {
			lost = append(lost, sn)
		}
	}
	led.mu.Unlock()
	add("payment answered success ⇒ paid", unpaid)
	add("order answered 201 ⇒ order exists", lost)
	var sellBad []string
	for sn, s := range st.sells {
		paid := st.orders[sn].status == "TRADE_SUCCESS"
		if (s == 1) != paid {
			sellBad = append(sellBad, fmt.Sprintf("%s: sell status %d, order %q", sn, s, st.orders[sn].status))
		}
	}
	for sn, o := range st.orders {
		if _, ok := st.sells[sn]; !ok && o.status == "TRADE_SUCCESS" {
			sellBad = append(sellBad, sn+": paid without a sell record")
		}
	}
	add("sell records agree with orders (deducted ⇔ paid)", sellBad)
	var halves []string
	if st.pending > 0 {
		halves = append(halves, fmt.Sprintf("%d undecided", st.pending))
	}
	add("no undecided half message", halves)
	return out
}
