//go:build !race

package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
)

// TestRelay_consumerRunningInfoAndConsumeDirectlyFromGoPushConsumer: the
// broker relays mqadmin's GET_CONSUMER_RUNNING_INFO (consumerStatus,
// consumerProgress -s) and CONSUME_MESSAGE_DIRECTLY (consumeMessage) to the
// official Go push consumer over its own connection and returns the
// client's answers: its running info (subscription, properties, queues) and
// the result of handing it the message again.
func TestRelay_consumerRunningInfoAndConsumeDirectlyFromGoPushConsumer(t *testing.T) {
	b := brokertest.Start(t)
	topic, group := uniq("RelayT"), uniq("relay_cg")
	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: group, listen: collectInto(col)})
	p := newProducer(t, b)
	sent, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("relay me")))
	if err != nil {
		t.Fatal(err)
	}
	col.waitCount(t, 1, 30*time.Second)

	adm := dialWire(t, b.BrokerAddr())
	ids := consumerIDs(t, adm, group)
	if len(ids) != 1 {
		t.Fatalf("group %s has members %v, want one", group, ids)
	}
	r := javaCall(t, adm, protocol.GetConsumerRunningInfo, map[string]string{"consumerGroup": group, "clientId": ids[0], "jstackEnable": "false"}, nil)
	if r.Code != int16(protocol.Success) {
		t.Fatalf("GET_CONSUMER_RUNNING_INFO: %s %q", protocol.ResponseCode(r.Code), r.Remark)
	}
	// The body is fastjson-shaped (mqTable is keyed by MessageQueue
	// objects), as Java's mqadmin reads it; encoding/json cannot parse it.
	for _, want := range []string{`"PROP_CONSUME_TYPE":"CONSUME_PASSIVELY"`, `"PROP_NAMESERVER_ADDR":"` + b.NamesrvAddr() + `;"`,
		`"topic":"` + topic + `","subString":"*"`, `"mqTable":{{"topic":"`, `"queueId":0}:{"commitOffset":`} {
		if !bytes.Contains(r.Body, []byte(want)) {
			t.Errorf("running info lacks %s: %s", want, r.Body)
		}
	}

	r = javaCall(t, adm, protocol.ConsumeMessageDirectly, map[string]string{"consumerGroup": group, "clientId": ids[0], "msgId": sent.OffsetMsgID}, nil)
	if r.Code != int16(protocol.Success) {
		t.Fatalf("CONSUME_MESSAGE_DIRECTLY: %s %q", protocol.ResponseCode(r.Code), r.Remark)
	}
	var res struct {
		ConsumeResult *int `json:"consumeResult"`
	}
	if err := json.Unmarshal(r.Body, &res); err != nil || res.ConsumeResult == nil || *res.ConsumeResult != 0 {
		t.Fatalf("consume directly result %q (%v); want consumeResult 0 (success)", r.Body, err)
	}
	got := col.waitCount(t, 2, 30*time.Second)
	if string(got[1].Body) != "relay me" || got[1].MsgId != sent.MsgID {
		t.Fatalf("the listener got %q (%s) directly, want %q (%s)", got[1].Body, got[1].MsgId, "relay me", sent.MsgID)
	}
}
