// Wire-level tests: a minimal remoting client written here drives the
// broker frame by frame, concurrently and with bad input. They use no
// client library goroutines, so they run under -race too (the official
// client's decoder is used only as a pure function to read PULL bodies).

package broker_test

import (
	"bufio"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/clock"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

func TestWire_longPollingPull_returnsAsSoonAsAMessageIsStored(t *testing.T) {
	b := startWireBroker(t)
	const topic = "WirePoll"
	c := dialWire(t, b.BrokerAddr())
	if _, err := c.sendOne(topic, 1, "seed", "seed"); err != nil {
		t.Fatal(err)
	}

	// With nothing new, a pull is held for its suspend time, then answered PULL_NOT_FOUND.
	start := time.Now()
	resp, _, err := c.pull("wire_cg", topic, 1, 1, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if held := time.Since(start); resp.Code != int16(protocol.PullNotFound) || resp.Ext("nextBeginOffset") != "1" || held < 250*time.Millisecond {
		t.Fatalf("pull at the end of the queue: %s next=%s after %v; want PULL_NOT_FOUND next=1 after ~300ms",
			protocol.ResponseCode(resp.Code), resp.Ext("nextBeginOffset"), held)
	}

	// A long poll (20 s, capped by the broker at 15 s) on every queue: each
	// returns as soon as its queue gets a message, well before the cap.
	type result struct {
		resp *remoting.Command
		msgs []*primitive.MessageExt
		err  error
		took time.Duration
	}
	const suspend = 20 * time.Second
	results := make([]chan result, 4)
	for q := range 4 {
		results[q] = make(chan result, 1)
		offset := int64(0)
		if q == 1 {
			offset = 1
		}
		go func() {
			start := time.Now()
			resp, msgs, err := c.pull("wire_cg", topic, q, offset, suspend)
			results[q] <- result{resp, msgs, err, time.Since(start)}
		}()
	}
	select {
	case r := <-results[2]:
		t.Fatalf("pull on an empty queue returned at once: %+v %v", r.resp, r.err)
	case <-time.After(200 * time.Millisecond):
	}
	producer := dialWire(t, b.BrokerAddr())
	for _, q := range []int{2, 0, 3, 1} {
		sentAt := time.Now()
		key := fmt.Sprintf("wake-%d", q)
		if _, err := producer.sendOne(topic, q, key, key); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-results[q]:
			if r.err != nil || r.resp.Code != 0 || len(r.msgs) != 1 || r.msgs[0].GetProperty("UNIQ_KEY") != key {
				t.Fatalf("queue %d: long poll answered %+v %d messages %v", q, r.resp, len(r.msgs), r.err)
			}
			if wait := time.Since(sentAt); wait > 3*time.Second {
				t.Fatalf("queue %d: long poll returned %v after the send", q, wait)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("queue %d: long poll still held 5s after a message was stored (suspend %v)", q, suspend)
		}
	}
}

func TestWire_heartbeat_registersConsumers_andClosingTheConnectionDropsThem(t *testing.T) {
	b := startWireBroker(t)
	const topic, group = "WireHB", "wire_cg"
	admin := dialWire(t, b.BrokerAddr())
	if _, err := admin.sendOne(topic, 0, "a", "tagA", "TAGS", "TagA"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.sendOne(topic, 0, "b", "tagB", "TAGS", "TagB"); err != nil {
		t.Fatal(err)
	}
	c1, c2 := dialWire(t, b.BrokerAddr()), dialWire(t, b.BrokerAddr())
	if resp := c1.mustCall(t, protocol.HeartBeat, nil, heartbeatBody("127.0.0.1@c1", group, topic, "TagA", "TagA")); resp.Code != 0 {
		t.Fatalf("heartbeat: %+v", resp)
	}
	if ids := consumerIDs(t, admin, group); !slices.Equal(ids, []string{"127.0.0.1@c1"}) {
		t.Fatalf("members %v, want [c1]", ids)
	}
	// The %RETRY% topic of the group exists once it heart-beats.
	if resp := admin.mustCall(t, protocol.GetRouteInfoByTopic, map[string]string{"topic": "%RETRY%" + group}, nil); resp.Code != 0 {
		t.Fatalf("route of the retry topic: %s %s", protocol.ResponseCode(resp.Code), resp.Remark)
	}
	// The heartbeat's subscription filters pulls that carry none (push consumers).
	resp, msgs, err := c1.pull(group, topic, 0, 0, 0)
	if err != nil || resp.Code != 0 || len(msgs) != 1 || msgs[0].GetTags() != "TagA" {
		t.Fatalf("filtered pull: %+v %d messages %v", resp, len(msgs), err)
	}

	if resp := c2.mustCall(t, protocol.HeartBeat, nil, heartbeatBody("127.0.0.1@c2", group, topic, "TagA", "TagA")); resp.Code != 0 {
		t.Fatalf("heartbeat: %+v", resp)
	}
	if n := c1.waitPushed(t, protocol.NotifyConsumerIDsChanged, 5*time.Second); n.Ext("consumerGroup") != group {
		t.Fatalf("notify for group %q", n.Ext("consumerGroup"))
	}
	if ids := consumerIDs(t, admin, group); !slices.Equal(ids, []string{"127.0.0.1@c1", "127.0.0.1@c2"}) {
		t.Fatalf("members %v, want [c1 c2]", ids)
	}

	c2.close()
	c1.waitPushed(t, protocol.NotifyConsumerIDsChanged, 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for ids := consumerIDs(t, admin, group); !slices.Equal(ids, []string{"127.0.0.1@c1"}); ids = consumerIDs(t, admin, group) {
		if time.Now().After(deadline) {
			t.Fatalf("members %v 5s after c2's connection closed, want [c1]", ids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c1.close()
	deadline = time.Now().Add(5 * time.Second)
	for ids := consumerIDs(t, admin, group); len(ids) != 0; ids = consumerIDs(t, admin, group) {
		if time.Now().After(deadline) {
			t.Fatalf("members %v 5s after every connection closed", ids)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWire_consumerOffsets_updateQueryAndSurviveRestart(t *testing.T) {
	b := startWireBroker(t)
	const topic, group = "WireOff", "wire_cg"
	c := dialWire(t, b.BrokerAddr())
	if resp, err := queryOffset(c, group, topic, 0); err != nil || resp.Code != int16(protocol.QueryNotFound) {
		t.Fatalf("offset of a new group: %+v %v, want QUERY_NOT_FOUND", resp, err)
	}
	var wg sync.WaitGroup
	var failures errs
	for q := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := int64(1); off <= 50; off++ {
				resp, err := updateOffset(c, group, topic, q, off*int64(q+1))
				if err == nil && resp.Code != 0 {
					err = fmt.Errorf("update queue %d: %s", q, resp.Remark)
				}
				failures.add(err)
				if _, err := queryOffset(c, group, topic, q); err != nil {
					failures.add(err)
				}
			}
			// The client's "unknown" (-1) never overwrites a real offset.
			_, err := updateOffset(c, group, topic, q, -1)
			failures.add(err)
		}()
	}
	wg.Wait()
	failures.report(t)
	check := func(c *wireClient) {
		t.Helper()
		for q := range 8 {
			resp, err := queryOffset(c, group, topic, q)
			if want := strconv.Itoa(50 * (q + 1)); err != nil || resp.Code != 0 || resp.Ext("offset") != want {
				t.Errorf("queue %d: %+v %v, want offset %s", q, resp, err, want)
			}
		}
	}
	check(c)
	b.Restart()
	check(dialWire(t, b.BrokerAddr()))
}

// halfMessage sends a prepared transactional message (PROTOCOL.md §2.3.1).
func halfMessage(t *testing.T, c *wireClient, topic, group, key string) (phys, queueOffset int64) {
	t.Helper()
	ext := extWith(sendExt(topic, 1, 4, props("UNIQ_KEY", key, "TRAN_MSG", "true", "PGROUP", group)), "producerGroup", group)
	resp := c.mustCall(t, protocol.SendMessage, ext, []byte("body-"+key))
	_, off, ids, err := parseSendResponse(resp, 1)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Ext("transactionId") != key {
		t.Fatalf("half %s: transactionId %q", key, resp.Ext("transactionId"))
	}
	phys, err = strconv.ParseInt(ids[0][16:], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return phys, off
}

func endTransaction(c *wireClient, group string, phys, queueOffset int64, typ int, fromCheck bool, key string) (*remoting.Command, error) {
	return c.call(protocol.EndTransaction, map[string]string{"producerGroup": group,
		"tranStateTableOffset": strconv.FormatInt(queueOffset, 10), "commitLogOffset": strconv.FormatInt(phys, 10),
		"commitOrRollback": strconv.Itoa(typ), "fromTransactionCheck": strconv.FormatBool(fromCheck), "msgId": key, "transactionId": key}, nil)
}

func TestWire_endTransaction_commitsRollsBackAndAnswersCheckBacks(t *testing.T) {
	b := startWireBroker(t, brokertest.WithTxTimeout(200*time.Millisecond), brokertest.WithTxCheckInterval(200*time.Millisecond))
	const topic, group = "WireTx", "wire_tpg"
	p := dialWire(t, b.BrokerAddr())
	if resp := p.mustCall(t, protocol.HeartBeat, nil, []byte(`{"clientID":"127.0.0.1@tx","producerDataSet":[{"groupName":"`+group+`"}],"consumerDataSet":[]}`)); resp.Code != 0 {
		t.Fatalf("heartbeat: %+v", resp)
	}
	commitPhys, commitOff := halfMessage(t, p, topic, group, "tx-commit")
	rollbackPhys, rollbackOff := halfMessage(t, p, topic, group, "tx-rollback")
	unknownPhys, unknownOff := halfMessage(t, p, topic, group, "tx-unknown")

	// Nothing is visible before a decision.
	if got, err := p.pullAll(topic, 4); err != nil || len(got) != 0 {
		t.Fatalf("before any decision the topic holds %d messages (%v)", len(got), err)
	}
	for _, d := range []struct {
		phys, off int64
		typ       int
		key       string
	}{{commitPhys, commitOff, 8, "tx-commit"}, {rollbackPhys, rollbackOff, 12, "tx-rollback"}, {unknownPhys, unknownOff, 0, "tx-unknown"}} {
		if resp, err := endTransaction(p, group, d.phys, d.off, d.typ, false, d.key); err != nil || resp.Code != 0 {
			t.Fatalf("end transaction %s: %+v %v", d.key, resp, err)
		}
	}
	// A second decision, another group's decision or a wrong table offset is refused.
	for name, args := range map[string]struct {
		group     string
		phys, off int64
	}{"twice": {group, commitPhys, commitOff}, "other group": {"other_tpg", unknownPhys, unknownOff}, "wrong table offset": {group, unknownPhys, unknownOff + 7}} {
		if resp, err := endTransaction(p, args.group, args.phys, args.off, 8, false, "x"); err != nil || resp.Code == 0 || resp.Remark == "" {
			t.Errorf("end transaction %s: %+v %v, want an error answer", name, resp, err)
		}
	}

	// The undecided one is checked back on the producer's connection (a
	// check of a half decided meanwhile may come first on a slow machine).
	var check *remoting.Command
	deadline := time.Now().Add(10 * time.Second)
	for check == nil || check.Ext("commitLogOffset") != strconv.FormatInt(unknownPhys, 10) {
		check = p.waitPushed(t, protocol.CheckTransactionState, time.Until(deadline))
	}
	if check.Ext("tranStateTableOffset") != strconv.FormatInt(unknownOff, 10) || check.Ext("msgId") != "tx-unknown" {
		t.Fatalf("check-back header %v, want the unknown half at %d/%d", check.ExtFields, unknownPhys, unknownOff)
	}
	msgs, err := decodeRecords(check.Body)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("check-back body: %d messages, %v", len(msgs), err)
	}
	if m := msgs[0]; m.Topic != topic || m.GetProperty("UNIQ_KEY") != "tx-unknown" || m.GetProperty("__transactionId__") != "tx-unknown" ||
		m.GetProperty("PGROUP") != group || string(m.Body) != "body-tx-unknown" {
		t.Fatalf("check-back message topic=%s props=%v body=%q", m.Topic, m.GetProperties(), m.Body)
	}
	if resp, err := endTransaction(p, group, unknownPhys, unknownOff, 8, true, "tx-unknown"); err != nil || resp.Code != 0 {
		t.Fatalf("answer to the check: %+v %v", resp, err)
	}

	got, err := p.pullAll(topic, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["tx-commit"] == nil || got["tx-unknown"] == nil {
		t.Fatalf("after the decisions the topic holds %v, want tx-commit and tx-unknown", slices.Sorted(maps.Keys(got)))
	}
	for k, m := range got {
		if m.SysFlag&0xC != 8 || m.Queue.QueueId != 1 || m.GetProperty("TRAN_MSG") != "" || m.GetProperty("REAL_TOPIC") != "" {
			t.Errorf("committed %s: sysFlag %#x queue %d props %v", k, m.SysFlag, m.Queue.QueueId, m.GetProperties())
		}
	}
	b.Restart()
	after := dialWire(t, b.BrokerAddr())
	if resp, err := endTransaction(after, group, rollbackPhys, rollbackOff, 8, false, "tx-rollback"); err != nil || resp.Code == 0 {
		t.Fatalf("committing a rolled-back half after a restart: %+v %v, want an error answer", resp, err)
	}
	if got, err := after.pullAll(topic, 4); err != nil || len(got) != 2 {
		t.Fatalf("after restart the topic holds %d messages (%v), want 2", len(got), err)
	}
}

func TestWire_consumerSendMsgBack_retriesWithDelayThenDeadLetters(t *testing.T) {
	b := startWireBroker(t, brokertest.WithDelayLevels(strings.TrimSpace(strings.Repeat("100ms ", 18))))
	const topic, group = "WireRetry", "wire_cg"
	c := dialWire(t, b.BrokerAddr())
	if _, err := c.sendOne(topic, 0, "fail-me", "body-fail-me"); err != nil {
		t.Fatal(err)
	}
	_, msgs, err := c.pull(group, topic, 0, 0, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("pull: %d messages %v", len(msgs), err)
	}
	back := func(m *primitive.MessageExt, maxTimes int) {
		t.Helper()
		resp := c.mustCall(t, protocol.ConsumerSendMsgBack, map[string]string{"group": group,
			"offset": strconv.FormatInt(m.CommitLogOffset, 10), "delayLevel": "0", "originMsgId": m.MsgId,
			"originTopic": topic, "unitMode": "false", "maxReconsumeTimes": strconv.Itoa(maxTimes)}, nil)
		if resp.Code != 0 {
			t.Fatalf("send back: %s %s", protocol.ResponseCode(resp.Code), resp.Remark)
		}
	}
	back(msgs[0], 1)
	// The copy reappears in %RETRY%<group> after its delay: a long poll waits for it.
	resp, retried, err := c.pull(group, "%RETRY%"+group, 0, 0, 5*time.Second)
	if err != nil || resp.Code != 0 || len(retried) != 1 {
		t.Fatalf("retry topic: %+v %d messages %v", resp, len(retried), err)
	}
	r := retried[0]
	if string(r.Body) != "body-fail-me" || r.ReconsumeTimes != 1 || r.GetProperty("RETRY_TOPIC") != topic ||
		r.GetProperty("UNIQ_KEY") != "fail-me" || r.GetProperty("ORIGIN_MESSAGE_ID") != "fail-me" {
		t.Fatalf("retry copy: body %q reconsume %d props %v", r.Body, r.ReconsumeTimes, r.GetProperties())
	}
	// Failing again with maxReconsumeTimes 1: dead-lettered at once.
	back(r, 1)
	resp, dead, err := c.pull(group, "%DLQ%"+group, 0, 0, 5*time.Second)
	if err != nil || resp.Code != 0 || len(dead) != 1 {
		t.Fatalf("DLQ: %+v %d messages %v", resp, len(dead), err)
	}
	if d := dead[0]; string(d.Body) != "body-fail-me" || d.ReconsumeTimes != 2 || d.GetProperty("UNIQ_KEY") != "fail-me" {
		t.Fatalf("dead letter: body %q reconsume %d props %v", d.Body, d.ReconsumeTimes, d.GetProperties())
	}
}

// A property that the broker uses internally to record the scheduler's
// progress (schedule.go propScheduleSrc) must not be settable by a client:
// recovery trusts it, so a forged value would make a restarted broker skip
// (lose) scheduled messages.
func TestWire_clientCannotForgeSchedulerProgress_delayedMessageSurvivesRestart(t *testing.T) {
	fake := clock.NewFake(time.Now())
	b := startWireBroker(t, brokertest.WithClock(fake), brokertest.WithDelayLevels("10s 20s"))
	c := dialWire(t, b.BrokerAddr())
	// A plain message carrying the internal property with a forged position.
	if resp := c.mustCall(t, protocol.SendMessage, sendExt("WireForge", 0, 0, props("UNIQ_KEY", "forged", "__SCHEDULE_SRC", "1:1000")), []byte("x")); resp.Code != 0 &&
		resp.Code != int16(protocol.MessageIllegal) {
		t.Fatalf("forged send: %s %s", protocol.ResponseCode(resp.Code), resp.Remark)
	}
	if _, err := c.sendOne("WireDelayed", 0, "delayed", "body-delayed", "DELAY", "1"); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	fake.Advance(11 * time.Second)
	c = dialWire(t, b.BrokerAddr())
	resp, msgs, err := c.pull("wire_cg", "WireDelayed", 0, 0, 5*time.Second)
	if err != nil || resp.Code != 0 || len(msgs) != 1 || msgs[0].GetProperty("UNIQ_KEY") != "delayed" {
		t.Fatalf("delayed message after restart: %v %d messages %v (a client-set __SCHEDULE_SRC advanced the scheduler past it)",
			resp, len(msgs), err)
	}
}

func TestWire_concurrentDecisionsOnOneHalf_exactlyOneWins(t *testing.T) {
	b := startWireBroker(t)
	const topic, group, halves = "WireTxRace", "wire_tpg", 12
	p := dialWire(t, b.BrokerAddr())
	type half struct{ phys, off int64 }
	hs := make([]half, halves)
	for i := range hs {
		hs[i].phys, hs[i].off = halfMessage(t, p, topic, group, fmt.Sprintf("race-%d", i))
	}
	won := make([][]int, halves) // the decision types answered SUCCESS, per half
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failures errs
	conns := []*wireClient{dialWire(t, b.BrokerAddr()), dialWire(t, b.BrokerAddr()), dialWire(t, b.BrokerAddr()), dialWire(t, b.BrokerAddr())}
	for i, h := range hs {
		for j, typ := range []int{8, 12, 8, 12} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := conns[j]
				resp, err := endTransaction(c, group, h.phys, h.off, typ, false, fmt.Sprintf("race-%d", i))
				failures.add(err)
				if err == nil && resp.Code == 0 {
					mu.Lock()
					won[i] = append(won[i], typ)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	failures.report(t)
	got, err := p.pullAll(topic, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range won {
		key := fmt.Sprintf("race-%d", i)
		if len(w) != 1 {
			t.Errorf("half %s: %d decisions accepted %v, want exactly 1", key, len(w), w)
			continue
		}
		if committed := got[key] != nil; committed != (w[0] == 8) {
			t.Errorf("half %s: the accepted decision was %d but the topic holds it: %v", key, w[0], committed)
		}
	}
}

// A half message names its producer group in PGROUP; without it no
// END_TRANSACTION can match it (the header's producerGroup is required) and
// no producer can be checked, so it would stay undecided forever.
func TestWire_halfMessageWithoutProducerGroup_isRefused(t *testing.T) {
	b := startWireBroker(t)
	c := dialWire(t, b.BrokerAddr())
	resp := c.mustCall(t, protocol.SendMessage, sendExt("WireTxNoGroup", 0, 4, props("UNIQ_KEY", "no-group", "TRAN_MSG", "true")), []byte("x"))
	if resp.Code == 0 {
		t.Fatalf("a half message without PGROUP was accepted (msgId %s): it can never be committed, rolled back or checked", resp.Ext("msgId"))
	}
}

// A consumer that stops reading its socket must not hold up anyone else:
// the broker notifies a group's members when its membership changes, and
// that notification must not make another member's HEART_BEAT wait (the
// client gives up on a heartbeat after 3 s).
func TestWire_heartbeatIsAnsweredPromptly_whileAnotherGroupMemberStopsReading(t *testing.T) {
	b := startWireBroker(t)
	const topic, group = "WireSlow", "wire_slow_cg"
	c := dialWire(t, b.BrokerAddr())
	if _, err := c.sendOne(topic, 0, "big", strings.Repeat("x", 1<<20)); err != nil {
		t.Fatal(err)
	}
	// The slow member: registers, then asks for far more than the socket
	// buffers hold and never reads again.
	slow, err := net.DialTimeout("tcp", b.BrokerAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	hb := &remoting.Command{Code: int16(protocol.HeartBeat), Version: 317, Opaque: 1, Body: heartbeatBody("127.0.0.1@slow", group, topic, "*")}
	if _, err := slow.Write(hb.AppendFrame(nil)); err != nil {
		t.Fatal(err)
	}
	_ = slow.SetReadDeadline(time.Now().Add(wireTimeout))
	r := bufio.NewReader(slow)
	for {
		resp, err := remoting.ReadCommand(r, 64<<20)
		if err != nil {
			t.Fatalf("slow member's heartbeat: %v", err)
		}
		if resp.IsResponse() {
			if resp.Code != 0 {
				t.Fatalf("slow member's heartbeat: %+v", resp)
			}
			break
		}
	}
	var pulls []byte
	for i := range 64 {
		pulls = (&remoting.Command{Code: int16(protocol.PullMessage), Version: 317, Opaque: int32(2 + i),
			ExtFields: pullExt(group, topic, 0, 0, 0)}).AppendFrame(pulls)
	}
	if _, err := slow.Write(pulls); err != nil {
		t.Fatal(err)
	}
	// Read one answer (so the pulls are being served), then never again:
	// the other 63 MiB fill the socket buffers.
	for {
		resp, err := remoting.ReadCommand(r, 64<<20)
		if err != nil {
			t.Fatalf("slow member's first pull: %v", err)
		}
		if resp.IsResponse() {
			break
		}
	}
	// Members join (each join notifies the slow member) and leave, for a
	// while: the buffers fill within milliseconds, there is no event to
	// wait for, so this samples a time window.
	for i, end := 0, time.Now().Add(1500*time.Millisecond); time.Now().Before(end); i++ {
		member := dialWire(t, b.BrokerAddr())
		start := time.Now()
		resp, err := member.do(&remoting.Command{Code: int16(protocol.HeartBeat),
			Body: heartbeatBody(fmt.Sprintf("127.0.0.1@m%d", i), group, topic, "*")}, 5*time.Second)
		if err != nil || resp.Code != 0 {
			t.Fatalf("member %d's heartbeat while another member is not reading: %v %v", i, resp, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("member %d's heartbeat took %v (the client's timeout is 3s)", i, took)
		}
		member.close()
		time.Sleep(20 * time.Millisecond)
	}
}
