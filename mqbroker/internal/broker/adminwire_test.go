// Replays the frames Apache RocketMQ 4.9.4's mqadmin sent to Apache RocketMQ
// 4.9.4 (golden files in testdata/mqadmin, captured with
// mqbroker/internal/wiretap: see testdata/mqadmin/capture.sh) against
// mqbroker over TCP, and checks that every request gets the response code
// Apache gave and a body with the fields mqadmin reads. Numbers differ (our
// broker, our data), so bodies are compared by structure, not bytes.

package broker_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
	"github.com/shopsaga/shopsaga/mqbroker/internal/wiretap"
)

// Names used when the goldens were captured (capture.sh).
const (
	goldenTopic  = "WiretapTopic"
	goldenCGroup = "wiretap_cg"
	goldenPGroup = "wiretap_pg"
)

func loadGolden(t *testing.T, name string) *wiretap.Golden {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "mqadmin", name+".golden.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := wiretap.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(g.Requests()) == 0 {
		t.Fatalf("%s: no requests recorded", name)
	}
	return g
}

// adminWorld is the state the goldens were captured in: topic WiretapTopic
// with 10 messages (KEYS key-0..key-9, TAGS TagA), a live producer of
// wiretap_pg and a live push consumer of wiretap_cg that has consumed them.
type adminWorld struct {
	b        *brokertest.Broker
	consumer *wireClient
	producer *wireClient
	key3     sentMsg // the message with KEYS key-3
	key3Phys int64
}

func javaHeartbeat(clientID, producerGroup, consumerGroup string, topics ...string) []byte {
	var subs []string
	for _, tp := range topics {
		subs = append(subs, fmt.Sprintf(`{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1,"tagsSet":[],"topic":%q}`, tp))
	}
	cons := "[]"
	if consumerGroup != "" {
		cons = fmt.Sprintf(`[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":%q,"messageModel":"CLUSTERING","subscriptionDataSet":[%s],"unitMode":false}]`,
			consumerGroup, strings.Join(subs, ","))
	}
	prod := "[]"
	if producerGroup != "" {
		prod = fmt.Sprintf(`[{"groupName":%q}]`, producerGroup)
	}
	return []byte(fmt.Sprintf(`{"clientID":%q,"consumerDataSet":%s,"producerDataSet":%s}`, clientID, cons, prod))
}

