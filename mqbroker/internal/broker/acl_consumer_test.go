//go:build !race

// The Go client's push consumer races on its own (ENVIRONMENT.md): these
// tests run without -race.

package broker_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

func consumerCreds(ak, sk string) consumer.Option {
	return consumer.WithCredentials(primitive.Credentials{AccessKey: ak, SecretKey: sk})
}

// deniedCount reads mqbroker_acl_denied_total for code from /metrics.
func deniedCount(t *testing.T, adminURL, code string) int {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`mqbroker_acl_denied_total\{code="` + code + `"\} (\d+)`).FindSubmatch(text)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

func TestACL_subscriberAccountConsumes_andAccountWithoutSUBIsRefused(t *testing.T) {
	b, _ := startACLBroker(t, testACL)
	if err := sendTo(newProducer(t, b, creds("order_srv", "order-secret-1")), "order_reback"); err != nil {
		t.Fatal(err)
	}

	col := newCollector()
	startConsumer(t, b, "order_reback", consumerCfg{group: uniq("inventory_reback"), listen: collectInto(col),
		opts: []consumer.Option{consumerCreds("inventory_srv", "inventory-secret-1")}})
	col.waitCount(t, 1, 30*time.Second)

	// order_srv may publish to order_reback but not subscribe to it.
	refused := newCollector()
	startConsumer(t, b, "order_reback", consumerCfg{group: uniq("sneaky"), listen: collectInto(refused),
		opts: []consumer.Option{consumerCreds("order_srv", "order-secret-1")}})
	deadline := time.Now().Add(30 * time.Second)
	for deniedCount(t, b.AdminURL(), "HEART_BEAT") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the broker did not refuse the heartbeat of an account without SUB on order_reback")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(refused.snapshot()); n != 0 {
		t.Fatalf("refused consumer received %d messages", n)
	}

	// A bad secret is refused too.
	before := deniedCount(t, b.AdminURL(), "HEART_BEAT")
	startConsumer(t, b, "order_reback", consumerCfg{group: uniq("badsecret"), listen: collectInto(newCollector()),
		opts: []consumer.Option{consumerCreds("inventory_srv", "wrong-secret")}})
	for deniedCount(t, b.AdminURL(), "HEART_BEAT") == before {
		if time.Now().After(deadline) {
			t.Fatal("the broker did not refuse a consumer with a bad secret")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
