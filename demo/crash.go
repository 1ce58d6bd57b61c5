package main

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// crashes: order_srv dies after the deduction (path 3: the check-back returns the stock), then
// after the local commit (path 4: the check-back keeps the order and its timeout).
func (p *play) crashes(ctx context.Context) error {
	a, n := p.a, p.n

	// Path 3: crash after the deduction, before the local commit.
	items := []line{{GoodsID: 1003, Num: 1}}
	c, err := p.crash(ctx, items, "crash-after-deduct")
	if err != nil {
		return err
	}
	n.stepf("broker: the half message of order %s is undecided, %d checks so far (no order_srv to ask)", c.sn, c.half.Checks)
	n.detail("stock %s; inventory's sell detail: %s", p.change(c.before, c.after), detailText(c.detail, c.detailFound))
	n.expect(moved(c.before, c.after, stockOf{1003: -1}), "the stock deducted by 1")
	n.expect(c.detailFound && c.detail.Status == "deducted", "sell detail deducted")

	cb, err := p.restartAndAwaitCheck(ctx, c)
	if err != nil {
		return err
	}
	n.expect(cb.answer == "check-back: no order, stock returns" && cb.trace.decision() == "COMMIT",
		"order_srv to answer COMMIT (no order), got %q, %s", cb.answer, cb.trace.decision())
	after, err := p.awaitStock(ctx, c.before, 15*time.Second)
	if err != nil {
		return err
	}
	d, found, err := a.sellDetail(ctx, c.sn)
	if err != nil {
		return err
	}
	_, exists, err := a.orderOf(ctx, c.sn)
	if err != nil {
		return err
	}
	n.stepf("inventory consumed the committed copy: stock %s; sell detail: %s; GET /v1/orders/%s → %s",
		p.change(c.after, after), detailText(d, found), short(c.sn), existsText(exists))
	n.expect(found && d.Status == "returned", "sell detail returned")
	n.expect(!exists, "no order")

	// Path 4: crash after the local commit, before the answer to the broker.
	items = []line{{GoodsID: 1002, Num: 2}}
	c, err = p.crash(ctx, items, "crash-after-commit")
	if err != nil {
		return err
	}
	t, err := a.traceOf(ctx, c.sn)
	if err != nil {
		return err
	}
	n.stepf("broker: the half message of order %s is undecided; payment timeouts scheduled: %d (order_srv died first)", c.sn, len(t.scheduled))
	n.detail("stock %s; inventory's sell detail: %s", p.change(c.before, c.after), detailText(c.detail, c.detailFound))
	n.expect(moved(c.before, c.after, stockOf{1002: -2}), "the stock deducted by 2")
	n.expect(len(t.scheduled) == 0, "no payment timeout yet")

	cb, err = p.restartAndAwaitCheck(ctx, c)
	if err != nil {
		return err
	}
	n.expect(cb.answer == "check-back: order exists, stock stays sold" && cb.trace.decision() == "ROLLBACK",
		"order_srv to answer ROLLBACK (the order exists), got %q, %s", cb.answer, cb.trace.decision())
	o, exists, err := a.orderOf(ctx, c.sn)
	if err != nil {
		return err
	}
	now, err := p.stocks(ctx, 1002)
	if err != nil {
		return err
	}
	if n.expect(len(cb.trace.scheduled) >= 1, "the check-back to schedule the payment timeout") {
		m := cb.trace.scheduled[0]
		n.stepf("the check-back also scheduled the payment timeout: %s, due %s", p.st.delayOf(m), n.since(p.st.dueAt(m)))
		n.detail("GET /v1/orders/%s → %s; stock %s stays %d: sold, until paid or timed out", short(c.sn), o.Status, p.catalog[1002].Name, now[1002])
	}
	n.expect(exists && o.Status == "WAIT_BUYER_PAY", "the order, WAIT_BUYER_PAY")
	n.expect(now[1002] == c.after[1002], "the stock still sold")
	p.openSN, p.openStock = c.sn, now[1002]
	return nil
}

// crashed is an order whose saga order_srv abandoned by crashing.
type crashed struct {
	sn            string
	half          pendingHalf
	before, after stockOf
	detail        sellDetail
	detailFound   bool
}

