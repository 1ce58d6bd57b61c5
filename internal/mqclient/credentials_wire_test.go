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

// The compose stack's ACL in small (deploy/plain_acl.yml).
const composeACL = `
accounts:
  - accessKey: order_srv
    secretKey: order-secret-1
    topicPerms: [order_reback=PUB, order_timeout=PUB|SUB]
    defaultGroupPerm: SUB
  - accessKey: inventory_srv
    secretKey: inventory-secret-1
    topicPerms: [order_reback=SUB]
    defaultGroupPerm: SUB
`

func TestCredentials_signTheServicesRequests_againstABrokerWithACL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(path, []byte(composeACL), 0o600); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, brokertest.WithACLFile(path))
	send := func(c Credentials) error {
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
		_, err = p.SendSync(ctx, primitive.NewMessage("order_reback", []byte("stock return")))
		return err
	}
	if err := send(Credentials{AccessKey: "order_srv", SecretKey: "order-secret-1"}); err != nil {
		t.Fatalf("order_srv: %v", err)
	}
	for _, c := range []Credentials{{}, {AccessKey: "inventory_srv", SecretKey: "inventory-secret-1"}} {
		if err := send(c); err == nil || !strings.Contains(err.Error(), "CODE: 16") {
			t.Errorf("%s published to order_reback: %v, want NO_PERMISSION", c, err)
		}
	}
}
