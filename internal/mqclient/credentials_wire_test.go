//go:build !race

package mqclient

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

// composeACL is deploy/plain_acl.yml with its secrets filled in, as mqbroker expands them.
func composeACL(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "plain_acl.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer("${MQ_ACL_ORDER_SRV_SECRET}", "order-secret-1",
		"${MQ_ACL_INVENTORY_SRV_SECRET}", "inventory-secret-1").Replace(string(b))
}

// startComposeACLBroker starts a broker over TCP with the compose stack's ACL policy (composeACL).
func startComposeACLBroker(t *testing.T, opts ...brokertest.Option) *brokertest.Broker {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(path, []byte(composeACL(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	return brokertest.Start(t, append([]brokertest.Option{brokertest.WithACLFile(path)}, opts...)...)
}

// The compose stack's policy, on the real broker over TCP: only order_srv publishes the stock
// returns; inventory_srv (subscribe-only) and unsigned producers are refused.
func TestCredentials_signTheServicesRequests_againstABrokerWithACL(t *testing.T) {
	b := startComposeACLBroker(t)
	send := func(c Credentials, topic string) error {
		p, err := rocketmq.NewProducer(append([]producer.Option{
			producer.WithNameServer([]string{b.NamesrvAddr()}),
			producer.WithGroupName("pg_" + c.AccessKey),
			producer.WithInstanceName(InstanceName("acl-test")),
			producer.WithRetry(0),
		}, c.ProducerOptions()...)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		defer p.Shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = p.SendSync(ctx, primitive.NewMessage(topic, []byte("forged?")))
		return err
	}
	if err := send(Credentials{AccessKey: "order_srv", SecretKey: "order-secret-1"}, "order_reback"); err != nil {
		t.Fatalf("order_srv to order_reback: %v", err)
	}
	if err := send(Credentials{AccessKey: "order_srv", SecretKey: "order-secret-1"}, "order_timeout"); err != nil {
		t.Fatalf("order_srv to order_timeout: %v", err)
	}
	for _, c := range []Credentials{{}, {AccessKey: "inventory_srv", SecretKey: "inventory-secret-1"},
		{AccessKey: "order_srv", SecretKey: "inventory-secret-1"}} {
		for _, topic := range []string{"order_reback", "order_timeout"} {
			if err := send(c, topic); err == nil || !strings.Contains(err.Error(), "CODE: 16") {
				t.Errorf("%s published to %s: %v, want NO_PERMISSION", c, topic, err)
			}
		}
	}
}
