//go:build !race

package broker_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// dialWireFrom connects to addr from the loopback address src (Linux
// routes all of 127.0.0.0/8 to lo): a peer IP other than the clients'.
func dialWireFrom(t testing.TB, addr, src string) *wireClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	c := &wireClient{nc: nc, pushed: make(chan *remoting.Command, 64), done: make(chan struct{}),
		pending: make(map[int32]chan *remoting.Command)}
	go c.readLoop()
	t.Cleanup(c.close)
	return c
}

// Review finding 7: the per-peer-IP limits reach the broker's listener
// (--max-conns-per-ip), and a peer at its cap does not stop the clients of
// other IPs.
func TestLimit_maxConnsPerIP_closesAPeersExtraConnection_andOthersStillSend(t *testing.T) {
	b := startWireBroker(t, func(c *broker.Config) { c.MaxConnsPerIP = 2 })
	key := map[string]string{"consumerGroup": "g_limit", "topic": "t_limit", "queueId": "0"}
	for range 2 {
		c := dialWireFrom(t, b.BrokerAddr(), "127.0.0.51")
		if _, err := c.call(protocol.QueryConsumerOffset, key, nil); err != nil {
			t.Fatalf("a connection within the cap: %v", err)
		}
	}
	extra := dialWireFrom(t, b.BrokerAddr(), "127.0.0.51")
	if !extra.closedWithin(10 * time.Second) {
		t.Fatal("the third connection of one IP was not closed (max-conns-per-ip 2)")
	}

	p := newProducer(t, b) // from 127.0.0.1
	topic := uniq("t_limit")
	if res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("still flowing"))); err != nil || res.Status != primitive.SendOK {
		t.Fatalf("send of another IP's client: %v %v", res, err)
	}
}
