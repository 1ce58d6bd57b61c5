// Replays Apache RocketMQ 4.9.4's Java client and mqadmin, signing with
// AclClientRPCHook, against mqbroker with ACL on (testdata/javaacl, captured
// against mqbroker with the wiretap proxy; commands in each golden's
// header, the ACL in testdata/javaacl/plain_acl.yml). The frames carry the
// Java client's own signatures, so the replays check that mqbroker verifies
// them and decides as it did when the real programs ran.

package broker_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/acl"
	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
	"github.com/shopsaga/shopsaga/mqbroker/internal/wiretap"
)

func loadJavaACLGolden(t *testing.T, name string) *wiretap.Golden {
	t.Helper()
	return loadGoldenAt(t, filepath.Join("testdata", "javaacl", name+".golden.jsonl"))
}

// loadGoldenAt parses the golden file at path.
func loadGoldenAt(t *testing.T, path string) *wiretap.Golden {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := wiretap.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// startJavaACLBroker starts a broker with testdata/javaacl/plain_acl.yml
// changed by edit, and the topic the examples use.
func startJavaACLBroker(t *testing.T, edit func(string) string, opts ...brokertest.Option) *brokertest.Broker {
	t.Helper()
	policy, err := os.ReadFile(filepath.Join("testdata", "javaacl", "plain_acl.yml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(path, []byte(edit(string(policy))), 0o600); err != nil {
		t.Fatal(err)
	}
	return startWireBroker(t, append([]brokertest.Option{brokertest.WithConfig(func(c *broker.Config) {
		c.ACLFile, c.LongPollMax = path, 50*time.Millisecond
		c.Topics = []string{"TopicTest"}
	})}, opts...)...)
}

// TestJavaACLReplay_aclClientExample: the distribution's
// example.simple.AclClient (producer, push and pull consumer, all signed by
// AclClientRPCHook as account RocketMQ) gets the answers it got live: 128
// sends stored, its pulls served, nothing refused. Without PUB on its
// producer group the account's heartbeat (it registers ProducerGroupName)
// is refused with a message naming the group — mqbroker checks producer
// groups, Apache 4.9.4's PlainAccessValidator does not — and the Java
// producer, which only logs a failed heartbeat, still sends all 128: a
// plain Java producer needs PUB on its topic; PUB on its group matters to
// transaction producers (END_TRANSACTION, check-backs).
func TestJavaACLReplay_aclClientExample(t *testing.T) {
	for _, tc := range []struct {
		name, golden string
		edit         func(string) string
		refused      int // HEART_BEATs answered NO_PERMISSION
	}{
		{"all permissions", "aclClient", func(s string) string { return s }, 0},
		{"no PUB on the producer group", "aclClientNoGroupPerm", func(s string) string {
			return strings.Replace(s, "      - ProducerGroupName=PUB\n", "", 1)
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.golden != "aclClient" {
				// Captured second, on the broker the first run left behind
				// (offsets, retry topic): replay the first run first.
				b := startJavaACLBroker(t, func(s string) string { return s }, brokertest.WithDataDir(dir))
				replayGolden(t, &adminWorld{b: b}, loadJavaACLGolden(t, "aclClient"))
				b.Stop()
			}
			g := loadJavaACLGolden(t, tc.golden)
			b := startJavaACLBroker(t, tc.edit, brokertest.WithDataDir(dir))
			rs := replayGolden(t, &adminWorld{b: b}, g)
			sent, refused := 0, 0
			for _, r := range rs {
				code := protocol.Code(r.req.Code)
				if r.resp.Code != r.golden.Code {
					t.Errorf("%s (seq %d): answered %s %q, live run %s %q", code, r.req.Seq,
						protocol.ResponseCode(r.resp.Code), r.resp.Remark, protocol.ResponseCode(r.golden.Code), r.golden.Remark)
				}
				if r.req.Ext[acl.AccessKeyField] == "" && code != protocol.NotifyConsumerIDsChanged {
					t.Errorf("%s (seq %d) unsigned: the capture is not of a signing client", code, r.req.Seq)
				}
				switch {
				case code == protocol.SendMessageV2 && r.resp.Code == int16(protocol.Success):
					sent++
				case r.resp.Code == int16(protocol.NoPermission):
					refused++
					if code != protocol.HeartBeat || !strings.Contains(r.resp.Remark, "no PUB permission on group ProducerGroupName for accessKey RocketMQ") {
						t.Errorf("%s refused: %q; want only the heartbeat, naming the producer group", code, r.resp.Remark)
					}
				}
			}
			if sent != 128 || refused != tc.refused {
				t.Fatalf("%d sends stored, %d requests refused; want 128 and %d", sent, refused, tc.refused)
			}
		})
	}
}

// TestJavaACLReplay_mqadminRelaysToTheConsumer: mqadmin consumerStatus
// (with and without -i) and consumerProgress -s, signed as the admin
// account of conf/tools.yml, reach the consumer through the broker
// (GET_CONSUMER_RUNNING_INFO, 307): the consumer's connection gets
// mqadmin's request — its ext fields, signature included, as Apache's
// callConsumer passes them — and mqadmin gets the consumer's answer. The
// consumer here answers with what the live Java consumer answered.
func TestJavaACLReplay_mqadminRelaysToTheConsumer(t *testing.T) {
	const group = "please_rename_unique_group_name_5"
	for _, name := range []string{"consumerStatus", "consumerStatusClient", "consumerProgressS"} {
		t.Run(name, func(t *testing.T) {
			g := loadJavaACLGolden(t, name)
			var want wiretap.Frame // the running info the Java consumer answered
			var clientID string
			for _, req := range g.Requests() {
				if req.Code == int16(protocol.GetConsumerRunningInfo) {
					want, _ = g.ResponseTo(req)
					clientID = req.Ext["clientId"]
				}
			}
			if clientID == "" || want.BodyLen == 0 {
				t.Fatalf("%s has no answered GET_CONSUMER_RUNNING_INFO", name)
			}
			b := startJavaACLBroker(t, func(s string) string { return s })
			cons := dialWire(t, b.BrokerAddr())
			if r := cons.signedCall(t, protocol.HeartBeat, "RocketMQ", "1234567", nil,
				javaHeartbeat(clientID, "", group, "TopicTest", "%RETRY%"+group)); r.Code != 0 {
				t.Fatalf("consumer heartbeat: %s %q", protocol.ResponseCode(r.Code), r.Remark)
			}
			relayed := make(chan *remoting.Command, 1)
			go func() {
				for {
					select {
					case req := <-cons.pushed:
						if req.Code != int16(protocol.GetConsumerRunningInfo) {
							continue // NOTIFY_CONSUMER_IDS_CHANGED
						}
						relayed <- req
						wc, _ := want.Command()
						answer := &remoting.Command{Code: wc.Code, Opaque: req.Opaque, Flag: remoting.FlagResponse, Remark: wc.Remark, Body: wc.Body}
						_ = cons.writeRaw(answer.AppendFrame(nil))
						return
					case <-cons.done:
						return
					}
				}
			}()
			rs := replayGolden(t, &adminWorld{b: b}, g)
			seen := false
			for _, r := range rs {
				checkResponse(t, name, r)
				if r.req.Code == int16(protocol.GetConsumerRunningInfo) {
					seen = true
					if !bytes.Equal(r.resp.Body, []byte(want.Body)) {
						t.Errorf("running info relayed to mqadmin differs from the consumer's answer:\n got %.300s\nwant %.300s", r.resp.Body, want.Body)
					}
				}
			}
			if !seen {
				t.Fatal("GET_CONSUMER_RUNNING_INFO not replayed")
			}
			req := <-relayed
			if req.Code != int16(protocol.GetConsumerRunningInfo) || req.Ext("clientId") != clientID ||
				req.Ext(acl.AccessKeyField) != "rocketmq2" || req.Ext(acl.SignatureField) == "" {
				t.Errorf("the consumer got %s %v; want mqadmin's GET_CONSUMER_RUNNING_INFO with its fields", protocol.Code(req.Code), req.ExtFields)
			}
		})
	}
}
