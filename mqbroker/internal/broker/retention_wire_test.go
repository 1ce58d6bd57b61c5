package broker_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/clock"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
)

// waitGone waits until path no longer exists.
func waitGone(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still exists after 15 s", path)
		}
		<-tick.C
	}
}

// Retention deletes the segments holding an undecided half message and a
// delayed message that is not due yet; both are carried forward first, so
// the saga's decision still commits the half (by its original offset, also
// after a restart) and the delayed message is delivered exactly once, on
// time. A consumer below the new min offset continues at the min.
func TestRetention_carriesUndecidedHalvesAndPendingDelaysForward_andConsumersContinueAtTheMin(t *testing.T) {
	fake := clock.NewFake(time.Now())
	b := startWireBroker(t, brokertest.WithClock(fake), brokertest.WithDelayLevels("1m 2m"),
		brokertest.WithTxTimeout(time.Hour), brokertest.WithConfig(func(c *broker.Config) {
			c.SegmentSize, c.MaxMessageSize, c.Retention, c.MaxDiskUsage = 128<<10, 4096, 30*time.Second, 0
		}))
	const group = "ret_tpg"
	p := dialWire(t, b.BrokerAddr())
	if resp := p.mustCall(t, protocol.HeartBeat, nil, []byte(`{"clientID":"127.0.0.1@ret","producerDataSet":[{"groupName":"`+group+`"}],"consumerDataSet":[]}`)); resp.Code != 0 {
		t.Fatalf("heartbeat: %+v", resp)
	}
	commitPhys, commitOff := halfMessage(t, p, "RetTx", group, "tx-commit")
	rollPhys, rollOff := halfMessage(t, p, "RetTx", group, "tx-roll")
	laterPhys, laterOff := halfMessage(t, p, "RetTx", group, "tx-later")
	// A client cannot set retention's marks (recovery trusts them).
	if _, err := p.sendOne("RetForged", 0, "forged", "x", "__CARRIED_SRC", "2:1000", "__CARRIED_FROM", "7"); err != nil {
		t.Fatal(err)
	}
	if _, msgs, err := p.pull("ret_cg", "RetForged", 0, 0, 0); err != nil || len(msgs) != 1 {
		t.Fatalf("forged: %d messages %v", len(msgs), err)
	} else {
		noCarriedMarks(t, msgs[0].GetProperties())
	}
	if _, err := p.sendOne("RetDelayed", 0, "delayed", "body-delayed", "DELAY", "2"); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("f", 2000)
	for i := range 150 {
		if _, err := p.sendOne("RetFill", 0, "fill-"+strconv.Itoa(i), body); err != nil {
			t.Fatal(err)
		}
	}
	first := filepath.Join(b.DataDir(), "store", "commitlog", "00000000000000000000")
	if _, err := os.Stat(first); err != nil {
		t.Fatal(err)
	}
	fake.Advance(40 * time.Second) // older than retention, not yet due (2m)
	waitGone(t, first)

	// A consumer at offset 0, now below the min, continues at the min.
	resp, msgs, err := p.pull("ret_cg", "RetFill", 0, 0, 0)
	if err != nil || resp.Code != 0 || len(msgs) == 0 || msgs[0].QueueOffset == 0 {
		t.Fatalf("pull below the min: %+v %d messages %v", resp, len(msgs), err)
	}
	minOff := msgs[0].QueueOffset
	if got := resp.Ext("minOffset"); got != strconv.FormatInt(minOff, 10) {
		t.Fatalf("minOffset %s, first message at %d", got, minOff)
	}
	p.mustCall(t, protocol.UpdateConsumerOffset, map[string]string{"consumerGroup": "ret_cg", "topic": "RetFill", "queueId": "0", "commitOffset": "0"}, nil)
	q := p.mustCall(t, protocol.QueryConsumerOffset, map[string]string{"consumerGroup": "ret_cg", "topic": "RetFill", "queueId": "0"}, nil)
	if q.Code != 0 || q.Ext("offset") != strconv.FormatInt(minOff, 10) {
		t.Fatalf("committed offset below the min answered %s %q, want %d", protocol.ResponseCode(q.Code), q.Ext("offset"), minOff)
	}

	// The carried halves are decided by their original offsets.
	if resp, err := endTransaction(p, group, commitPhys, commitOff, 8, false, "tx-commit"); err != nil || resp.Code != 0 {
		t.Fatalf("commit after retention: %+v %v", resp, err)
	}
	if resp, err := endTransaction(p, group, rollPhys, rollOff, 12, false, "tx-roll"); err != nil || resp.Code != 0 {
		t.Fatalf("rollback after retention: %+v %v", resp, err)
	}
	got, err := p.pullAll("RetTx", 4)
	if err != nil || len(got) != 1 || got["tx-commit"] == nil {
		t.Fatalf("RetTx after the decisions: %v %v", got, err)
	}
	noCarriedMarks(t, got["tx-commit"].GetProperties())

	b.Restart()
	c := dialWire(t, b.BrokerAddr())
	if resp, err := endTransaction(c, group, laterPhys, laterOff, 8, false, "tx-later"); err != nil || resp.Code != 0 {
		t.Fatalf("commit of a carried half after a restart: %+v %v", resp, err)
	}
	if resp, err := endTransaction(c, group, rollPhys, rollOff, 8, false, "tx-roll"); err != nil || resp.Code == 0 {
		t.Fatalf("committing the rolled-back carried half after a restart: %+v %v, want an error", resp, err)
	}
	if got, err := c.pullAll("RetTx", 4); err != nil || len(got) != 2 || got["tx-later"] == nil {
		t.Fatalf("RetTx after restart: %v %v", got, err)
	}

	// Not delivered early, then exactly once when due (2m after it was sent).
	if resp, msgs, err := c.pull("ret_cg", "RetDelayed", 0, 0, 0); err != nil || len(msgs) != 0 {
		t.Fatalf("delayed message delivered early: %+v %d %v", resp, len(msgs), err)
	}
	fake.Advance(81 * time.Second)
	resp, msgs, err = c.pull("ret_cg", "RetDelayed", 0, 0, 5*time.Second)
	if err != nil || resp.Code != 0 || len(msgs) != 1 || msgs[0].GetProperty("UNIQ_KEY") != "delayed" || string(msgs[0].Body) != "body-delayed" {
		t.Fatalf("delayed message after retention: %+v %d messages %v", resp, len(msgs), err)
	}
	noCarriedMarks(t, msgs[0].GetProperties())
	b.Restart()
	fake.Advance(5 * time.Minute)
	c = dialWire(t, b.BrokerAddr())
	if list, err := c.pullList("RetDelayed", 4); err != nil || len(list) != 1 {
		t.Fatalf("RetDelayed after another restart holds %d messages (%v), want exactly 1", len(list), err)
	}
}