func javaCall(t testing.TB, c *wireClient, code protocol.Code, ext map[string]string, body []byte) *remoting.Command {
	t.Helper()
	cmd := &remoting.Command{Code: int16(code), ExtFields: ext, Body: body}
	resp, err := c.do(cmd, wireTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func newAdminWorld(t *testing.T) *adminWorld {
	t.Helper()
	w := &adminWorld{b: startWireBroker(t)}
	w.producer = dialWire(t, w.b.BrokerAddr())
	w.consumer = dialWire(t, w.b.BrokerAddr())
	// The topic is created by replaying updateTopic itself (TestAdminReplay's first step).
	replayGolden(t, w, loadGolden(t, "updateTopic"))
	for i := range 10 {
		m, err := w.producer.sendOne(goldenTopic, i%8, fmt.Sprintf("UNIQ%02d", i), fmt.Sprintf("hello %d", i),
			"KEYS", fmt.Sprintf("key-%d", i), "TAGS", "TagA")
		if err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			w.key3 = m
		}
	}
	_, phys, err := message.ParseOffsetMsgID(w.key3.msgID)
	if err != nil {
		t.Fatal(err)
	}
	w.key3Phys = phys
	if r := javaCall(t, w.producer, protocol.HeartBeat, nil, javaHeartbeat("192.0.2.2@prod", goldenPGroup, "")); r.Code != 0 {
		t.Fatalf("producer heartbeat: %s", r.Remark)
	}
	if r := javaCall(t, w.consumer, protocol.HeartBeat, nil,
		javaHeartbeat("192.0.2.2@cons", "", goldenCGroup, goldenTopic, "%RETRY%"+goldenCGroup)); r.Code != 0 {
		t.Fatalf("consumer heartbeat: %s", r.Remark)
	}
	for q := range 8 {
		javaCall(t, w.consumer, protocol.UpdateConsumerOffset, map[string]string{"consumerGroup": goldenCGroup,
			"topic": goldenTopic, "queueId": strconv.Itoa(q), "commitOffset": strconv.Itoa(map[bool]int{true: 2, false: 1}[q < 2])}, nil)
	}
	return w
}

// adjust rewrites what must differ between the capture and this broker: the
// commit-log offset and unique key of the message looked up.
func (w *adminWorld) adjust(cmd *remoting.Command) {
	switch protocol.Code(cmd.Code) {
	case protocol.ViewMessageByID:
		cmd.SetExtInt("offset", w.key3Phys)
	case protocol.QueryMessage:
		if cmd.Ext("_UNIQUE_KEY_QUERY") == "true" {
			cmd.SetExt("key", w.key3.key)
		}
	}
}

type replayed struct {
	req, golden wiretap.Frame
	resp        *remoting.Command
}

// replayGolden sends every request of g, in order, on one connection per
// recorded connection, and returns each with the golden response and ours.
func replayGolden(t *testing.T, w *adminWorld, g *wiretap.Golden) []replayed {
	t.Helper()
	type connKey struct {
		route string
		id    int
	}
	conns := map[connKey]net.Conn{}
	readers := map[connKey]*bufio.Reader{}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var out []replayed
	for _, req := range g.Requests() {
		k := connKey{req.Route, req.Conn}
		c, ok := conns[k]
		if !ok {
			addr := w.b.BrokerAddr()
			if req.Route == "namesrv" {
				addr = w.b.NamesrvAddr()
			}
			var err error
			if c, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			conns[k], readers[k] = c, bufio.NewReader(c)
		}
		cmd, err := req.Command()
		if err != nil {
			t.Fatalf("golden request %d: %v", req.Seq, err)
		}
		w.adjust(cmd)
		_ = c.SetDeadline(time.Now().Add(wireTimeout))
		if _, err := c.Write(cmd.AppendFrame(nil)); err != nil {
			t.Fatal(err)
		}
		golden, hasResp := g.ResponseTo(req)
		if cmd.Flag&remoting.FlagOneway != 0 || !hasResp {
			continue
		}
		for {
			resp, err := remoting.ReadCommand(readers[k], 64<<20)
			if err != nil {
				t.Fatalf("%s (golden seq %d): %v", protocol.Code(cmd.Code), req.Seq, err)
			}
			if resp.IsResponse() && resp.Opaque == cmd.Opaque {
				out = append(out, replayed{req, golden, resp})
				break
			}
		}
	}
	return out
}

var jsonFieldName = regexp.MustCompile(`"([A-Za-z_][A-Za-z0-9_]*)":`)

// fieldNames lists the JSON member names of a (fastjson) body.
func fieldNames(body []byte) []string {
	var names []string
	for _, m := range jsonFieldName.FindAllSubmatch(body, -1) {
		if n := string(m[1]); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// checkResponse compares our response with Apache's: same code, and a body
// of the same kind with (for JSON) every field name Apache's had.
func checkResponse(t *testing.T, name string, r replayed) {
	t.Helper()
	code := protocol.Code(r.req.Code)
	if r.resp.Code != r.golden.Code {
		t.Errorf("%s: %s answered %s (%q), Apache answered %s (%q)", name, code,
			protocol.ResponseCode(r.resp.Code), r.resp.Remark, protocol.ResponseCode(r.golden.Code), r.golden.Remark)
		return
	}
	gb := []byte(r.golden.Body)
	switch {
	case r.golden.BodyLen == 0:
	case code == protocol.ViewMessageByID || code == protocol.QueryMessage:
		msgs, err := message.DecodeAll(r.resp.Body)
		if err != nil || len(msgs) == 0 {
			t.Errorf("%s: %s body does not decode as messages: %v", name, code, err)
			return
		}
		if m := msgs[0]; m.Topic != goldenTopic || !slices.Contains(m.Keys(), "key-3") {
			t.Errorf("%s: %s found %s keys %v, want the key-3 message of %s", name, code, m.Topic, m.Keys(), goldenTopic)
		}
		for _, k := range []string{"indexLastUpdateTimestamp", "indexLastUpdatePhyoffset"} {
			if _, ok := r.golden.Ext[k]; ok && r.resp.Ext(k) == "" {
				t.Errorf("%s: %s response lacks ext field %s", name, code, k)
			}
		}
	case code == protocol.GetBrokerConfig:
		for _, k := range []string{"brokerName=", "brokerClusterName=", "listenPort=", "brokerId=", "messageDelayLevel="} {
			if !bytes.Contains(r.resp.Body, []byte("\n"+k)) && !bytes.HasPrefix(r.resp.Body, []byte(k)) {
				t.Errorf("%s: broker config lacks %s", name, k)
			}
		}
		if r.resp.Ext("version") == "" {
			t.Errorf("%s: broker config response lacks the version ext field", name)
		}
	case bytes.HasPrefix(gb, []byte("{")):
		ours := fieldNames(r.resp.Body)
		for _, f := range fieldNames(gb) {
			if !slices.Contains(ours, f) {
				t.Errorf("%s: %s body lacks field %q\n ours:   %.600s\n Apache: %.600s", name, code, f, r.resp.Body, gb)
			}
		}
	}
}

// TestAdminReplay_mqadminGoldens replays every captured mqadmin command in
// the order capture.sh ran them, against one broker holding the same state.
func TestAdminReplay_mqadminGoldens(t *testing.T) {
	w := newAdminWorld(t)
	steps := []string{"topicRouteMissing", "clusterList", "brokerStatus", "topicList", "topicRoute", "topicStatus",
		"getBrokerConfig", "producerConnection", "consumerConnection", "consumerProgress", "queryMsgById",
		"queryMsgByKey", "queryMsgByUniqueKey", "resetOffsetByTime", "resetOffsetByTimeOffline",
		"updateSubGroup", "deleteSubGroup", "deleteTopic"}
	for _, name := range steps {
		if name == "resetOffsetByTimeOffline" {
			w.consumer.close() // the group goes offline, as in the capture
			waitFor(t, "the consumer to be dropped", func() bool {
				r := javaCall(t, w.producer, protocol.GetConsumerConnectionList, map[string]string{"consumerGroup": goldenCGroup}, nil)
				return r.Code == int16(protocol.ConsumerNotOnline)
			})
		}
		g := loadGolden(t, name)
		rs := replayGolden(t, w, g)
		if len(rs) == 0 {
			t.Fatalf("%s: nothing replayed", name)
		}
		for _, r := range rs {
			checkResponse(t, name, r)
		}
		if name == "resetOffsetByTime" {
			push := w.consumer.waitPushed(t, protocol.ResetConsumerClientOffset, 5*time.Second)
			if push.Ext("group") != goldenCGroup || push.Ext("topic") != goldenTopic || !bytes.Contains(push.Body, []byte(`"queueId":0,"topic":"WiretapTopic"}:2`)) {
				t.Errorf("RESET_CONSUMER_CLIENT_OFFSET %v %s: want the group's new offsets (queue 0 at its end, 2)", push.ExtFields, push.Body)
			}
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAdminReplay_checkFindsMissingFields proves the structural check can
// fail: a body without one of Apache's fields is reported.
func TestAdminReplay_checkFindsMissingFields(t *testing.T) {
	g := loadGolden(t, "consumerConnection")
	var golden wiretap.Frame
	for _, f := range g.Frames {
		if f.From == "server" && f.BodyLen > 0 && strings.Contains(f.Body, "connectionSet") {
			golden = f
		}
	}
	got := fieldNames([]byte(golden.Body))
	for _, want := range []string{"connectionSet", "clientAddr", "consumeType", "subscriptionTable", "subString"} {
		if !slices.Contains(got, want) {
			t.Errorf("field names %v lack %q", got, want)
		}
	}
	ours := fieldNames([]byte(`{"connectionSet":[],"consumeType":"CONSUME_PASSIVELY"}`))
	if slices.Contains(ours, "subscriptionTable") {
		t.Fatal("fieldNames invents fields")
	}
}

// TestAdminWire_updateTopicChangesQueuesOfALiveTopic_andNotifiesItsConsumers:
// mqadmin updateTopic -r 8 -w 8 on an existing 4-queue topic changes its
// route, and the group subscribed to it is told to rebalance.
func TestAdminWire_updateTopicChangesQueuesOfALiveTopic_andNotifiesItsConsumers(t *testing.T) {
	b := startWireBroker(t)
	c := dialWire(t, b.BrokerAddr())
	const topic = "LiveResize"
	if _, err := c.sendOne(topic, 0, "u1", "x"); err != nil {
		t.Fatal(err)
	}
	cons := dialWire(t, b.BrokerAddr())
	javaCall(t, cons, protocol.HeartBeat, nil, javaHeartbeat("192.0.2.2@resize", "", "resize_cg", topic))
	r := javaCall(t, c, protocol.UpdateAndCreateTopic, map[string]string{"topic": topic, "readQueueNums": "8", "writeQueueNums": "8", "perm": "6"}, nil)
	if r.Code != 0 {
		t.Fatalf("update topic: %s", r.Remark)
	}
	ns := dialWire(t, b.NamesrvAddr())
	route := javaCall(t, ns, protocol.GetRouteInfoByTopic, map[string]string{"topic": topic}, nil)
	if !bytes.Contains(route.Body, []byte(`"readQueueNums":8,"writeQueueNums":8,"perm":6`)) {
		t.Fatalf("route after updateTopic -r 8 -w 8 -p 6: %s", route.Body)
	}
	if n := cons.waitPushed(t, protocol.NotifyConsumerIDsChanged, 5*time.Second); n.Ext("consumerGroup") != "resize_cg" {
		t.Fatalf("notify %v", n.ExtFields)
	}
	for _, bad := range []map[string]string{
		{"topic": topic, "readQueueNums": "0", "writeQueueNums": "8"},
		{"topic": topic, "readQueueNums": "8", "writeQueueNums": "100000"},
		{"topic": topic, "perm": "1"},
		{"topic": "TBW102", "readQueueNums": "2", "writeQueueNums": "2"},
	} {
		if r := javaCall(t, c, protocol.UpdateAndCreateTopic, bad, nil); r.Code == 0 || r.Remark == "" {
			t.Errorf("updateTopic %v: answered %d %q, want an error", bad, r.Code, r.Remark)
		}
	}
}

// TestAdminWire_routeOfAMissingTopicIsTopicNotExist_andCreatesNothing: a
// typo in mqadmin topicRoute no longer creates a topic.
func TestAdminWire_routeOfAMissingTopicIsTopicNotExist_andCreatesNothing(t *testing.T) {
	b := startWireBroker(t)
	ns := dialWire(t, b.NamesrvAddr())
	for range 2 {
		r := javaCall(t, ns, protocol.GetRouteInfoByTopic, map[string]string{"topic": "NoSuchTopic_typo"}, nil)
		if r.Code != int16(protocol.TopicNotExist) {
			t.Fatalf("route of a missing topic: %s %q, want TOPIC_NOT_EXIST", protocol.ResponseCode(r.Code), r.Remark)
		}
	}
	list := javaCall(t, ns, protocol.GetAllTopicListFromNS, nil, nil)
	if bytes.Contains(list.Body, []byte("NoSuchTopic_typo")) {
		t.Fatalf("topic list %s holds the looked-up topic", list.Body)
	}
	// The producer path still creates: the default topic has a route, and a send creates the topic.
	if r := javaCall(t, ns, protocol.GetRouteInfoByTopic, map[string]string{"topic": "TBW102"}, nil); r.Code != 0 {
		t.Fatalf("route of TBW102: %s", r.Remark)
	}
	p := dialWire(t, b.BrokerAddr())
	if _, err := p.sendOne("CreatedBySend", 0, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if r := javaCall(t, ns, protocol.GetRouteInfoByTopic, map[string]string{"topic": "CreatedBySend"}, nil); r.Code != 0 {
		t.Fatalf("route after the first send: %s", r.Remark)
	}
}

// TestAdminWire_deleteTopicRemovesItsDataAndOffsets: after deleteTopic the
// route is gone, the queues are empty and the group's offsets are dropped.
func TestAdminWire_deleteTopicRemovesItsDataAndOffsets(t *testing.T) {
	b := startWireBroker(t)
	c := dialWire(t, b.BrokerAddr())
	const topic = "ToDelete"
	if _, err := c.sendOne(topic, 0, "d1", "x"); err != nil {
		t.Fatal(err)
	}
	javaCall(t, c, protocol.UpdateConsumerOffset, map[string]string{"consumerGroup": "del_cg", "topic": topic, "queueId": "0", "commitOffset": "1"}, nil)
	if r := javaCall(t, c, protocol.DeleteTopicInBroker, map[string]string{"topic": topic}, nil); r.Code != 0 {
		t.Fatalf("delete: %s", r.Remark)
	}
	if r := javaCall(t, c, protocol.GetTopicStatsInfo, map[string]string{"topic": topic}, nil); r.Code != int16(protocol.TopicNotExist) {
		t.Fatalf("topic stats after delete: %d %s", r.Code, r.Remark)
	}
	if r := javaCall(t, c, protocol.GetMaxOffset, map[string]string{"topic": topic, "queueId": "0"}, nil); r.Ext("offset") != "0" {
		t.Fatalf("max offset after delete: %v", r.ExtFields)
	}
	if r := javaCall(t, c, protocol.QueryConsumerOffset, map[string]string{"consumerGroup": "del_cg", "topic": topic, "queueId": "0"}, nil); r.Code != int16(protocol.QueryNotFound) {
		t.Fatalf("offset after delete: %d %v", r.Code, r.ExtFields)
	}
	for _, sys := range []string{"TBW102", "RMQ_SYS_TRANS_HALF_TOPIC", "SCHEDULE_TOPIC_XXXX"} {
		if r := javaCall(t, c, protocol.DeleteTopicInBroker, map[string]string{"topic": sys}, nil); r.Code == 0 {
			t.Errorf("deleting system topic %s succeeded", sys)
		}
	}
}

// TestTopicsFlag_createsTopicsAtStart_andRejectsBadNames: --topics makes the
// routes exist before anything is sent (so a consumer can start at once).
func TestTopicsFlag_createsTopicsAtStart_andRejectsBadNames(t *testing.T) {
	b := startWireBroker(t, brokertest.WithConfig(func(c *broker.Config) { c.Topics = []string{"order_reback", "order_timeout"} }))
	ns := dialWire(t, b.NamesrvAddr())
	for _, topic := range []string{"order_reback", "order_timeout"} {
		if r := javaCall(t, ns, protocol.GetRouteInfoByTopic, map[string]string{"topic": topic}, nil); r.Code != 0 {
			t.Errorf("route of %s: %s %q", topic, protocol.ResponseCode(r.Code), r.Remark)
		}
	}
	cfg := broker.DefaultConfig()
	cfg.Topics = []string{"ok", "bad topic"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "bad topic") {
		t.Fatalf("Validate = %v, want the bad topic name reported", err)
	}
}
