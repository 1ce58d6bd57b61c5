package broker_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// Issue 12: Java's client logged "receive response, but not matched any
// request" for every one-way offset update the broker answered. A request
// with the one-way flag bit is served and never answered.
func TestWire_onewayOffsetUpdate_isAppliedAndGetsNoResponse(t *testing.T) {
	b := startWireBroker(t)
	nc, err := net.DialTimeout("tcp", b.BrokerAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	write := func(cmd *remoting.Command) {
		cmd.Language, cmd.Version = "JAVA", 317
		if _, err := nc.Write(cmd.AppendFrame(nil)); err != nil {
			t.Fatal(err)
		}
	}
	key := map[string]string{"consumerGroup": "g_oneway", "topic": "t_oneway", "queueId": "0"}
	update := map[string]string{"commitOffset": "42"}
	for k, v := range key {
		update[k] = v
	}
	write(&remoting.Command{Code: int16(protocol.UpdateConsumerOffset), Opaque: 1, Flag: remoting.FlagOneway, ExtFields: update})
	deadline := time.Now().Add(10 * time.Second)
	for i := int32(100); ; i++ {
		write(&remoting.Command{Code: int16(protocol.QueryConsumerOffset), Opaque: i, ExtFields: key})
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := remoting.ReadCommand(r, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Opaque != i {
			t.Fatalf("got a frame with opaque %d (code %d), want only the answer to query %d: the one-way update was answered", resp.Opaque, resp.Code, i)
		}
		if resp.Code == int16(protocol.Success) && resp.Ext("offset") == "42" {
			break // applied; one more round trip below would show a late answer to it
		}
		if time.Now().After(deadline) {
			t.Fatalf("the one-way offset update was not applied: %s %q offset %q", protocol.ResponseCode(resp.Code), resp.Remark, resp.Ext("offset"))
		}
	}
	write(&remoting.Command{Code: int16(protocol.QueryConsumerOffset), Opaque: 7, ExtFields: key})
	resp, err := remoting.ReadCommand(r, 1<<20)
	if err != nil || resp.Opaque != 7 {
		t.Fatalf("after the update: %+v, %v; want only the answer to query 7", resp, err)
	}
}
