package broker_test

import (
	"fmt"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
)

// Review finding 8: QUERY_MESSAGE passes its maxNum and topic to the store's key lookup (which
// stops early); the answer is still the first maxNum records of that topic with the key.
func TestQueryMessage_boundedByMaxNumAndTopic(t *testing.T) {
	b := startWireBroker(t)
	c := dialWire(t, b.BrokerAddr())
	var wantB []string
	for i := range 12 {
		topic := "QueryA"
		if i%2 == 1 {
			topic = "QueryB"
		}
		key := fmt.Sprintf("q%d", i)
		if _, err := c.sendOne(topic, 0, key, "body "+key, "KEYS", "shared"); err != nil {
			t.Fatal(err)
		}
		if topic == "QueryB" {
			wantB = append(wantB, key)
		}
	}
	r := javaCall(t, c, protocol.QueryMessage, map[string]string{"topic": "QueryB", "key": "shared", "maxNum": "3",
		"beginTimestamp": "0", "endTimestamp": "9223372036854775807"}, nil)
	if r.Code != 0 {
		t.Fatalf("QUERY_MESSAGE: %d %s", r.Code, r.Remark)
	}
	msgs, err := message.DecodeAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		if m.Topic != "QueryB" {
			t.Errorf("QUERY_MESSAGE for QueryB returned a message of %s", m.Topic)
		}
		got = append(got, m.UniqKey())
	}
	if fmt.Sprint(got) != fmt.Sprint(wantB[:3]) {
		t.Fatalf("QUERY_MESSAGE(QueryB, shared, maxNum 3) = %v, want %v", got, wantB[:3])
	}
}
