package broker

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/shopsaga/shopsaga/mqbroker/internal/clock"
	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// legacyRecord is a message stored before sends reserved room for the
// broker's additions: its properties are 5 bytes below the limit, so no
// carry-forward mark and no __SCHEDULE_SRC fits any more.
func legacyRecord(b *Broker, topic, key string) *message.Message {
	m := &message.Message{Topic: topic, Body: []byte("body-" + key), BornTimestamp: b.clock.Now().UnixMilli(),
		BornHost: b.storeHost, StoreHost: b.storeHost, Properties: map[string]string{message.PropUniqKey: key}}
	m.Properties["pad"] = "p" // padTo fills it up once toHalf/toSchedule added theirs
	return m
}

func setAsideCount(t *testing.T, b *Broker, kind string) float64 {
	t.Helper()
	var m dto.Metric
	if err := b.metrics.setAside.WithLabelValues(kind).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func padTo(t *testing.T, m *message.Message, want int) {
	t.Helper()
	n := len(message.EncodeProperties(m.Properties))
	m.Properties["pad"] += strings.Repeat("p", want-n)
	if got := len(message.EncodeProperties(m.Properties)); got != want {
		t.Fatalf("properties %d bytes, want %d", got, want)
	}
}

// Review finding 1: an entry retention cannot carry forward (or the
// scheduler cannot deliver) is counted, logged and moved to the dead-letter
// topic; it no longer aborts Retain or stalls its delay level.
func TestRetention_anEntryThatCannotBeCarried_isSetAsideAndRetentionGoesOn(t *testing.T) {
	fake := clock.NewFake(time.Now())
	cfg := DefaultConfig()
	cfg.NamesrvAddr, cfg.BrokerAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.SegmentSize, cfg.MaxMessageSize, cfg.Retention, cfg.MaxDiskUsage, cfg.Clock = 128<<10, 4096, 30*time.Second, 0, fake
	levels, err := delay.ParseLevels("1m 2m")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DelayLevels = levels
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	sched := legacyRecord(b, "RevDelayed", "legacy-delayed")
	b.toSchedule(sched, 2)
	padTo(t, sched, message.MaxPropertiesLen-5)
	half := legacyRecord(b, "order_reback", "legacy-half")
	half.Properties[message.PropProducerGroup] = "order_srv_tx"
	half.Properties[message.PropTransactionPrepared] = "true"
	toHalf(half)
	padTo(t, half, message.MaxPropertiesLen-5)
	if _, err := b.store.Put(sched, half); err != nil {
		t.Fatal(err)
	}
	b.txn.added(half)
	fill := strings.Repeat("f", 2000)
	for i := range 150 {
		m := &message.Message{Topic: "RevFill", Body: []byte(fill), BornTimestamp: fake.Now().UnixMilli(),
			BornHost: b.storeHost, StoreHost: b.storeHost, Properties: map[string]string{message.PropUniqKey: "fill-" + strconv.Itoa(i)}}
		if _, err := b.store.Put(m); err != nil {
			t.Fatal(err)
		}
	}
	fake.Advance(40 * time.Second) // older than retention, not yet due
	b.retain()
	first := filepath.Join(cfg.DataDir, "store", "commitlog", "00000000000000000000")
	if _, err := os.Stat(first); err == nil {
		t.Fatal("the first segment is still there: retention stopped at an entry it could not carry")
	}
	for kind, want := range map[string]float64{asideHalf: 1, asideScheduled: 1} {
		if got := setAsideCount(t, b, kind); got != want {
			t.Errorf("mqbroker_set_aside_total{kind=%q} = %v, want %v", kind, got, want)
		}
	}
	if n := b.txn.pendingCount(); n != 0 {
		t.Errorf("%d halves still pending: the set-aside half must be ended (discard op)", n)
	}
	dl := map[string]*message.Message{}
	for off := int64(0); off < b.store.MaxOffset(deadLetterTopic, 0); off++ {
		phys, _, ok := b.store.QueueEntry(deadLetterTopic, 0, off)
		if !ok {
			t.Fatalf("dead-letter entry %d missing", off)
		}
		m, err := b.store.Read(phys)
		if err != nil {
			t.Fatal(err)
		}
		dl[m.UniqKey()] = m
	}
	if m := dl["legacy-half"]; m == nil || m.Properties[message.PropRealTopic] != "order_reback" || m.Properties[message.PropProducerGroup] != "order_srv_tx" {
		t.Errorf("the half is not in %s with its real topic and group: %v", deadLetterTopic, dl)
	}
	if m := dl["legacy-delayed"]; m == nil || m.Properties[message.PropRealTopic] != "RevDelayed" {
		t.Errorf("the scheduled message is not in %s with its real topic: %v", deadLetterTopic, dl)
	}

	// Delivery: a due entry whose delivered copy does not fit is set aside
	// and the level goes on to the next entry.
	big := legacyRecord(b, "RevDelayed", "legacy-due")
	b.toSchedule(big, 1)
	padTo(t, big, message.MaxPropertiesLen-5)
	next := &message.Message{Topic: "RevDelayed", Body: []byte("next"), BornTimestamp: fake.Now().UnixMilli(),
		BornHost: b.storeHost, StoreHost: b.storeHost, Properties: map[string]string{message.PropUniqKey: "next"}}
	b.toSchedule(next, 1)
	if _, err := b.store.Put(big, next); err != nil {
		t.Fatal(err)
	}
	fake.Advance(time.Minute)
	b.sched.deliverDue(fake.Now())
	if got := setAsideCount(t, b, asideDelivery); got != 1 {
		t.Errorf("mqbroker_set_aside_total{kind=delivery} = %v, want 1", got)
	}
	if n := b.store.MaxOffset("RevDelayed", 0); n != 1 {
		t.Fatalf("RevDelayed holds %d messages, want the one queued behind the set-aside entry", n)
	}
	if n := b.store.MaxOffset(deadLetterTopic, 0); n != 3 {
		t.Fatalf("%s holds %d entries, want 3", deadLetterTopic, n)
	}
}

// Review finding 1, send-back: a message stored before sends reserved room
// for the retry properties goes to the group's DLQ at once instead of a
// retry copy that can never be stored (the connection was closed, and the
// client re-consumed it, forever).
func TestSendBack_aMessageWithoutRoomForRetryProperties_goesToTheDLQ(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NamesrvAddr, cfg.BrokerAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	m := legacyRecord(b, "RevRetry", "legacy-retry")
	padTo(t, m, message.MaxPropertiesLen-5)
	if _, err := b.store.Put(m); err != nil {
		t.Fatal(err)
	}
	resp := b.handleSendBack(nil, &remoting.Command{Code: int16(protocol.ConsumerSendMsgBack), ExtFields: map[string]string{
		"group": "rev_cg", "offset": strconv.FormatInt(m.PhysicalOffset, 10), "delayLevel": "0", "maxReconsumeTimes": "16"}})
	if resp == nil || resp.Code != int16(protocol.Success) {
		t.Fatalf("send-back: %+v, want success", resp)
	}
	if n := b.store.MaxOffset(dlqPrefix+"rev_cg", 0); n != 1 {
		t.Fatalf("%%DLQ%%rev_cg holds %d messages, want 1", n)
	}
}
