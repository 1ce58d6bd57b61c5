package broker_test

import (
	"regexp"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
)

var brokerAddrInCluster = regexp.MustCompile(`"brokerAddrs":\{"?0"?:"([^"]+)"`)

// ensureTopic creates topic with the broker's default layout unless it
// exists, as an operator does before starting consumers: route lookups never
// create topics (Apache RocketMQ's name server semantics), and the official
// push consumer refuses to start on a topic without a route.
func ensureTopic(t testing.TB, nsAddr, topic string) {
	t.Helper()
	ns := dialWire(t, nsAddr)
	defer ns.close()
	if r := ns.mustCall(t, protocol.GetRouteInfoByTopic, map[string]string{"topic": topic}, nil); r.Code == int16(protocol.Success) {
		return
	}
	info := ns.mustCall(t, protocol.GetBrokerClusterInfo, nil, nil)
	m := brokerAddrInCluster.FindSubmatch(info.Body)
	if info.Code != int16(protocol.Success) || m == nil {
		t.Fatalf("cluster info %s: %s", protocol.ResponseCode(info.Code), info.Body)
	}
	br := dialWire(t, string(m[1]))
	defer br.close()
	if r := br.mustCall(t, protocol.UpdateAndCreateTopic, map[string]string{"topic": topic}, nil); r.Code != int16(protocol.Success) {
		t.Fatalf("create topic %s: %s %s", topic, protocol.ResponseCode(r.Code), r.Remark)
	}
}
