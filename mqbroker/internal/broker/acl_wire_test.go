package broker_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/acl"
	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// testACL is the compose stack's policy in small: only order_srv publishes
// the saga's topics, inventory_srv only subscribes.
const testACL = `
accounts:
  - accessKey: order_srv
    secretKey: order-secret-1
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - order_reback=PUB
      - order_timeout=PUB|SUB
  - accessKey: inventory_srv
    secretKey: inventory-secret-1
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - order_reback=SUB
`

// startACLBroker starts a broker with policy written to a file it watches
// (reloading every 10 ms); it returns the file's path.
func startACLBroker(t *testing.T, policy string) (*brokertest.Broker, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(path, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, brokertest.WithAdmin(), brokertest.WithConfig(func(c *broker.Config) {
		c.ACLFile, c.ACLReloadInterval = path, 10*time.Millisecond
	}))
	return b, path
}

// signedCall sends a request signed as the Go client signs it.
func (c *wireClient) signedCall(t *testing.T, code protocol.Code, ak, sk string, ext map[string]string, body []byte) *remoting.Command {
	t.Helper()
	e := map[string]string{acl.AccessKeyField: ak}
	for k, v := range ext {
		e[k] = v
	}
	e[acl.SignatureField] = acl.Sign(e, body, []byte(sk))
	return c.mustCall(t, code, e, body)
}

// A crafted commit-log offset must not copy another topic's message into
// the caller's retry topic (the ACL checked only originTopic).
func TestACL_sendBack_refusesAMessageOfAnotherTopic(t *testing.T) {
	b, _ := startACLBroker(t, testACL)
	c := dialWire(t, b.BrokerAddr())
	resp := c.signedCall(t, protocol.SendMessage, "order_srv", "order-secret-1",
		sendExt("order_timeout", 0, 0, props("UNIQ_KEY", "k1")), []byte("payment timeout of order 1"))
	_, _, ids, err := parseSendResponse(resp, 1)
	if err != nil {
		t.Fatal(err)
	}
	phys, err := strconv.ParseInt(ids[0][16:], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	back := c.signedCall(t, protocol.ConsumerSendMsgBack, "inventory_srv", "inventory-secret-1", map[string]string{
		"group": "inventory_reback", "originTopic": "order_reback", "offset": strconv.FormatInt(phys, 10),
		"delayLevel": "0", "originMsgId": ids[0], "maxReconsumeTimes": "16"}, nil)
	if back.Code != int16(protocol.NoPermission) || !strings.Contains(back.Remark, `not of topic "order_reback"`) {
		t.Fatalf("send-back of an order_timeout message as order_reback: %s %q, want NO_PERMISSION naming the topic",
			protocol.ResponseCode(back.Code), back.Remark)
	}

	// An unsigned raw send to order_reback is refused, naming why.
	raw := c.mustCall(t, protocol.SendMessage, sendExt("order_reback", 0, 0, props("UNIQ_KEY", "k2")), []byte("forged"))
	if raw.Code != int16(protocol.NoPermission) || !strings.Contains(raw.Remark, "no AccessKey") {
		t.Fatalf("unsigned send: %s %q, want NO_PERMISSION (no AccessKey)", protocol.ResponseCode(raw.Code), raw.Remark)
	}
}
