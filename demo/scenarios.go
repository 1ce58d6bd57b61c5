package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// demoUser is the buyer of the demo's orders (README examples use user 1).
const demoUser = 42

// demoCatalog is the goods the demo sells, with their initial stock (README examples use
// goods 1 and 2).
func demoCatalog() []goods {
	return []goods{
		{ID: 1001, Name: "teapot", PriceCents: 2990, Stock: 10},
		{ID: 1002, Name: "tea cup", PriceCents: 890, Stock: 20},
		{ID: 1003, Name: "kettle", PriceCents: 4500, Stock: 5},
		{ID: 1004, Name: "tea tin", PriceCents: 1200, Stock: 3},
	}
}

// play is one playing of the scenarios, against a running stack.
type play struct {
	st      *stack
	a       *api
	n       *narrator
	catalog map[int64]goods // by id, with the initial stock

	orders []string // every order number the demo created or tried to, for the final checks
	paidSN string   // scenario 1's order: paid, it must survive its payment timeout
	openSN string   // scenario 4's order committed before the crash: unpaid, it times out
	// openStock is the stock of the goods of openSN while the order holds it.
	openStock int64
}

// scenario is one part of the story; an empty title marks the closing checks.
type scenario struct {
	title string
	run   func(context.Context) error
}

// playScenarios plays every scenario and returns how many did not go as expected.
func playScenarios(ctx context.Context, st *stack, n *narrator) (failed int) {
	p := &play{st: st, a: st.api, n: n, catalog: map[int64]goods{}}
	n.stackUp(st)
	scenarios := []scenario{
		{"an order, and its payment (ARCHITECTURE.md, path 1)", p.success},
		{"short stock: 409, and nothing left behind (path 2)", p.shortStock},
		{"the local transaction fails after the deduction: the stock comes back (path 2)", p.rollback},
		{"order_srv crashes mid-saga: the broker checks back (paths 3 and 4)", p.crashes},
		{"payment timeout: an unpaid order closes, a paid one stays (path 6)", p.timeouts},
	}
	if d := st.cfg.loadDuration; d > 0 {
		scenarios = append(scenarios, scenario{fmt.Sprintf("load: %d concurrent buyers for %s", st.cfg.loadBuyers, fmtDuration(d)), p.underLoad})
	}
	scenarios = append(scenarios, scenario{"", p.invariants}) // the closing checks
	if err := p.setup(ctx); err != nil {
		n.line("✗ setting up the goods failed: %v", err)
		return len(scenarios)
	}
	for _, s := range scenarios {
		if ctx.Err() != nil {
			return failed
		}
		n.beginScenario(s.title)
		err := s.run(ctx)
		if ctx.Err() != nil {
			return failed
		}
		if err == nil {
			err = st.checkAlive()
		}
		if !n.endScenario(err) {
			failed++
		}
	}
	return failed
}

// setup creates (or resets) the goods.
func (p *play) setup(ctx context.Context) error {
	var list []string
	for _, g := range demoCatalog() {
		if err := p.a.putGoods(ctx, g); err != nil {
			return err
		}
		p.catalog[g.ID] = g
		list = append(list, fmt.Sprintf("%s #%d (%s) × %d", g.Name, g.ID, money(g.PriceCents), g.Stock))
	}
	p.n.line("Goods (PUT %s/v1/goods/{id}): %s.", p.a.inventory, strings.Join(list, ", "))
	return nil
}

// request is an order of user demoUser for items.
func (p *play) request(items ...line) orderRequest {
	return orderRequest{UserID: demoUser, Address: "1 Tea Street, Hangzhou", SignerName: "Ann",
		SignerMobile: "13800000000", Post: "310000", Items: items}
}

// itemsText describes items: "teapot × 2, tea cup × 4".
func (p *play) itemsText(items []line) string {
	var parts []string
	for _, l := range items {
		parts = append(parts, fmt.Sprintf("%s × %d", p.catalog[l.GoodsID].Name, l.Num))
	}
	return strings.Join(parts, ", ")
}

// stockOf is the stock of some goods at one moment.
type stockOf map[int64]int64

func (p *play) stocks(ctx context.Context, ids ...int64) (stockOf, error) {
	s := stockOf{}
	for _, id := range ids {
		n, err := p.a.stock(ctx, id)
		if err != nil {
			return nil, err
		}
		s[id] = n
	}
	return s, nil
}

