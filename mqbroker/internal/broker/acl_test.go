//go:build !race

// The official client races on its own (helpers_test.go): without -race.

package broker_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

func creds(ak, sk string) producer.Option {
	return producer.WithCredentials(primitive.Credentials{AccessKey: ak, SecretKey: sk})
}

func sendTo(p interface {
	SendSync(context.Context, ...*primitive.Message) (*primitive.SendResult, error)
}, topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte("stock return")))
	if err == nil && res.Status != primitive.SendOK {
		return &sendStatusError{res.Status}
	}
	return err
}

type sendStatusError struct{ s primitive.SendStatus }

func (e *sendStatusError) Error() string { return "send status " + string(rune('0'+e.s)) }

// Issue 12: with ACL on, nobody but order_srv can forge a stock return.
func TestACL_onlyTheOwningAccountPublishesToOrderReback(t *testing.T) {
	b, _ := startACLBroker(t, testACL)
	for _, tc := range []struct {
		name    string
		opts    []producer.Option
		refused string // "" = accepted; else a substring of the error
	}{
		{"order_srv", []producer.Option{creds("order_srv", "order-secret-1")}, ""},
		{"inventory_srv may only subscribe", []producer.Option{creds("inventory_srv", "inventory-secret-1")},
			"no PUB permission on topic order_reback for accessKey inventory_srv"},
		{"unauthenticated", nil, "no AccessKey"},
		{"bad secret", []producer.Option{creds("order_srv", "guessed-secret")}, "signature check failed for accessKey order_srv"},
		{"unknown account", []producer.Option{creds("mallory1", "mallory-secret")}, "no ACL account for accessKey mallory1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := sendTo(newProducer(t, b, tc.opts...), "order_reback")
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("send refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "CODE: 16") || !strings.Contains(err.Error(), tc.refused) {
				t.Fatalf("send: %v; want NO_PERMISSION (16) naming %q", err, tc.refused)
			}
		})
	}
	if err := sendTo(newProducer(t, b, creds("order_srv", "order-secret-1")), "some_other_topic"); err == nil ||
		!strings.Contains(err.Error(), "no PUB permission on topic some_other_topic") {
		t.Fatalf("order_srv to a topic it was not granted: %v; want refused by the default DENY", err)
	}
}

func TestACL_reloadsTheFileWhenItChanges(t *testing.T) {
	b, path := startACLBroker(t, testACL)
	p := newProducer(t, b, creds("inventory_srv", "inventory-secret-1"))
	if err := sendTo(p, "order_reback"); err == nil {
		t.Fatal("inventory_srv published before the policy granted it")
	}
	granted := strings.Replace(testACL, "order_reback=SUB", "order_reback=PUB|SUB", 1)
	if err := os.WriteFile(path, []byte(granted), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := sendTo(p, "order_reback")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after the file granted PUB: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And the admin API saw the refusals.
	resp, err := http.Get(b.AdminURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(text), `mqbroker_acl_denied_total{code="SEND_MESSAGE`) {
		t.Fatalf("metrics do not count the refused sends:\n%s", text)
	}
}
