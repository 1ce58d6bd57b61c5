package broker_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// resolvedACL: order_srv owns the saga's topics and its transaction group;
// inventory_srv only subscribes (the compose accounts); mallory_srv may act
// as order_srv_tx's producer and publish to its own topic, but not to the
// saga's topics — the group permission alone must decide nothing.
const resolvedACL = `
accounts:
  - accessKey: order_srv
    secretKey: order-secret-1
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - order_reback=PUB
      - order_timeout=PUB|SUB
    groupPerms:
      - order_srv_tx=PUB
  - accessKey: inventory_srv
    secretKey: inventory-secret-1
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - order_reback=SUB
    groupPerms:
      - inventory_reback=SUB
  - accessKey: mallory_srv
    secretKey: mallory-secret-1
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - mallory_topic=PUB
      - order_reback=SUB
    groupPerms:
      - order_srv_tx=PUB
  - accessKey: reader_srv
    secretKey: reader-secret-1
    defaultTopicPerm: SUB
    defaultGroupPerm: DENY
    topicPerms:
      - order_timeout=DENY
`

func startResolvedACLBroker(t *testing.T, opts ...brokertest.Option) *brokertest.Broker {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(path, []byte(resolvedACL), 0o600); err != nil {
		t.Fatal(err)
	}
	return brokertest.Start(t, append([]brokertest.Option{brokertest.WithConfig(func(c *broker.Config) {
		c.ACLFile = path
	})}, opts...)...)
}

// signedHalf sends a half message of group to topic, signed by ak.
func signedHalf(t *testing.T, c *wireClient, ak, sk, topic, group, key string) (phys, queueOffset int64) {
	t.Helper()
	ext := extWith(sendExt(topic, 1, 4, props("UNIQ_KEY", key, "TRAN_MSG", "true", "PGROUP", group)), "producerGroup", group)
	resp := c.signedCall(t, protocol.SendMessage, ak, sk, ext, []byte("body-"+key))
	_, off, ids, err := parseSendResponse(resp, 1)
	if err != nil {
		t.Fatal(err)
	}
	if phys, err = strconv.ParseInt(ids[0][16:], 16, 64); err != nil {
		t.Fatal(err)
	}
	return phys, off
}

func signedEnd(t *testing.T, c *wireClient, ak, sk, group string, phys, queueOffset int64, typ int) *remoting.Command {
	t.Helper()
	return c.signedCall(t, protocol.EndTransaction, ak, sk, map[string]string{"producerGroup": group,
		"tranStateTableOffset": strconv.FormatInt(queueOffset, 10), "commitLogOffset": strconv.FormatInt(phys, 10),
		"commitOrRollback": strconv.Itoa(typ), "fromTransactionCheck": "false"}, nil)
}

// Review finding 3: a subscribe-only account could commit a half that
// order_srv would roll back (a forged stock return).
func TestACL_endTransaction_needsPUBOnTheHalfsTopic(t *testing.T) {
	b := startResolvedACLBroker(t)
	c := dialWire(t, b.BrokerAddr())
	phys, off := signedHalf(t, c, "order_srv", "order-secret-1", "order_reback", "order_srv_tx", "tx-forge")

	inv := signedEnd(t, c, "inventory_srv", "inventory-secret-1", "order_srv_tx", phys, off, 8)
	if inv.Code != int16(protocol.NoPermission) || !strings.Contains(inv.Remark, "group order_srv_tx") {
		t.Fatalf("inventory_srv commits order_srv's half: %s %q, want NO_PERMISSION naming the group",
			protocol.ResponseCode(inv.Code), inv.Remark)
	}
	mal := signedEnd(t, c, "mallory_srv", "mallory-secret-1", "order_srv_tx", phys, off, 8)
	if mal.Code != int16(protocol.NoPermission) || !strings.Contains(mal.Remark, "no PUB permission on topic order_reback") {
		t.Fatalf("mallory_srv (PUB on the group only) commits a half of order_reback: %s %q, want NO_PERMISSION naming the topic",
			protocol.ResponseCode(mal.Code), mal.Remark)
	}
	// The refused attempts left the half undecided: its owner still decides it.
	if own := signedEnd(t, c, "order_srv", "order-secret-1", "order_srv_tx", phys, off, 12); own.Code != int16(protocol.Success) {
		t.Fatalf("order_srv rolls back its half: %s %q", protocol.ResponseCode(own.Code), own.Remark)
	}
	if again := signedEnd(t, c, "order_srv", "order-secret-1", "order_srv_tx", phys, off, 8); again.Code == int16(protocol.Success) {
		t.Fatalf("the half was still undecided after its rollback")
	}
}

