package brokertest

import (
	"bufio"
	"net"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// CreateTopic creates topic (or updates it) with the broker's default queue
// count over the wire (UPDATE_AND_CREATE_TOPIC), as an operator does with
// mqadmin updateTopic before starting consumers: route lookups of a topic
// that does not exist answer TOPIC_NOT_EXIST, and the official push consumer
// does not start without a route. It fails the test on error.
func (tb *Broker) CreateTopic(topic string) {
	tb.t.Helper()
	c, err := net.DialTimeout("tcp", tb.cfg.BrokerAddr, 5*time.Second)
	if err != nil {
		tb.t.Fatalf("brokertest: create topic %s: %v", topic, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := &remoting.Command{Code: int16(protocol.UpdateAndCreateTopic), Language: "GO", Opaque: 1,
		ExtFields: map[string]string{"topic": topic}}
	if _, err := c.Write(req.AppendFrame(nil)); err != nil {
		tb.t.Fatalf("brokertest: create topic %s: %v", topic, err)
	}
	resp, err := remoting.ReadCommand(bufio.NewReader(c), 1<<20)
	if err != nil {
		tb.t.Fatalf("brokertest: create topic %s: %v", topic, err)
	}
	if resp.Code != int16(protocol.Success) {
		tb.t.Fatalf("brokertest: create topic %s: %s %s", topic, protocol.ResponseCode(resp.Code), resp.Remark)
	}
}
