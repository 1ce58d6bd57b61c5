package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// aclProbeBody is what the probes publish: no order number and no key, so the services'
// consumers acknowledge and drop it (logged as malformed) instead of acting on it.
const aclProbeBody = `{"acl_probe":true}`

var aclProbeSeq atomic.Int64

// publishAs sends one probe to topic with the official Go client, signed as account (no
// credentials when account is ""), in producer group group.
func publishAs(t *testing.T, namesrv, account, secret, group, topic string) error {
	t.Helper()
	rlog.SetLogLevel("error")
	opts := []producer.Option{
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{namesrv})),
		producer.WithGroupName(group),
		producer.WithInstanceName(fmt.Sprintf("e2e-acl-probe-%d-%d", time.Now().UnixNano(), aclProbeSeq.Add(1))),
		producer.WithRetry(0),
		producer.WithSendMsgTimeout(10 * time.Second),
	}
	if account != "" {
		opts = append(opts, producer.WithCredentials(primitive.Credentials{AccessKey: account, SecretKey: secret}))
	}
	p, err := rocketmq.NewProducer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Shutdown() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte(aclProbeBody)))
	if err == nil && res.Status != primitive.SendOK {
		t.Fatalf("send to %s as %q: status %v", topic, account, res.Status)
	}
	return err
}

// TestACL_onlyOrderSrvPublishesTheSagaTopics_inContainers: with the compose policy on the
// broker in a container, order_srv's account publishes order_reback and order_timeout;
// inventory_srv's account (subscribe-only) and an unsigned client are refused with
// NO_PERMISSION naming what was refused — nobody but order_srv can forge a stock return or a
// payment timeout. The services themselves run signed on the same broker (the saga
// scenarios of this package pass with ACL on).
func TestACL_onlyOrderSrvPublishesTheSagaTopics_inContainers(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{payTimeoutLevel: payTimeoutNever})
	ns := s.namesrvAddr(t)
	for _, topic := range []string{"order_reback", "order_timeout"} {
		if err := publishAs(t, ns, aclOrderAccount, s.acl.order, "order_srv", topic); err != nil {
			t.Errorf("order_srv's account publishing to %s: %v", topic, err)
		}
		err := publishAs(t, ns, aclInventoryAcct, s.acl.inventory, "inventory_reback", topic)
		if err == nil || !strings.Contains(err.Error(), "CODE: 16") ||
			!strings.Contains(err.Error(), "no PUB permission on topic "+topic+" for accessKey inventory_srv") {
			t.Errorf("inventory_srv's account publishing to %s: %v; want NO_PERMISSION (16) naming the topic and account", topic, err)
		}
		err = publishAs(t, ns, "", "", "e2e_unsigned", topic)
		if err == nil || !strings.Contains(err.Error(), "CODE: 16") || !strings.Contains(err.Error(), "no AccessKey") {
			t.Errorf("an unsigned client publishing to %s: %v; want NO_PERMISSION (16) for the missing AccessKey", topic, err)
		}
		// A wrong secret key: the signature does not verify.
		err = publishAs(t, ns, aclOrderAccount, s.acl.inventory, "order_srv", topic)
		if err == nil || !strings.Contains(err.Error(), "CODE: 16") || !strings.Contains(err.Error(), "signature check failed for accessKey order_srv") {
			t.Errorf("order_srv's account with a wrong secret publishing to %s: %v; want NO_PERMISSION (16)", topic, err)
		}
	}
}