func TestRetention_refusesSendsWhenTheDiskIsFull_configValidation(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.Retention, cfg.MaxDiskUsage = -time.Second, 101
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "retention") || !strings.Contains(err.Error(), "max-disk-usage") {
		t.Fatalf("Validate = %v, want both retention and max-disk-usage reported", err)
	}
}

func noCarriedMarks(t *testing.T, props map[string]string) {
	t.Helper()
	for k := range props {
		if strings.HasPrefix(k, "__CARRIED_") {
			t.Errorf("internal property %s=%s reached a consumer", k, props[k])
		}
	}
}

// Issue 12: a crafted CONSUMER_SEND_MSG_BACK offset pointing at bytes that
// look like a frame header claiming a huge record gets a clear error; the
// store never reads (allocates) more than the max message size.
func TestWire_sendBackAtACraftedOffset_isRefusedByTheMaxMessageSizeBound(t *testing.T) {
	b := startWireBroker(t, brokertest.WithConfig(func(c *broker.Config) { c.MaxMessageSize = 8 << 10 }))
	c := dialWire(t, b.BrokerAddr())
	// The body holds a fake frame header claiming 1 MiB; 1.2 MiB follow, so the claim fits below
	// the end of the log.
	marker := "\x00\x10\x00\x00\xab\xcd\xef\x01"
	if _, err := c.sendOne("Crafted", 0, "crafted", marker+strings.Repeat("z", 100)); err != nil {
		t.Fatal(err)
	}
	filler := strings.Repeat("f", 4000)
	for i := range 300 {
		if _, err := c.sendOne("Crafted", 1, "fill-"+strconv.Itoa(i), filler); err != nil {
			t.Fatal(err)
		}
	}
	resp, msgs, err := c.pull("cg", "Crafted", 0, 0, 0)
	if err != nil || resp.Code != 0 || len(msgs) != 1 {
		t.Fatalf("pull: %+v %d %v", resp, len(msgs), err)
	}
	raw := resp.Body
	at := strings.Index(string(raw), marker)
	if at < 0 {
		t.Fatal("test setup: marker not in the record")
	}
	crafted := msgs[0].CommitLogOffset + 8 + int64(at) // frame header + position in the record
	back := c.mustCall(t, protocol.ConsumerSendMsgBack, map[string]string{"group": "cg", "offset": strconv.FormatInt(crafted, 10),
		"delayLevel": "0", "originMsgId": msgs[0].MsgId, "originTopic": "Crafted", "unitMode": "false", "maxReconsumeTimes": "16"}, nil)
	if back.Code == 0 || !strings.Contains(back.Remark, "message limit") {
		t.Fatalf("send back at a crafted offset: %s %q, want an error naming the message limit", protocol.ResponseCode(back.Code), back.Remark)
	}
}
