package broker

import (
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
	"github.com/shopsaga/shopsaga/mqbroker/internal/store"
)

func openInlineBroker(t *testing.T, flush store.FlushMode) *Broker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NamesrvAddr, cfg.BrokerAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.Flush = flush
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// sendTo is a send of each code the client uses, to topic.
func sendTo(topic string) map[string]*remoting.Command {
	return map[string]*remoting.Command{
		"SEND_MESSAGE":       {Code: int16(protocol.SendMessage), ExtFields: map[string]string{"topic": topic}},
		"SEND_MESSAGE_V2":    {Code: int16(protocol.SendMessageV2), ExtFields: map[string]string{"b": topic}},
		"SEND_BATCH_MESSAGE": {Code: int16(protocol.SendBatchMessage), ExtFields: map[string]string{"b": topic}},
	}
}

// A send to a topic it would auto-create (topics.json written with
// fsyncs under the table's lock) goes to a worker; once the topic exists
// its sends are inlined, unless the table is held (a create in progress).
func TestReview_sendToANewTopic_isNotInlined(t *testing.T) {
	b := openInlineBroker(t, store.FlushAsync)
	for name, req := range sendTo("RevNewTopic") {
		if b.Inline(req) {
			t.Errorf("%s to a topic that does not exist: inlined", name)
		}
	}
	if _, _, err := b.topics.get("RevNewTopic", true); err != nil {
		t.Fatal(err)
	}
	for name, req := range sendTo("RevNewTopic") {
		if !b.Inline(req) {
			t.Errorf("%s to an existing topic with --flush async: not inlined", name)
		}
	}
	b.topics.mu.Lock()
	for name, req := range sendTo("RevNewTopic") {
		if b.Inline(req) {
			t.Errorf("%s while the topic table is held: inlined", name)
		}
	}
	b.topics.mu.Unlock()
}

func TestBroker_Inline_neverWithFlushSync(t *testing.T) {
	b := openInlineBroker(t, store.FlushSync)
	if _, _, err := b.topics.get("RevSyncTopic", true); err != nil {
		t.Fatal(err)
	}
	for name, req := range sendTo("RevSyncTopic") {
		if b.Inline(req) {
			t.Errorf("%s with --flush sync: inlined (it waits for the group commit)", name)
		}
	}
}

func TestBroker_Inline_onlySends(t *testing.T) {
	b := openInlineBroker(t, store.FlushAsync)
	if _, _, err := b.topics.get("RevTopic", true); err != nil {
		t.Fatal(err)
	}
	for _, code := range []protocol.Code{protocol.HeartBeat, protocol.PullMessage, protocol.UpdateConsumerOffset,
		protocol.EndTransaction, protocol.ConsumerSendMsgBack, protocol.LockBatchMQ, protocol.GetRouteInfoByTopic} {
		req := &remoting.Command{Code: int16(code), ExtFields: map[string]string{"topic": "RevTopic", "b": "RevTopic"}}
		if b.Inline(req) {
			t.Errorf("%s inlined", code)
		}
	}
}

// A send to a retry topic may move its message to the dead-letter topic,
// creating that: never inlined.
func TestBroker_Inline_notForRetryTopics(t *testing.T) {
	b := openInlineBroker(t, store.FlushAsync)
	topic := retryPrefix + "rev_cg"
	if _, _, err := b.topics.get(topic, true); err != nil {
		t.Fatal(err)
	}
	for name, req := range sendTo(topic) {
		if b.Inline(req) {
			t.Errorf("%s to %s: inlined", name, topic)
		}
	}
}
