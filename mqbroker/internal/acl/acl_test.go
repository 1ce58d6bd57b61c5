package acl_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/acl"
)

const policyYAML = `
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.{1,2}
accounts:
  - accessKey: order_srv
    secretKey: order-secret
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - order_reback=PUB
      - order_timeout=PUB|SUB
    groupPerms:
      - order_timeout_group=SUB
  - accessKey: inventory_srv
    secretKey: inventory-secret
    whiteRemoteAddress: 172.16.0.9
    defaultGroupPerm: SUB
    topicPerms:
      - order_reback=SUB
      - order_timeout=DENY
  - accessKey: rocketmq2
    secretKey: "12345678"
    admin: true
`

func mustParse(t *testing.T, y string) *acl.Policy {
	t.Helper()
	p, err := acl.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signed returns a request as a client with ak/sk sends it.
func signed(code int16, ak, sk string, ext map[string]string, body string) acl.Request {
	e := map[string]string{acl.AccessKeyField: ak}
	for k, v := range ext {
		e[k] = v
	}
	e[acl.SignatureField] = acl.Sign(e, []byte(body), []byte(sk))
	return acl.Request{Code: code, ExtFields: e, Body: []byte(body), Peer: netip.MustParseAddr("127.0.0.1")}
}

func TestPolicy_Check(t *testing.T) {
	t.Parallel()
	p := mustParse(t, policyYAML)
	hb := func(group, topic string) string {
		return `{"clientID":"c","consumerDataSet":[{"groupName":"` + group + `","subscriptionDataSet":[{"topic":"` + topic + `"}]}]}`
	}
	from := func(r acl.Request, ip string) acl.Request { r.Peer = netip.MustParseAddr(ip); return r }
	tampered := signed(310, "order_srv", "order-secret", map[string]string{"b": "order_reback"}, "x")
	tampered.ExtFields["b"] = "order_timeout"
	tamperedBody := signed(310, "order_srv", "order-secret", map[string]string{"b": "order_reback"}, "x")
	tamperedBody.Body = []byte("y")
	for _, tc := range []struct {
		name    string
		req     acl.Request
		refused string // "" = allowed; else a substring of the refusal
	}{
		{"producer sends to its topic (V2 header)", signed(310, "order_srv", "order-secret", map[string]string{"b": "order_reback", "a": "pg"}, "body"), ""},
		{"producer sends to its topic (V1 header)", signed(10, "order_srv", "order-secret", map[string]string{"topic": "order_reback"}, "body"), ""},
		{"batch send is checked like a send", signed(320, "inventory_srv", "inventory-secret", map[string]string{"b": "order_reback"}, "b"), "no PUB permission on topic order_reback for accessKey inventory_srv"},
		{"subscriber may not publish", signed(310, "inventory_srv", "inventory-secret", map[string]string{"b": "order_reback"}, "body"), "no PUB permission on topic order_reback"},
		{"default topic perm DENY", signed(310, "order_srv", "order-secret", map[string]string{"b": "other"}, ""), "by default DENY"},
		{"unsigned request", acl.Request{Code: 310, ExtFields: map[string]string{"b": "order_reback"}, Peer: netip.MustParseAddr("127.0.0.1")}, "no AccessKey"},
		{"unknown account", signed(310, "stranger", "whatever1", map[string]string{"b": "order_reback"}, ""), "no ACL account for accessKey stranger"},
		{"wrong secret", signed(310, "order_srv", "guessed-secret", map[string]string{"b": "order_reback"}, ""), "signature check failed for accessKey order_srv"},
		{"field changed after signing", tampered, "signature check failed"},
		{"body changed after signing", tamperedBody, "signature check failed"},
		{"pull: topic SUB and group SUB", signed(11, "inventory_srv", "inventory-secret", map[string]string{"topic": "order_reback", "consumerGroup": "inv"}, ""), ""},
		{"pull of a denied topic", signed(11, "inventory_srv", "inventory-secret", map[string]string{"topic": "order_timeout", "consumerGroup": "inv"}, ""), "no SUB permission on topic order_timeout"},
		{"pull: PUB only is not SUB", signed(11, "order_srv", "order-secret", map[string]string{"topic": "order_reback", "consumerGroup": "order_timeout_group"}, ""), "no SUB permission on topic order_reback"},
		{"pull: group not granted", signed(11, "order_srv", "order-secret", map[string]string{"topic": "order_timeout", "consumerGroup": "g2"}, ""), "no SUB permission on group g2"},
		{"pull of a retry topic is the group's", signed(11, "order_srv", "order-secret", map[string]string{"topic": "%RETRY%order_timeout_group", "consumerGroup": "order_timeout_group"}, ""), ""},
		{"heartbeat: group and subscriptions", signed(34, "inventory_srv", "inventory-secret", nil, hb("inv", "order_reback")), ""},
		{"heartbeat subscribing a denied topic", signed(34, "inventory_srv", "inventory-secret", nil, hb("inv", "order_timeout")), "no SUB permission on topic order_timeout"},
		{"offset commit: group and topic", signed(15, "order_srv", "order-secret", map[string]string{"consumerGroup": "order_timeout_group", "topic": "order_timeout"}, ""), ""},
		{"offset commit of another group", signed(15, "order_srv", "order-secret", map[string]string{"consumerGroup": "inv", "topic": "order_timeout"}, ""), "no SUB permission on group inv"},
		{"send back by a subscriber", signed(36, "inventory_srv", "inventory-secret", map[string]string{"originTopic": "order_reback", "group": "inv"}, ""), ""},
		{"send back of a topic not subscribed", signed(36, "inventory_srv", "inventory-secret", map[string]string{"originTopic": "order_timeout", "group": "inv"}, ""), "no SUB permission on topic order_timeout"},
		{"admin code needs admin", signed(17, "order_srv", "order-secret", map[string]string{"topic": "t"}, ""), "needs admin permission"},
		{"admin account", signed(17, "rocketmq2", "12345678", map[string]string{"topic": "t"}, ""), ""},
		{"offset reset needs admin", signed(222, "inventory_srv", "inventory-secret", map[string]string{"group": "inv"}, ""), "needs admin permission"},
		{"code without resources needs only the signature", signed(14, "inventory_srv", "inventory-secret", map[string]string{"topic": "x"}, ""), ""},
		{"global white list, unsigned", from(acl.Request{Code: 310, ExtFields: map[string]string{"b": "any"}}, "10.10.103.7"), ""},
		{"global white list braces", from(acl.Request{Code: 310}, "192.168.0.2"), ""},
		{"outside the white list", from(acl.Request{Code: 310}, "192.168.0.3"), "no AccessKey"},
		{"account white address skips signature", from(acl.Request{Code: 310, ExtFields: map[string]string{acl.AccessKeyField: "inventory_srv", "b": "order_reback"}}, "172.16.0.9"), ""},
		{"IPv4-mapped peer matches", from(acl.Request{Code: 310}, "::ffff:10.10.103.1"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := p.Check(tc.req)
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ae *acl.Error
			if !errors.As(err, &ae) || !strings.Contains(err.Error(), tc.refused) {
				t.Fatalf("got %v, want a refusal containing %q", err, tc.refused)
			}
		})
	}
}

func TestParse_reportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := acl.Parse([]byte(`
globalWhiteRemoteAddresses: [300.1.1.1]
accounts:
  - accessKey: short
    secretKey: tiny
    defaultTopicPerm: WRITE
    topicPerms: [noequals]
  - accessKey: duplicate1
    secretKey: secret123
  - accessKey: duplicate1
    secretKey: secret123
    whiteRemoteAddress: 1.2.3.9-5
`))
	if err == nil {
		t.Fatal("invalid policy accepted")
	}
	for _, want := range []string{"300.1.1.1", "at least 7", "WRITE", "noequals", "appears twice", "1.2.3.9-5"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if _, err := acl.Parse([]byte("accounts:\n  - accesKey: typo\n")); err == nil || !strings.Contains(err.Error(), "accesKey") {
		t.Errorf("unknown field: got %v, want an error naming it", err)
	}
}

func TestParse_emptyFile_allowsNobody(t *testing.T) {
	t.Parallel()
	p := mustParse(t, "")
	if err := p.Check(signed(310, "order_srv", "order-secret", map[string]string{"b": "t"}, "")); err == nil {
		t.Fatal("empty policy allowed a request")
	}
}

func TestWatcher_reloadsChangedFile_andKeepsPolicyWhenNewFileIsInvalid(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(policyYAML)
	w, err := acl.Open(path, acl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	send := signed(310, "inventory_srv", "inventory-secret", map[string]string{"b": "order_reback"}, "")
	if w.Check(send) == nil {
		t.Fatal("inventory_srv may publish before the change")
	}
	if changed, err := w.Reload(); changed || err != nil {
		t.Fatalf("unchanged file: Reload = %v, %v; want false, nil", changed, err)
	}
	write(strings.Replace(policyYAML, "order_reback=SUB", "order_reback=PUB|SUB", 1))
	if changed, err := w.Reload(); !changed || err != nil {
		t.Fatalf("changed file: Reload = %v, %v; want true, nil", changed, err)
	}
	if err := w.Check(send); err != nil {
		t.Fatalf("after reload: %v", err)
	}
	write("accounts: [")
	if _, err := w.Reload(); err == nil {
		t.Fatal("invalid file: no error")
	}
	if err := w.Check(send); err != nil {
		t.Fatalf("an invalid file replaced the policy in force: %v", err)
	}
}

func TestWatcher_expandsEnvironmentReferences_andRefusesUnsetOnes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	file := strings.Replace(policyYAML, "secretKey: order-secret", "secretKey: ${ORDER_SECRET}", 1)
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ORDER_SECRET": "from-the-env"}
	w, err := acl.Open(path, acl.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Check(signed(310, "order_srv", "from-the-env", map[string]string{"b": "order_reback"}, "")); err != nil {
		t.Fatalf("secret from the environment: %v", err)
	}
	if _, err := acl.Open(path, acl.Options{Getenv: func(string) string { return "" }}); err == nil ||
		!strings.Contains(err.Error(), "ORDER_SECRET") {
		t.Fatalf("unset variable: %v, want an error naming ORDER_SECRET", err)
	}
}

// deploy/plain_acl.yml gives each service what its flows need and no more.
func TestDeployPolicy_givesEachServiceOnlyWhatItsFlowsNeed(t *testing.T) {
	t.Parallel()
	env := map[string]string{"MQ_ACL_ORDER_SRV_SECRET": "order-secret-x", "MQ_ACL_INVENTORY_SRV_SECRET": "inventory-secret-x"}
	w, err := acl.Open(filepath.Join("..", "..", "..", "deploy", "plain_acl.yml"), acl.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	order := func(code int16, ext map[string]string, body string) acl.Request {
		return signed(code, "order_srv", "order-secret-x", ext, body)
	}
	inv := func(code int16, ext map[string]string, body string) acl.Request {
		return signed(code, "inventory_srv", "inventory-secret-x", ext, body)
	}
	hb := func(group, topic string) string {
		return `{"consumerDataSet":[{"groupName":"` + group + `","subscriptionDataSet":[{"topic":"` + topic + `"},{"topic":"%RETRY%` + group + `"}]}]}`
	}
	for _, tc := range []struct {
		name  string
		req   acl.Request
		allow bool
	}{
		{"order_srv sends stock returns", order(10, map[string]string{"topic": "order_reback"}, "x"), true},
		{"order_srv schedules timeouts", order(10, map[string]string{"topic": "order_timeout"}, "x"), true},
		{"order_srv consumes timeouts", order(34, nil, hb("order_srv_timeout", "order_timeout")), true},
		{"order_srv pulls timeouts", order(11, map[string]string{"topic": "order_timeout", "consumerGroup": "order_srv_timeout"}, ""), true},
		{"order_srv may not read stock returns", order(11, map[string]string{"topic": "order_reback", "consumerGroup": "order_srv_timeout"}, ""), false},
		{"inventory_srv consumes stock returns", inv(34, nil, hb("inventory_reback", "order_reback")), true},
		{"inventory_srv commits offsets", inv(15, map[string]string{"topic": "order_reback", "consumerGroup": "inventory_reback"}, ""), true},
		{"inventory_srv sends a failed return back", inv(36, map[string]string{"originTopic": "order_reback", "group": "inventory_reback"}, ""), true},
		{"inventory_srv may not forge a stock return", inv(10, map[string]string{"topic": "order_reback"}, "x"), false},
		{"inventory_srv may not forge a timeout", inv(10, map[string]string{"topic": "order_timeout"}, "x"), false},
		{"inventory_srv may not read timeouts", inv(34, nil, hb("inventory_reback", "order_timeout")), false},
		{"nobody creates topics", order(17, map[string]string{"topic": "x"}, ""), false},
	} {
		if err := w.Check(tc.req); (err == nil) != tc.allow {
			t.Errorf("%s: Check = %v, want allowed=%v", tc.name, err, tc.allow)
		}
	}
}
