package acl_test

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/acl"
)

// subscribeOnly is the review's account: it may subscribe to the stock
// returns and nothing else.
const subscribeOnly = `
accounts:
  - accessKey: inventory_srv
    secretKey: inventorysecret
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - order_reback=SUB
    groupPerms:
      - inventory_reback=SUB
  - accessKey: order_srv
    secretKey: ordersecret
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - order_reback=PUB
    groupPerms:
      - order_srv_tx=PUB
`

// Review finding 3, at the policy: END_TRANSACTION, the producer part of
// HEART_BEAT and LOCK/UNLOCK_BATCH_MQ needed only a valid signature.
func TestACL_subscribeOnlyAccount_mayNotEndTransactionsHeartbeatAsProducerOrLock(t *testing.T) {
	t.Parallel()
	p := mustParse(t, subscribeOnly)
	endTx := map[string]string{"producerGroup": "order_srv_tx", "tranStateTableOffset": "3", "commitLogOffset": "4096", "commitOrRollback": "8"}
	producerHB := `{"clientID":"x","producerDataSet":[{"groupName":"order_srv_tx"}],"consumerDataSet":[]}`
	lock := func(group string) string {
		return `{"consumerGroup":"` + group + `","clientId":"x","mqSet":[{"topic":"order_reback","brokerName":"b","queueId":0}]}`
	}
	for _, tc := range []struct {
		name    string
		req     acl.Request
		refused string // "" allowed
	}{
		{"inventory_srv ends order_srv's transaction", signed(37, "inventory_srv", "inventorysecret", endTx, ""), "no PUB permission on group order_srv_tx"},
		{"order_srv ends its transaction", signed(37, "order_srv", "ordersecret", endTx, ""), ""},
		{"inventory_srv heartbeats as order_srv_tx's producer", signed(34, "inventory_srv", "inventorysecret", nil, producerHB), "no PUB permission on group order_srv_tx"},
		{"order_srv heartbeats as its producer", signed(34, "order_srv", "ordersecret", nil, producerHB), ""},
		{"a Java client's inner producer needs nothing", signed(34, "inventory_srv", "inventorysecret", nil,
			`{"clientID":"x","producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}],"consumerDataSet":[]}`), ""},
		{"inventory_srv locks another group's queues", signed(41, "inventory_srv", "inventorysecret", nil, lock("order_srv_timeout")), "no SUB permission on group order_srv_timeout"},
		{"inventory_srv unlocks another group's queues", signed(42, "inventory_srv", "inventorysecret", nil, lock("order_srv_timeout")), "no SUB permission on group order_srv_timeout"},
		{"inventory_srv locks its own group's queues", signed(41, "inventory_srv", "inventorysecret", nil, lock("inventory_reback")), ""},
		{"a lock without a group", signed(41, "inventory_srv", "inventorysecret", nil, `{}`), "consumerGroup missing"},
	} {
		err := p.Check(tc.req)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%s: Check = %v, want a refusal naming %q", tc.name, err, tc.refused)
		}
	}
}

// Permits decides what the broker resolves after Check: the half's topic
// for END_TRANSACTION, the record's topic for VIEW_MESSAGE_BY_ID.
func TestACL_permits_decidesResolvedResourcesWithTheWhiteLists(t *testing.T) {
	t.Parallel()
	p := mustParse(t, subscribeOnly+`
globalWhiteRemoteAddresses:
  - 10.9.9.9
`)
	peer := netip.MustParseAddr("10.0.0.9")
	pub := acl.Resource{Name: "order_reback", Perm: acl.Pub}
	if err := p.Permits("inventory_srv", peer, pub); err == nil || !strings.Contains(err.Error(), "no PUB permission on topic order_reback") {
		t.Errorf("inventory_srv PUB order_reback: %v, want refused", err)
	}
	if err := p.Permits("order_srv", peer, pub); err != nil {
		t.Errorf("order_srv PUB order_reback: %v", err)
	}
	if err := p.Permits("", peer, pub); err == nil {
		t.Error("an unsigned registration was permitted")
	}
	if err := p.Permits("", netip.MustParseAddr("10.9.9.9"), pub); err != nil {
		t.Errorf("a globally white-listed peer: %v", err)
	}
}

// The compose policy still lets order_srv register its producers (the
// check-backs reach it) and end its transactions, and nobody else.
func TestDeployPolicy_letsOnlyOrderSrvProduceForItsTransactionGroup(t *testing.T) {
	t.Parallel()
	env := map[string]string{"MQ_ACL_ORDER_SRV_SECRET": "order-secret-x", "MQ_ACL_INVENTORY_SRV_SECRET": "inventory-secret-x"}
	w, err := acl.Open(filepath.Join("..", "..", "..", "deploy", "plain_acl.yml"), acl.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	// order_srv's client heartbeats its two producer groups and its consumer in one body.
	orderHB := `{"clientID":"o","producerDataSet":[{"groupName":"order_srv_tx"},{"groupName":"order_srv"}],` +
		`"consumerDataSet":[{"groupName":"order_srv_timeout","subscriptionDataSet":[{"topic":"order_timeout"},{"topic":"%RETRY%order_srv_timeout"}]}]}`
	if err := w.Check(signed(34, "order_srv", "order-secret-x", nil, orderHB)); err != nil {
		t.Errorf("order_srv's heartbeat: %v", err)
	}
	endTx := map[string]string{"producerGroup": "order_srv_tx", "tranStateTableOffset": "0", "commitLogOffset": "0", "commitOrRollback": "12"}
	if err := w.Check(signed(37, "order_srv", "order-secret-x", endTx, "")); err != nil {
		t.Errorf("order_srv ends its transaction: %v", err)
	}
	if err := w.Permits("order_srv", netip.MustParseAddr("172.18.0.5"), acl.Resource{Name: "order_reback", Perm: acl.Pub}); err != nil {
		t.Errorf("order_srv decides a half of order_reback: %v", err)
	}
	if err := w.Check(signed(37, "inventory_srv", "inventory-secret-x", endTx, "")); err == nil {
		t.Error("inventory_srv may end order_srv's transactions")
	}
	invHB := `{"clientID":"i","producerDataSet":[{"groupName":"order_srv_tx"}],"consumerDataSet":[]}`
	if err := w.Check(signed(34, "inventory_srv", "inventory-secret-x", nil, invHB)); err == nil {
		t.Error("inventory_srv may register as order_srv_tx's producer")
	}
}
