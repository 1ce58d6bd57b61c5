package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// relayWorld is a broker with one raw consumer connection registered as
// client "relay-client" of group "relay_cg".
type relayWorld struct {
	consumer, admin *wireClient
}

func newRelayWorld(t *testing.T, relayTimeout time.Duration) *relayWorld {
	t.Helper()
	b := startWireBroker(t, brokertest.WithConfig(func(c *broker.Config) { c.RelayTimeout = relayTimeout }))
	b.CreateTopic("RelayTopic")
	w := &relayWorld{consumer: dialWire(t, b.BrokerAddr()), admin: dialWire(t, b.BrokerAddr())}
	if r := w.consumer.mustCall(t, protocol.HeartBeat, nil, heartbeatBody("relay-client", "relay_cg", "RelayTopic", "*")); r.Code != 0 {
		t.Fatalf("heartbeat: %s", r.Remark)
	}
	return w
}

// runningInfoAsync sends GET_CONSUMER_RUNNING_INFO for the consumer from the admin
// connection; the answer (nil on a transport error) arrives on the channel.
func (w *relayWorld) runningInfoAsync(t *testing.T) <-chan *remoting.Command {
	got := make(chan *remoting.Command, 1)
	go func() {
		r, err := w.admin.call(protocol.GetConsumerRunningInfo, runningInfoExt, nil)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	return got
}

var runningInfoExt = map[string]string{"consumerGroup": "relay_cg", "clientId": "relay-client", "jstackEnable": "true"}

// TestRelay_answerIsPassedBackWithTheAdminsOpaque: the request reaches the
// client's connection with mqadmin's ext fields (and no oneway bit); the
// client's code, remark, ext fields and body come back to mqadmin.
func TestRelay_answerIsPassedBackWithTheAdminsOpaque(t *testing.T) {
	w := newRelayWorld(t, wireTimeout)
	got := w.runningInfoAsync(t)
	req := w.consumer.waitPushed(t, protocol.GetConsumerRunningInfo, wireTimeout)
	if req.Flag&remoting.FlagOneway != 0 || req.Ext("clientId") != "relay-client" || req.Ext("jstackEnable") != "true" {
		t.Fatalf("relayed request flag %d ext %v; want a two-way request with mqadmin's fields", req.Flag, req.ExtFields)
	}
	answer := &remoting.Command{Code: 0, Opaque: req.Opaque, Flag: remoting.FlagResponse, Remark: "from the client",
		ExtFields: map[string]string{"k": "v"}, Body: []byte(`{"properties":{}}`)}
	if err := w.consumer.writeRaw(answer.AppendFrame(nil)); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r == nil {
		t.FailNow()
	}
	if r.Code != 0 || r.Remark != "from the client" || r.Ext("k") != "v" || string(r.Body) != `{"properties":{}}` || !r.IsResponse() {
		t.Fatalf("relayed answer = code %d remark %q ext %v body %q; want the client's", r.Code, r.Remark, r.ExtFields, r.Body)
	}
}

// TestRelay_errors: an unknown client, one that does not answer in time and
// one whose connection closes while the broker waits get Apache's answers
// (SYSTEM_ERROR "not online", CONSUME_MSG_TIMEOUT, SYSTEM_ERROR) and the
// admin's connection stays usable.
func TestRelay_errors(t *testing.T) {
	t.Run("not online", func(t *testing.T) {
		w := newRelayWorld(t, wireTimeout)
		r := w.admin.mustCall(t, protocol.GetConsumerRunningInfo, map[string]string{"consumerGroup": "relay_cg", "clientId": "nobody"}, nil)
		if r.Code != int16(protocol.SystemError) || r.Remark != "The Consumer <relay_cg> <nobody> not online" {
			t.Fatalf("unknown client: %s %q", protocol.ResponseCode(r.Code), r.Remark)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		w := newRelayWorld(t, 200*time.Millisecond)
		r := w.admin.mustCall(t, protocol.GetConsumerRunningInfo, runningInfoExt, nil)
		if r.Code != int16(protocol.ConsumeMsgTimeout) || !strings.HasPrefix(r.Remark, "consumer <relay_cg> <relay-client> Timeout") {
			t.Fatalf("silent client: %d %q; want CONSUME_MSG_TIMEOUT (207)", r.Code, r.Remark)
		}
		// A late answer is dropped; the next relay still works.
		req := w.consumer.waitPushed(t, protocol.GetConsumerRunningInfo, wireTimeout)
		late := &remoting.Command{Opaque: req.Opaque, Flag: remoting.FlagResponse}
		if err := w.consumer.writeRaw(late.AppendFrame(nil)); err != nil {
			t.Fatal(err)
		}
		if ids := consumerIDs(t, w.admin, "relay_cg"); len(ids) != 1 {
			t.Fatalf("members after a late answer: %v", ids)
		}
	})
	t.Run("connection closes", func(t *testing.T) {
		w := newRelayWorld(t, time.Minute)
		got := w.runningInfoAsync(t)
		w.consumer.waitPushed(t, protocol.GetConsumerRunningInfo, wireTimeout)
		w.consumer.close()
		r := <-got
		if r == nil {
			t.FailNow()
		}
		if r.Code != int16(protocol.SystemError) || !strings.Contains(r.Remark, "invoke consumer <relay_cg> <relay-client> Exception") {
			t.Fatalf("client gone: %s %q", protocol.ResponseCode(r.Code), r.Remark)
		}
	})
	t.Run("bad msgId", func(t *testing.T) {
		w := newRelayWorld(t, wireTimeout)
		r := w.admin.mustCall(t, protocol.ConsumeMessageDirectly, map[string]string{"consumerGroup": "relay_cg", "clientId": "relay-client", "msgId": "zz"}, nil)
		if r.Code != int16(protocol.SystemError) || !strings.Contains(r.Remark, `msgId "zz"`) {
			t.Fatalf("bad msgId: %s %q", protocol.ResponseCode(r.Code), r.Remark)
		}
	})
}