// crash sends an order with a crash fault and waits for order_srv to die and the broker to hold
// the order's undecided half message.
func (p *play) crash(ctx context.Context, items []line, fault string) (crashed, error) {
	a, n := p.a, p.n
	var c crashed
	var err error
	ids := []int64{items[0].GoodsID}
	if c.before, err = p.stocks(ctx, ids...); err != nil {
		return c, err
	}
	known, err := a.pendingIDs(ctx)
	if err != nil {
		return c, err
	}
	p.st.order.expectExit()
	// Straight to the first instance (not through the balancer): the demo must know which dies.
	direct := *a
	direct.order = p.st.order.url
	_, _, reqErr := direct.createOrder(ctx, p.request(items...), "", fault)
	exited := p.st.order.exited()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		return c, fmt.Errorf("order_srv did not exit after X-Fault: %s (request error: %v)", fault, reqErr)
	}
	answer := "an answer"
	if reqErr != nil {
		answer = "no answer (" + lastPart(reqErr.Error()) + ")"
	}
	n.stepf("POST /v1/orders {%s}, X-Fault: %s → %s; order_srv exited with status %d",
		p.itemsText(items), fault, answer, p.st.order.exitCode())
	n.expect(reqErr != nil, "no HTTP answer")
	if len(p.st.orders) > 1 {
		n.detail("that was %s; %s alone serves order_srv's address %s until the restart", p.st.order.name, p.st.orders[1].name, a.order)
	}
	if c.half, c.sn, err = a.newPendingHalf(ctx, known, 10*time.Second); err != nil {
		return c, err
	}
	p.orders = append(p.orders, c.sn)
	if c.after, err = p.stocks(ctx, ids...); err != nil {
		return c, err
	}
	c.detail, c.detailFound, err = a.sellDetail(ctx, c.sn)
	return c, err
}

// checkBack is how the broker's check-back of a crashed order went.
type checkBack struct {
	check  int       // the broker's check number
	at     time.Time // when the broker sent it
	answer string    // order_srv's log message
	trace  trace     // the broker's trace once decided
}

// restartAndAwaitCheck restarts order_srv and waits for the broker to check back c's half
// message and for the decision.
func (p *play) restartAndAwaitCheck(ctx context.Context, c crashed) (checkBack, error) {
	a, n := p.a, p.n
	var cb checkBack
	brokerLog := markLog(p.st.broker.logPath)
	orderLogs := make([]logMark, len(p.st.orders)) // each instance's, to tell which answered
	for i, o := range p.st.orders {
		orderLogs[i] = markLog(o.logPath)
	}
	began := time.Now()
	if err := p.st.restart(ctx, p.st.order); err != nil {
		return cb, err
	}
	n.stepf("restarted order_srv: ready in %.1fs (it announced its transactional producer to the broker)", time.Since(began).Seconds())

	limit := p.st.cfg.txTimeout + 3*p.st.cfg.txCheckInterval + 15*time.Second
	rec, err := awaitLog(ctx, brokerLog, limit, "the broker to check back", "checked back half message", "msg_id", c.half.MsgID)
	if err != nil {
		return cb, err
	}
	if cb.check, err = strconv.Atoi(rec.str("check")); err != nil {
		return cb, fmt.Errorf("broker log: check number %q: %w", rec.str("check"), err)
	}
	cb.at = rec.time()
	answerer := 0
	answer, err := await(ctx, limit, "order_srv to answer the check-back", func(context.Context) (string, bool, error) {
		for i, orderLog := range orderLogs {
			for _, msg := range []string{"check-back: no order, stock returns", "check-back: order exists, stock stays sold"} {
				_, ok, err := orderLog.find(msg, "order_sn", c.sn)
				if ok || err != nil {
					answerer = i
					return msg, ok, err
				}
			}
		}
		return "", false, nil
	})
	if err != nil {
		return cb, err
	}
	cb.answer = answer
	if cb.trace, err = a.awaitDecided(ctx, c.sn, limit); err != nil {
		return cb, err
	}
	n.stepf("broker checked back (check #%d, %.1fs after the half was stored) → order_srv: %q → %s",
		cb.check, cb.at.Sub(c.half.StoredAt).Seconds(), cb.answer, cb.trace.decision())
	if len(p.st.orders) > 1 {
		n.detail("the check-back was answered by %s", p.st.orders[answerer].name)
	}
	return cb, nil
}
