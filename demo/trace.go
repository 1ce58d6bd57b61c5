package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Topics, groups and flags as the broker's admin API shows them.
const (
	halfTopic     = "RMQ_SYS_TRANS_HALF_TOPIC" // half messages, invisible to consumers
	scheduleTopic = "SCHEDULE_TOPIC_XXXX"      // delayed messages until they are due
	rebackTopic   = "order_reback"             // "return this order's stock"
	timeoutTopic  = "order_timeout"            // "close this order if unpaid"
	txGroup       = "order_srv_tx"             // order_srv's transactional producer group
	timeoutGroup  = "order_srv_timeout"        // order_srv's timeout consumer group

	sysFlagTxMask   = 0xC // the transaction type bits of a message's sysFlag
	sysFlagTxCommit = 0x8 // a committed half message
)

// trace is what the broker stored for one order, found by its key (the order number).
type trace struct {
	half      *brokerMessage  // the reback half message (invisible)
	committed *brokerMessage  // its committed copy on order_reback, delivered to inventory
	pending   *pendingHalf    // the half while it is undecided
	scheduled []brokerMessage // payment-timeout messages stored for later (SCHEDULE_TOPIC_XXXX)
	timeouts  []brokerMessage // payment-timeout messages that came due (order_timeout)
}

// traceOf reads the broker's trace of order sn. The undecided halves are read before the
// stored messages: the broker lists a half as undecided until its decision is stored, so a half
// that is not listed has its committed copy (if any) among the messages read afterwards.
func (a *api) traceOf(ctx context.Context, sn string) (trace, error) {
	hs, err := a.pendingHalves(ctx)
	if err != nil {
		return trace{}, err
	}
	ms, err := a.messages(ctx, sn)
	if err != nil {
		return trace{}, err
	}
	var t trace
	for i := range ms {
		m := &ms[i]
		switch {
		case m.Topic == halfTopic:
			t.half = m
		case m.Topic == rebackTopic && m.SysFlag&sysFlagTxMask == sysFlagTxCommit:
			t.committed = m
		case m.Topic == scheduleTopic && m.Properties["REAL_TOPIC"] == timeoutTopic:
			t.scheduled = append(t.scheduled, *m)
		case m.Topic == timeoutTopic:
			t.timeouts = append(t.timeouts, *m)
		}
	}
	if t.half == nil {
		return t, nil
	}
	for i := range hs {
		if hs[i].MsgID == t.half.MsgID {
			t.pending = &hs[i]
		}
	}
	return t, nil
}

// decision is what became of the half message: "undecided", "COMMIT" or "ROLLBACK"
// (decided, and no committed copy: an op record discarded it), or "none" without a half.
func (t trace) decision() string {
	switch {
	case t.half == nil:
		return "none"
	case t.pending != nil:
		return "undecided"
	case t.committed != nil:
		return "COMMIT"
	}
	return "ROLLBACK"
}

// awaitDecided waits until the broker has the half message of sn and it is decided.
func (a *api) awaitDecided(ctx context.Context, sn string, timeout time.Duration) (trace, error) {
	return await(ctx, timeout, "the half message of "+short(sn)+" to be decided", func(ctx context.Context) (trace, bool, error) {
		t, err := a.traceOf(ctx, sn)
		return t, err == nil && t.half != nil && t.pending == nil, err
	})
}

// newPendingHalf waits for an undecided half message of order_srv that is not in before, and
// returns it with the order number its body names.
func (a *api) newPendingHalf(ctx context.Context, before map[string]bool, timeout time.Duration) (pendingHalf, string, error) {
	type found struct {
		half pendingHalf
		sn   string
	}
	f, err := await(ctx, timeout, "a new undecided half message", func(ctx context.Context) (found, bool, error) {
		hs, err := a.pendingHalves(ctx)
		if err != nil {
			return found{}, false, err
		}
		for _, h := range hs {
			if h.Group != txGroup || before[h.MsgID] {
				continue
			}
			m, err := a.message(ctx, h.MsgID)
			if err != nil {
				return found{}, false, err
			}
			var body struct {
				OrderSN string `json:"order_sn"`
			}
			if json.Unmarshal([]byte(m.Body), &body) == nil && body.OrderSN != "" {
				return found{h, body.OrderSN}, true, nil
			}
		}
		return found{}, false, nil
	})
	return f.half, f.sn, err
}

// pendingIDs returns the ids of the undecided half messages.
func (a *api) pendingIDs(ctx context.Context) (map[string]bool, error) {
	hs, err := a.pendingHalves(ctx)
	ids := make(map[string]bool, len(hs))
	for _, h := range hs {
		ids[h.MsgID] = true
	}
	return ids, err
}

// consumed reports whether group has committed an offset past message m.
func (a *api) consumed(ctx context.Context, group string, m brokerMessage) (bool, error) {
	offs, err := a.consumerOffsets(ctx)
	if err != nil {
		return false, err
	}
	for _, o := range offs {
		if o.Group == group && o.Topic == m.Topic && o.QueueID == m.QueueID && o.Offset > m.QueueOffset {
			return true, nil
		}
	}
	return false, nil
}

// delayOf describes the delay level of a scheduled message: "level 16 = 10s here, 30m by default".
func (st *stack) delayOf(m brokerMessage) string {
	lvl, err := strconv.Atoi(m.Properties["DELAY"])
	if err != nil {
		return fmt.Sprintf("delay level %q", m.Properties["DELAY"])
	}
	return fmt.Sprintf("level %d = %s here, %s by default", lvl, fmtDuration(levelDelay(st.levels, lvl)), fmtDuration(defaultLevelDelay(lvl)))
}

// dueAt is when a scheduled message comes due.
func (st *stack) dueAt(m brokerMessage) time.Time {
	lvl, _ := strconv.Atoi(m.Properties["DELAY"])
	return m.stored().Add(levelDelay(st.levels, lvl))
}