// change describes before → after for each goods of before: "teapot 10 → 8, tea cup 20 → 16".
func (p *play) change(before, after stockOf) string {
	ids := make([]int64, 0, len(before))
	for id := range before {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var parts []string
	for _, id := range ids {
		parts = append(parts, fmt.Sprintf("%s %d → %d", p.catalog[id].Name, before[id], after[id]))
	}
	return strings.Join(parts, ", ")
}

// moved reports whether every goods of before changed by delta[id] (0 if absent).
func moved(before, after stockOf, delta stockOf) bool {
	for id, b := range before {
		if after[id] != b+delta[id] {
			return false
		}
	}
	return true
}

// awaitStock waits until the stock of every goods of want is as given.
func (p *play) awaitStock(ctx context.Context, want stockOf, timeout time.Duration) (stockOf, error) {
	ids := make([]int64, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	return await(ctx, timeout, "the stock to be "+fmt.Sprint(want), func(ctx context.Context) (stockOf, bool, error) {
		s, err := p.stocks(ctx, ids...)
		return s, err == nil && moved(want, s, nil), err
	})
}

// detailText describes inventory's sell detail of an order.
func detailText(d sellDetail, found bool) string {
	if !found {
		return "none"
	}
	return d.Status
}

// awaitLog waits for a record msg (with attrs) in a log after mark.
func awaitLog(ctx context.Context, mark logMark, timeout time.Duration, what, msg string, attrs ...string) (logRecord, error) {
	return await(ctx, timeout, what, func(context.Context) (logRecord, bool, error) {
		r, ok, err := mark.find(msg, attrs...)
		return r, ok, err
	})
}

// lastPart is the innermost part of a wrapped error message: "goods 1004 (requested 4, available 3)".
func lastPart(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// success: an order from the cart, its replay, and its payment.
func (p *play) success(ctx context.Context) error {
	a, n := p.a, p.n
	cart := []line{{GoodsID: 1001, Num: 2}, {GoodsID: 1002, Num: 4}}
	var statuses []string
	for _, l := range cart {
		r, err := a.putCart(ctx, demoUser, l.GoodsID, l.Num)
		if err != nil {
			return err
		}
		statuses = append(statuses, fmt.Sprint(r.status))
		n.expect(r.status == http.StatusOK, "PUT cart → 200, got %d %s", r.status, r.message)
	}
	n.stepf("PUT /v1/users/%d/cart/{goods}: %s → %s", demoUser, p.itemsText(cart), strings.Join(statuses, ", "))

	before, err := p.stocks(ctx, 1001, 1002)
	if err != nil {
		return err
	}
	req := p.request()
	req.FromCart = true
	// Unique per run: a MySQL database may keep the keys of an earlier run (which would replay).
	key := fmt.Sprintf("demo-%d", time.Now().Unix())
	o, r, err := a.createOrder(ctx, req, key, "")
	if err != nil {
		return err
	}
	if !n.expect(r.status == http.StatusCreated, "POST /v1/orders → 201, got %d %s %s", r.status, r.code, r.message) {
		return nil
	}
	sn := o.OrderSN
	p.orders, p.paidSN = append(p.orders, sn), sn
	n.stepf("POST /v1/orders {from_cart: true}, Idempotency-Key: %s → 201 order %s %s, total %s", key, sn, o.Status, money(o.TotalCents))
	after, err := p.stocks(ctx, 1001, 1002)
	if err != nil {
		return err
	}
	d, found, err := a.sellDetail(ctx, sn)
	if err != nil {
		return err
	}
	n.detail("stock %s; inventory's sell detail of the order: %s", p.change(before, after), detailText(d, found))
	n.expect(o.Status == "WAIT_BUYER_PAY", "status WAIT_BUYER_PAY, got %s", o.Status)
	n.expect(moved(before, after, stockOf{1001: -2, 1002: -4}), "the stock to drop by 2 and 4")
	n.expect(found && d.Status == "deducted", "sell detail deducted")

	t, err := a.awaitDecided(ctx, sn, 10*time.Second)
	if err != nil {
		return err
	}
	n.stepf("broker: half message for %s stored %s, invisible; order_srv answered %s → never delivered, the stock stays sold",
		rebackTopic, n.since(t.half.stored()), t.decision())
	n.expect(t.decision() == "ROLLBACK", "the half message rolled back")
	if n.expect(len(t.scheduled) == 1, "one payment-timeout message scheduled, got %d", len(t.scheduled)) {
		m := t.scheduled[0]
		n.stepf("broker: payment timeout for %s scheduled at %s, due %s", m.Properties["REAL_TOPIC"], p.st.delayOf(m), n.since(p.st.dueAt(m)))
	}

	o2, r, err := a.createOrder(ctx, req, key, "")
	if err != nil {
		return err
	}
	again, err := p.stocks(ctx, 1001, 1002)
	if err != nil {
		return err
	}
	n.stepf("the same POST again (a client's retry) → %d, Idempotent-Replayed: %s, order %s; stock unchanged: %s",
		r.status, r.header.Get("Idempotent-Replayed"), short(o2.OrderSN), p.change(after, again))
	n.expect(r.status == http.StatusCreated && o2.OrderSN == sn && r.header.Get("Idempotent-Replayed") == "true", "a replay of the same order")
	n.expect(moved(after, again, nil), "no second deduction")

	items, err := a.cart(ctx, demoUser)
	if err != nil {
		return err
	}
	n.stepf("GET /v1/users/%d/cart → %d items (the order's local transaction removed what it ordered)", demoUser, len(items))
	n.expect(len(items) == 0, "an empty cart")

	paid, r, err := a.pay(ctx, sn)
	if err != nil {
		return err
	}
	n.stepf("POST /v1/orders/%s/pay → %d %s (its payment timeout will find it paid: scenario 5)", short(sn), r.status, paid.Status)
	n.expect(r.status == http.StatusOK && paid.Status == "TRADE_SUCCESS", "200 TRADE_SUCCESS, got %d %s", r.status, r.message)
	return nil
}

// shortStock: one item of an order is short; nothing is deducted at all.
func (p *play) shortStock(ctx context.Context) error {
	a, n := p.a, p.n
	tins := p.catalog[1004].Stock + 1
	items := []line{{GoodsID: 1001, Num: 1}, {GoodsID: 1004, Num: tins}}
	before, err := p.stocks(ctx, 1001, 1004)
	if err != nil {
		return err
	}
	mark := markLog(p.st.orderLogs()...)
	_, r, err := a.createOrder(ctx, p.request(items...), "", "")
	if err != nil {
		return err
	}
	n.stepf("POST /v1/orders {%s} (%d tea tins in stock) → %d %s: %s", p.itemsText(items), before[1004], r.status, r.code, lastPart(r.message))
	n.expect(r.status == http.StatusConflict && r.code == "insufficient_stock", "409 insufficient_stock")

	rec, err := awaitLog(ctx, mark, 10*time.Second, "order_srv to log the failed order", "order not created")
	if err != nil {
		return err
	}
	sn := rec.str("order_sn")
	p.orders = append(p.orders, sn)
	t, err := a.awaitDecided(ctx, sn, 10*time.Second)
	if err != nil {
		return err
	}
	why := "nothing was deducted, so nothing is delivered"
	if t.decision() == "COMMIT" {
		why = "harmless: inventory finds nothing to return"
	}
	n.stepf("order_srv's log names the order, %s; broker: its half message → %s (%s)", sn, t.decision(), why)
	n.expect(t.decision() != "undecided", "a decided half message")

	after, err := p.stocks(ctx, 1001, 1004)
	if err != nil {
		return err
	}
	d, found, err := a.sellDetail(ctx, sn)
	if err != nil {
		return err
	}
	_, exists, err := a.orderOf(ctx, sn)
	if err != nil {
		return err
	}
	n.stepf("stock %s (all or nothing); sell detail: %s; GET /v1/orders/%s → %s", p.change(before, after), detailText(d, found), short(sn), existsText(exists))
	n.expect(moved(before, after, nil), "the stock unchanged")
	n.expect(!found || d.Status == "returned", "no deducted sell detail")
	n.expect(!exists, "no order")
	return nil
}

// rollback: X-Fault fail-local-tx fails the local transaction after the deduction.
func (p *play) rollback(ctx context.Context) error {
	a, n := p.a, p.n
	items := []line{{GoodsID: 1003, Num: 2}}
	before, err := p.stocks(ctx, 1003)
	if err != nil {
		return err
	}
	mark := markLog(p.st.orderLogs()...)
	_, r, err := a.createOrder(ctx, p.request(items...), "", "fail-local-tx")
	if err != nil {
		return err
	}
	n.stepf("POST /v1/orders {%s}, X-Fault: fail-local-tx → %d %s", p.itemsText(items), r.status, r.code)
	n.expect(r.status == http.StatusServiceUnavailable, "503, got %d", r.status)

	rec, err := awaitLog(ctx, mark, 10*time.Second, "order_srv to log the failed order", "order not created")
	if err != nil {
		return err
	}
	sn := rec.str("order_sn")
	p.orders = append(p.orders, sn)
	n.stepf("order_srv's log: order %s not created: %q — after inventory had sold the stock", sn, lastPart(rec.str("err")))
	t, err := a.awaitDecided(ctx, sn, 10*time.Second)
	if err != nil {
		return err
	}
	if n.expect(t.decision() == "COMMIT", "the half message committed, got %s", t.decision()) {
		n.stepf("broker: half message stored %s → order_srv answered COMMIT → copy stored on %s %s for inventory_reback",
			n.since(t.half.stored()), rebackTopic, n.since(t.committed.stored()))
	}
	d, err := await(ctx, 15*time.Second, "the sell detail to be returned", func(ctx context.Context) (sellDetail, bool, error) {
		d, found, err := a.sellDetail(ctx, sn)
		return d, found && d.Status == "returned", err
	})
	if err != nil {
		return err
	}
	after, err := p.stocks(ctx, 1003)
	if err != nil {
		return err
	}
	_, exists, err := a.orderOf(ctx, sn)
	if err != nil {
		return err
	}
	n.stepf("inventory: sell detail %s (%s sold, then returned); stock %s; GET /v1/orders/%s → %s",
		d.Status, p.itemsText(d.Items), p.change(before, after), short(sn), existsText(exists))
	n.expect(moved(before, after, nil), "the stock back where it was")
	n.expect(!exists, "no order")
	return nil
}

func existsText(exists bool) string {
	if exists {
		return "the order"
	}
	return "404, no order"
}