// Review finding 3: VIEW_MESSAGE_BY_ID read any record, half messages of
// any topic included.
func TestACL_viewMessageByID_needsSUBOnTheRecordsTopic(t *testing.T) {
	b := startResolvedACLBroker(t)
	c := dialWire(t, b.BrokerAddr())
	timeoutPhys, _ := signedHalf(t, c, "order_srv", "order-secret-1", "order_timeout", "order_srv_tx", "tx-timeout")
	rebackPhys, _ := signedHalf(t, c, "order_srv", "order-secret-1", "order_reback", "order_srv_tx", "tx-reback")
	view := func(ak, sk string, phys int64) *remoting.Command {
		return c.signedCall(t, protocol.ViewMessageByID, ak, sk, map[string]string{"offset": strconv.FormatInt(phys, 10)}, nil)
	}
	if r := view("inventory_srv", "inventory-secret-1", timeoutPhys); r.Code != int16(protocol.NoPermission) ||
		!strings.Contains(r.Remark, "no SUB permission on topic order_timeout") {
		t.Fatalf("inventory_srv reads a half of order_timeout: %s %q, want NO_PERMISSION naming order_timeout",
			protocol.ResponseCode(r.Code), r.Remark)
	}
	if r := view("inventory_srv", "inventory-secret-1", rebackPhys); r.Code != int16(protocol.Success) || len(r.Body) == 0 {
		t.Fatalf("inventory_srv reads a message of order_reback it subscribes to: %s %q", protocol.ResponseCode(r.Code), r.Remark)
	}
	if r := view("order_srv", "order-secret-1", timeoutPhys); r.Code != int16(protocol.Success) {
		t.Fatalf("order_srv reads its own half: %s %q", protocol.ResponseCode(r.Code), r.Remark)
	}
}

// Review finding 3: a connection becomes a producer of a group by sending a
// half of it (which needs PUB only on that half's topic); the check-back of
// order_srv's half must still go to order_srv, never to mallory_srv.
func TestACL_checkBack_goesOnlyToProducersAllowedOnTheHalfsTopic(t *testing.T) {
	b := startResolvedACLBroker(t, brokertest.WithTxTimeout(100*time.Millisecond), brokertest.WithTxCheckInterval(100*time.Millisecond))
	order := dialWire(t, b.BrokerAddr())
	mallory := dialWire(t, b.BrokerAddr())
	phys, _ := signedHalf(t, order, "order_srv", "order-secret-1", "order_reback", "order_srv_tx", "tx-owned")
	// mallory_srv registers last, so it is the preferred producer of the group.
	signedHalf(t, mallory, "mallory_srv", "mallory-secret-1", "mallory_topic", "order_srv_tx", "tx-mallory")
	want := strconv.FormatInt(phys, 10)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case cmd := <-mallory.pushed:
			if cmd.Code == int16(protocol.CheckTransactionState) && cmd.Ext("commitLogOffset") == want {
				t.Fatalf("the check-back of order_srv's half went to mallory_srv")
			}
		case cmd := <-order.pushed:
			if cmd.Code == int16(protocol.CheckTransactionState) && cmd.Ext("commitLogOffset") == want {
				return
			}
		case <-deadline:
			t.Fatal("no check-back of order_srv's half reached order_srv within 10 s")
		}
	}
}

// Review finding 3, by key: with SUB on every topic but order_timeout, an
// account's QUERY_MESSAGE of the half topic must not return order_timeout's
// halves (the ACL checked only the system topic the request names).
func TestACL_queryMessageOfTheHalfTopic_needsSUBOnTheRealTopic(t *testing.T) {
	b := startResolvedACLBroker(t)
	c := dialWire(t, b.BrokerAddr())
	signedHalf(t, c, "order_srv", "order-secret-1", "order_timeout", "order_srv_tx", "q-timeout")
	signedHalf(t, c, "order_srv", "order-secret-1", "order_reback", "order_srv_tx", "q-reback")
	query := func(key string) *remoting.Command {
		return c.signedCall(t, protocol.QueryMessage, "reader_srv", "reader-secret-1", map[string]string{
			"topic": "RMQ_SYS_TRANS_HALF_TOPIC", "key": key, "maxNum": "32", "beginTimestamp": "0",
			"endTimestamp": strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10), "_UNIQUE_KEY_QUERY": "true"}, nil)
	}
	if r := query("q-timeout"); r.Code == int16(protocol.Success) {
		t.Fatalf("reader_srv found a half of order_timeout by key (%d bytes)", len(r.Body))
	}
	if r := query("q-reback"); r.Code != int16(protocol.Success) || len(r.Body) == 0 {
		t.Fatalf("reader_srv looks up a half of order_reback it may read: %s %q", protocol.ResponseCode(r.Code), r.Remark)
	}
}
