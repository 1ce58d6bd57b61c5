package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// timeouts: unpaid orders are closed by their payment timeout and their stock returned; a paid
// order's timeout changes nothing; a payment after the close is refused.
func (p *play) timeouts(ctx context.Context) error {
	a, n := p.a, p.n
	items := []line{{GoodsID: 1001, Num: 1}}
	before, err := p.stocks(ctx, 1001)
	if err != nil {
		return err
	}
	o, r, err := a.createOrder(ctx, p.request(items...), "", "")
	if err != nil {
		return err
	}
	if !n.expect(r.status == http.StatusCreated, "201, got %d %s %s", r.status, r.code, r.message) {
		return nil
	}
	p.orders = append(p.orders, o.OrderSN)
	after, err := p.stocks(ctx, 1001)
	if err != nil {
		return err
	}
	t, err := a.awaitDecided(ctx, o.OrderSN, 10*time.Second)
	if err != nil {
		return err
	}
	due := "(no timeout scheduled!)"
	if n.expect(len(t.scheduled) == 1, "one payment timeout scheduled, got %d", len(t.scheduled)) {
		due = "due " + n.since(p.st.dueAt(t.scheduled[0]))
	}
	n.stepf("POST /v1/orders {%s} → 201 order %s, left unpaid; stock %s; its payment timeout %s",
		p.itemsText(items), o.OrderSN, p.change(before, after), due)

	wait := levelDelay(p.st.levels, payTimeoutLevel)
	n.stepf("waiting for the payment timeouts: %s here, %s with RocketMQ's default delay levels …", fmtDuration(wait), fmtDuration(defaultLevelDelay(payTimeoutLevel)))
	type unpaid struct {
		sn, from string
		before   stockOf // the stock while the order held it
		num      int64
	}
	var list []unpaid
	if p.openSN != "" {
		list = append(list, unpaid{p.openSN, "scenario 4's", stockOf{1002: p.openStock}, 2})
	}
	list = append(list, unpaid{o.OrderSN, "this", after, 1})
	for _, u := range list {
		o, err := await(ctx, wait+30*time.Second, "order "+short(u.sn)+" to be closed and its stock returned",
			func(ctx context.Context) (orderJSON, bool, error) {
				o, _, err := a.orderOf(ctx, u.sn)
				if err != nil || o.Status != "TRADE_CLOSED" {
					return o, false, err
				}
				d, found, err := a.sellDetail(ctx, u.sn)
				return o, found && d.Status == "returned", err
			})
		if err != nil {
			return err
		}
		var id int64
		for k := range u.before {
			id = k
		}
		now, err := p.stocks(ctx, id)
		if err != nil {
			return err
		}
		t, err := a.traceOf(ctx, u.sn)
		if err != nil {
			return err
		}
		came := "?"
		if len(t.timeouts) > 0 {
			came = n.since(t.timeouts[0].stored())
		}
		closed := "?"
		if o.ClosedAt != nil {
			closed = n.since(*o.ClosedAt)
		}
		n.stepf("%s order %s: timeout delivered %s → %s %s, stock returned: %s; sell detail: returned",
			u.from, short(u.sn), came, o.Status, closed, p.change(u.before, now))
		n.expect(moved(u.before, now, stockOf{id: u.num}), "the stock to come back by %d", u.num)
	}

	_, r, err = a.pay(ctx, o.OrderSN)
	if err != nil {
		return err
	}
	n.stepf("POST /v1/orders/%s/pay, too late → %d %s (the close won the compare-and-set on the status)", short(o.OrderSN), r.status, r.code)
	n.expect(r.status == http.StatusConflict && r.code == "order_closed", "409 order_closed")

	if p.paidSN == "" {
		return nil
	}
	type delivered struct {
		at       time.Time
		consumed bool
	}
	dl, err := await(ctx, wait+30*time.Second, "the paid order's timeout to be consumed", func(ctx context.Context) (delivered, bool, error) {
		t, err := a.traceOf(ctx, p.paidSN)
		if err != nil || len(t.timeouts) == 0 {
			return delivered{}, false, err
		}
		ok, err := a.consumed(ctx, timeoutGroup, t.timeouts[0])
		return delivered{t.timeouts[0].stored(), ok}, ok, err
	})
	if err != nil {
		return err
	}
	paid, _, err := a.orderOf(ctx, p.paidSN)
	if err != nil {
		return err
	}
	d, found, err := a.sellDetail(ctx, p.paidSN)
	if err != nil {
		return err
	}
	n.stepf("scenario 1's paid order %s: timeout delivered %s and consumed by %s → still %s; sell detail: %s",
		short(p.paidSN), n.since(dl.at), timeoutGroup, paid.Status, detailText(d, found))
	n.expect(paid.Status == "TRADE_SUCCESS", "TRADE_SUCCESS")
	n.expect(found && d.Status == "deducted", "sell detail deducted")
	return nil
}

// invariants checks, at the end: no undecided half message; every order the demo made agrees
// with inventory's sell detail; and for every goods, sold + remaining = initial.
func (p *play) invariants(ctx context.Context) error {
	a, n := p.a, p.n
	hs, err := await(ctx, 15*time.Second, "no undecided half message", func(ctx context.Context) ([]pendingHalf, bool, error) {
		hs, err := a.pendingHalves(ctx)
		return hs, len(hs) == 0, err
	})
	if err != nil {
		return err
	}
	n.stepf("GET %s/api/transactions → %d undecided half messages", a.admin, len(hs))

	sold := stockOf{}
	agree := 0
	for _, sn := range p.orders {
		o, exists, err := a.orderOf(ctx, sn)
		if err != nil {
			return err
		}
		d, found, err := a.sellDetail(ctx, sn)
		if err != nil {
			return err
		}
		live := exists && o.Status != "TRADE_CLOSED"
		if live {
			for _, it := range o.Items {
				sold[it.GoodsID] += it.Num
			}
		}
		status := "no order"
		if exists {
			status = o.Status
		}
		ok := live == (found && d.Status == "deducted")
		if n.expect(ok, "order %s (%s) and its sell detail (%s) to agree", short(sn), status, detailText(d, found)) {
			agree++
		}
	}
	list, err := a.ordersOf(ctx, demoUser)
	if err != nil {
		return err
	}
	n.stepf("GET /v1/orders?user_id=%d → %s; all %d order numbers of the demo agree with inventory's sell details: %d",
		demoUser, countStatuses(list.Orders), len(p.orders), agree)

	for _, g := range demoCatalog() {
		left, err := a.stock(ctx, g.ID)
		if err != nil {
			return err
		}
		ok := sold[g.ID]+left == g.Stock
		mark := "✓"
		if !n.expect(ok, "sold + remaining = initial for %s", g.Name) {
			mark = "✗"
		}
		n.stepf("%-8s sold %d + remaining %d = %d, initial %d %s", g.Name, sold[g.ID], left, sold[g.ID]+left, g.Stock, mark)
	}
	return nil
}

// countStatuses describes orders by status: "3 orders: 1 TRADE_SUCCESS, 2 TRADE_CLOSED".
func countStatuses(orders []orderJSON) string {
	count := map[string]int{}
	for _, o := range orders {
		count[o.Status]++
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", count[k], k)
	}
	return fmt.Sprintf("%d orders: %s", len(orders), strings.Join(parts, ", "))
}
