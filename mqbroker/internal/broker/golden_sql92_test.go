package broker_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// subscriptionNotLatest is Apache's SUBSCRIPTION_NOT_LATEST, which mqbroker does not answer.
const subscriptionNotLatest protocol.ResponseCode = 25

// goldenFrame is one frame line of a wiretap golden file (testdata/sql92/README.md).
type goldenFrame struct {
	Seq   int    `json:"seq"`
	Conn  int    `json:"conn"`
	Route string `json:"route"`
	From  string `json:"from"`
	Dir   string `json:"dir"`
	Frame string `json:"frame"`
	cmd   *remoting.Command
}

// loadGolden reads the frames of a golden file and pairs each client request with Apache's
// answer (same connection and opaque), when it had one before the recording ended.
func loadSQL92Golden(t *testing.T, name string) (reqs []*goldenFrame, answer map[*goldenFrame]*goldenFrame) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "sql92", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	pending := map[string]*goldenFrame{}
	answer = map[*goldenFrame]*goldenFrame{}
	for line := 0; sc.Scan(); line++ {
		var g goldenFrame
		if err := json.Unmarshal(sc.Bytes(), &g); err != nil {
			t.Fatalf("%s line %d: %v", name, line+1, err)
		}
		if g.Frame == "" {
			continue // header or trailer
		}
		raw, err := base64.StdEncoding.DecodeString(g.Frame)
		if err != nil || len(raw) < 4 {
			t.Fatalf("%s seq %d: frame: %v", name, g.Seq, err)
		}
		if g.cmd, err = remoting.DecodeFrame(raw[4:]); err != nil {
			t.Fatalf("%s seq %d: %v", name, g.Seq, err)
		}
		key := fmt.Sprintf("%s/%d/%d", g.Route, g.Conn, g.cmd.Opaque)
		switch {
		case g.From == "client" && g.Dir == "request":
			reqs = append(reqs, &g)
			pending[key] = &g
		case g.From == "server" && g.Dir == "response":
			if req := pending[key]; req != nil {
				answer[req] = &g
				delete(pending, key)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return reqs, answer
}

// TestGolden_sql92Example_answersAsApacheRocketMQ replays the distribution's SqlFilterProducer
// and SqlFilterConsumer, recorded against Apache RocketMQ 4.9.4 with enablePropertyFilter=true,
// and checks that mqbroker answers each send, CHECK_CLIENT_CONFIG, heartbeat and pull as Apache
// did: the same codes, offsets and — for the pulls — the same filtered messages.
func TestGolden_sql92Example_answersAsApacheRocketMQ(t *testing.T) {
	b := startWireBroker(t)
	c := dialWire(t, b.BrokerAddr())
	replay := func(g *goldenFrame) *remoting.Command {
		t.Helper()
		cmd := *g.cmd
		resp, err := c.do(&cmd, wireTimeout)
		if err != nil {
			t.Fatalf("seq %d %s: %v", g.Seq, protocol.Code(cmd.Code), err)
		}
		return resp
	}

	sends, answers := loadSQL92Golden(t, "producer.golden.jsonl")
	n := 0
	for _, g := range sends {
		if g.Route != "broker" || g.cmd.Code != int16(protocol.SendMessageV2) && g.cmd.Code != int16(protocol.SendMessage) {
			continue
		}
		n++
		resp, want := replay(g), answers[g]
		if want == nil {
			t.Fatalf("producer seq %d: no answer recorded", g.Seq)
		}
		for _, k := range []string{"queueId", "queueOffset"} {
			if resp.Code != want.cmd.Code || resp.Ext(k) != want.cmd.Ext(k) {
				t.Errorf("send seq %d: %s %s=%s, Apache %s %s=%s", g.Seq, protocol.ResponseCode(resp.Code), k, resp.Ext(k),
					protocol.ResponseCode(want.cmd.Code), k, want.cmd.Ext(k))
			}
		}
	}
	if n != 10 {
		t.Fatalf("replayed %d sends, want the example's 10", n)
	}

	reqs, answers := loadSQL92Golden(t, "consumer.golden.jsonl")
	checked := map[protocol.Code]int{}
	for _, g := range reqs {
		code := protocol.Code(g.cmd.Code)
		if g.Route != "broker" || !slices.Contains([]protocol.Code{protocol.CheckClientConfig, protocol.HeartBeat, protocol.PullMessage}, code) {
			continue
		}
		if code == protocol.PullMessage {
			if g.cmd.Ext("topic") != "SqlFilterTest" {
				continue // retry-topic pulls: Apache refused them as not latest (a Java client quirk)
			}
			// Answer at once instead of holding: Apache held these until new data or timeout.
			sys, _ := strconv.Atoi(g.cmd.Ext("sysFlag"))
			g.cmd.ExtFields["sysFlag"] = strconv.Itoa(sys &^ 2)
		}
		resp, want := replay(g), answers[g]
		if want == nil {
			continue // the recording ended while Apache still held it
		}
		if want.cmd.Code == int16(subscriptionNotLatest) {
			// Apache refused a pull whose subVersion was newer than the last heartbeat's; mqbroker
			// serves it with the registered expression (rocketmq-client-go sends no subVersion).
			continue
		}
		checked[code]++
		if resp.Code != want.cmd.Code {
			t.Errorf("%s seq %d (queue %s at %s): %s %q, Apache %s %q", code, g.Seq, g.cmd.Ext("queueId"), g.cmd.Ext("queueOffset"),
				protocol.ResponseCode(resp.Code), resp.Remark, protocol.ResponseCode(want.cmd.Code), want.cmd.Remark)
			continue
		}
		if code != protocol.PullMessage {
			continue
		}
		if resp.Ext("nextBeginOffset") != want.cmd.Ext("nextBeginOffset") {
			t.Errorf("pull seq %d: nextBeginOffset %s, Apache %s", g.Seq, resp.Ext("nextBeginOffset"), want.cmd.Ext("nextBeginOffset"))
		}
		if resp.Code != int16(protocol.Success) {
			continue
		}
		got, err := decodeRecords(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		apache, err := decodeRecords(want.cmd.Body)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(bodies(got)) != fmt.Sprint(bodies(apache)) {
			t.Errorf("pull seq %d: delivered %v, Apache %v", g.Seq, bodies(got), bodies(apache))
		}
	}
	t.Logf("answers compared with Apache's: %v", checked)
	if checked[protocol.CheckClientConfig] == 0 || checked[protocol.HeartBeat] == 0 || checked[protocol.PullMessage] < 4 {
		t.Fatalf("compared too little with Apache's answers: %v", checked)
	}
}

// TestGolden_sql92CheckClientConfig_refusesAsApacheRocketMQ replays the CHECK_CLIENT_CONFIG
// that Apache RocketMQ 4.9.4's Java push consumer sends at start: a selector that does not
// parse (Apache answered SUBSCRIPTION_PARSE_FAILED, and the consumer's start failed with it),
// and a good one while property filtering is off (SYSTEM_ERROR with Apache's words).
func TestGolden_sql92CheckClientConfig_refusesAsApacheRocketMQ(t *testing.T) {
	for _, tc := range []struct {
		golden string
		on     bool
	}{
		{"badexpr.golden.jsonl", true},
		{"disabled.golden.jsonl", false},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			b := startWireBroker(t, brokertest.WithConfig(func(c *broker.Config) { c.EnablePropertyFilter = tc.on }))
			c := dialWire(t, b.BrokerAddr())
			reqs, answers := loadSQL92Golden(t, tc.golden)
			n := 0
			for _, g := range reqs {
				if g.Route != "broker" || g.cmd.Code != int16(protocol.CheckClientConfig) {
					continue
				}
				want := answers[g]
				if want == nil {
					t.Fatalf("seq %d: no answer recorded", g.Seq)
				}
				cmd := *g.cmd
				resp, err := c.do(&cmd, wireTimeout)
				if err != nil {
					t.Fatal(err)
				}
				n++
				if resp.Code != want.cmd.Code {
					t.Errorf("CHECK_CLIENT_CONFIG: %s %q, Apache %s %q", protocol.ResponseCode(resp.Code), resp.Remark,
						protocol.ResponseCode(want.cmd.Code), want.cmd.Remark)
				}
				if !tc.on && resp.Remark != want.cmd.Remark {
					t.Errorf("remark %q, Apache %q", resp.Remark, want.cmd.Remark)
				}
				if tc.on && resp.Remark == "" {
					t.Error("no reason given for the bad selector")
				}
			}
			if n != 1 {
				t.Fatalf("replayed %d CHECK_CLIENT_CONFIG, want 1", n)
			}
		})
	}
}
