package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"testing"

	"github.com/testcontainers/testcontainers-go"
)

// The broker of every stack runs with ACL on, as in deploy/docker-compose.yml: the same policy
// file (deploy/plain_acl.yml: one account per service, only order_srv may publish order_reback
// and order_timeout), its secret keys generated per stack and handed over in the environment
// (the file names them as ${MQ_ACL_*_SECRET}), and the services signing their requests with
// MQ_ACCESS_KEY / MQ_SECRET_KEY.
const (
	aclFileInContainer = "/etc/mqbroker/plain_acl.yml"
	aclOrderAccount    = "order_srv"
	aclInventoryAcct   = "inventory_srv"
	portNamesrv        = "9876"
)

// aclSecrets are one stack's broker secrets.
type aclSecrets struct {
	order, inventory string // secret keys of the order_srv and inventory_srv accounts
}

func newACLSecrets(t *testing.T) aclSecrets {
	t.Helper()
	return aclSecrets{order: randomSecret(t), inventory: randomSecret(t)}
}

func randomSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// brokerACL is what the broker container needs for ACL on: the policy file and its secrets. The
// admin HTTP API listens on all interfaces of the container, so with ACL on it needs a bearer
// token (the broker refuses to start otherwise): the stack's own token, which s.call sends with
// every request, serves as the broker's admin token too.
func (s *stack) brokerACL() []testcontainers.ContainerCustomizer {
	return []testcontainers.ContainerCustomizer{
		testcontainers.WithFiles(testcontainers.ContainerFile{
			HostFilePath:      "../deploy/plain_acl.yml",
			ContainerFilePath: aclFileInContainer,
			FileMode:          0o644,
		}),
		testcontainers.WithEnv(map[string]string{
			"MQ_ACL_FILE":                 aclFileInContainer,
			"MQ_ACL_ORDER_SRV_SECRET":     s.acl.order,
			"MQ_ACL_INVENTORY_SRV_SECRET": s.acl.inventory,
			"MQ_ADMIN_TOKEN":              s.token,
		}),
	}
}

// serviceACL is the environment that makes a service sign its broker requests as account.
func (s *stack) serviceACL(account string) testcontainers.ContainerCustomizer {
	secret := s.acl.order
	if account == aclInventoryAcct {
		secret = s.acl.inventory
	}
	return testcontainers.WithEnv(map[string]string{"MQ_ACCESS_KEY": account, "MQ_SECRET_KEY": secret})
}

// namesrvAddr is the broker's name server as the test process reaches it: the container's IP on
// the stack's network (the route answers name the container's IP too; the Go client wants an IP
// literal for the name server).
func (s *stack) namesrvAddr(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	var ctr *testcontainers.DockerContainer
	for _, m := range s.members {
		if m.name == "mqbroker" {
			ctr = m.ctr
		}
	}
	s.mu.Unlock()
	if ctr == nil {
		t.Fatal("e2e: no broker in the stack")
	}
	ip, err := ctr.ContainerIP(context.Background())
	if err != nil {
		t.Fatalf("e2e: broker IP: %v", err)
	}
	return net.JoinHostPort(ip, portNamesrv)
}
