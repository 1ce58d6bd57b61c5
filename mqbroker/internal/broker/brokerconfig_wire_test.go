package broker_test

import (
	"strings"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
)

// Review finding 11: GET_BROKER_CONFIG always said aclEnable=false and
// enablePropertyFilter=false.
func TestGetBrokerConfig_reportsTheRealACLAndPropertyFilterSettings(t *testing.T) {
	config := func(t *testing.T, b *brokertest.Broker, ak, sk string) string {
		c := dialWire(t, b.BrokerAddr())
		var resp = c.signedCall(t, protocol.GetBrokerConfig, ak, sk, nil, nil)
		if resp.Code != int16(protocol.Success) {
			t.Fatalf("GET_BROKER_CONFIG: %s %q", protocol.ResponseCode(resp.Code), resp.Remark)
		}
		return "\n" + string(resp.Body)
	}
	for _, tc := range []struct {
		name       string
		b          *brokertest.Broker
		acl, sql92 string
	}{
		{"defaults", brokertest.Start(t), "false", "true"},
		{"ACL on", startResolvedACLBroker(t), "true", "true"},
		{"property filter off", brokertest.Start(t, brokertest.WithConfig(func(c *broker.Config) { c.EnablePropertyFilter = false })), "false", "false"},
	} {
		got := config(t, tc.b, "order_srv", "order-secret-1")
		for _, want := range []string{"\naclEnable=" + tc.acl + "\n", "\nenablePropertyFilter=" + tc.sql92 + "\n"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s: broker config lacks %q", tc.name, strings.TrimSpace(want))
			}
		}
	}
}
