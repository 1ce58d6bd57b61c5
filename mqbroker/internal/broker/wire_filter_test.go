package broker_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// sqlHeartbeat is a consumer heartbeat whose subscription has the given expression type, as
// rocketmq-client-go v2.1.2 sends it for consumer.MessageSelector{Type: consumer.SQL92}.
func sqlHeartbeat(t testing.TB, clientID, group, topic, exprType, expr string) []byte {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"clientID": clientID, "producerDataSet": []any{},
		"consumerDataSet": []any{map[string]any{
			"groupName": group, "consumeType": "CONSUME_PASSIVELY", "messageModel": "CLUSTERING",
			"consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET", "unitMode": false,
			"subscriptionDataSet": []any{map[string]any{
				"classFilterMode": false, "topic": topic, "subString": expr, "tagsSet": nil, "codeSet": nil,
				"subVersion": time.Now().UnixNano(), "expressionType": exprType,
			}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// sqlPullExt is a pull header; with expr set it carries the subscription (sysFlag bit 2) of the
// given type, as the Go client's PullFrom does.
func sqlPullExt(group, topic string, offset int64, suspend time.Duration, exprType, expr string) map[string]string {
	ext := pullExt(group, topic, 0, offset, suspend)
	ext["subscription"], ext["expressionType"] = expr, exprType
	if expr != "" {
		flag, _ := strconv.Atoi(ext["sysFlag"])
		ext["sysFlag"] = strconv.Itoa(flag | 4)
		ext["subVersion"] = strconv.FormatInt(time.Now().UnixNano(), 10)
	}
	return ext
}

func pullWith(t testing.TB, c *wireClient, ext map[string]string, wait time.Duration) (*remoting.Command, []*primitive.MessageExt) {
	t.Helper()
	resp, err := c.do(&remoting.Command{Code: int16(protocol.PullMessage), ExtFields: ext}, wait+wireTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != int16(protocol.Success) {
		return resp, nil
	}
	msgs, err := decodeRecords(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, msgs
}

// sendProps sends one message to queue 0 with property a=<a> (omitted when a is "") and tag.
func sendProps(t testing.TB, c *wireClient, topic, key, a, tag string) {
	t.Helper()
	extra := []string{"TAGS", tag}
	if a != "" {
		extra = append(extra, "a", a)
	}
	if _, err := c.sendOne(topic, 0, key, key, extra...); err != nil {
		t.Fatal(err)
	}
}

// bodies lists the messages' bodies, sorted.
func bodies(ms []*primitive.MessageExt) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, string(m.Body))
	}
	sort.Strings(out)
	return out
}

func keysOf(msgs []*primitive.MessageExt) string {
	var ks []string
	for _, m := range msgs {
		ks = append(ks, m.GetProperty("UNIQ_KEY"))
	}
	return strings.Join(ks, ",")
}

func TestWireFilter_sql92Pull_deliversOnlyMatches_andSkipsPastTheRest(t *testing.T) {
	b := startWireBroker(t)
	topic, group := filterName("Sql"), filterName("sqlcg")
	c := dialWire(t, b.BrokerAddr())
	for i := range 10 {
		sendProps(t, c, topic, fmt.Sprintf("m%d", i), strconv.Itoa(i), "TagA")
	}
	sendProps(t, c, topic, "noprop", "", "TagA")
	sendProps(t, c, topic, "nan", "x", "TagA")

	// The selector in the pull header (the Go client's PullFrom).
	resp, msgs := pullWith(t, c, sqlPullExt(group, topic, 0, 0, "SQL92", "a BETWEEN 0 AND 3"), 0)
	if resp.Code != 0 || keysOf(msgs) != "m0,m1,m2,m3" || resp.Ext("nextBeginOffset") != "12" {
		t.Fatalf("pull with a SQL92 header: %s %q next=%s; want m0..m3, next 12",
			protocol.ResponseCode(resp.Code), keysOf(msgs), resp.Ext("nextBeginOffset"))
	}
	// TAGS is a property like any other.
	resp, msgs = pullWith(t, c, sqlPullExt(group, topic, 0, 0, "SQL92", "TAGS = 'TagA' AND a IS NULL"), 0)
	if resp.Code != 0 || keysOf(msgs) != "noprop" {
		t.Fatalf("TAGS selector: %s %q", protocol.ResponseCode(resp.Code), keysOf(msgs))
	}

	// The selector from the heartbeat (the push consumer sends none in its pulls).
	hb := sqlHeartbeat(t, "cid-1", group, topic, "SQL92", "a > 7")
	if r := c.mustCall(t, protocol.HeartBeat, nil, hb); r.Code != 0 {
		t.Fatalf("heartbeat: %s %s", protocol.ResponseCode(r.Code), r.Remark)
	}
	resp, msgs = pullWith(t, c, sqlPullExt(group, topic, 0, 0, "TAG", ""), 0)
	if resp.Code != 0 || keysOf(msgs) != "m8,m9" || resp.Ext("nextBeginOffset") != "12" {
		t.Fatalf("pull under a SQL92 heartbeat: %s %q next=%s", protocol.ResponseCode(resp.Code), keysOf(msgs), resp.Ext("nextBeginOffset"))
	}
	// The Go pull consumer's Poll loop sends its SQL92 expression typed TAG: the heartbeat's
	// type wins for the same expression.
	resp, msgs = pullWith(t, c, sqlPullExt(group, topic, 0, 0, "TAG", "a > 7"), 0)
	if resp.Code != 0 || keysOf(msgs) != "m8,m9" {
		t.Fatalf("TAG-typed pull of the registered SQL92 expression: %s %q", protocol.ResponseCode(resp.Code), keysOf(msgs))
	}

	// Nothing matches: the answer moves the consumer to the end instead of stalling it, at once
	// even when it may be held (Apache's NO_MATCHED_MESSAGE).
	resp, _ = pullWith(t, c, sqlPullExt(group, topic, 0, 10*time.Second, "SQL92", "a = 42"), 0)
	if resp.Code != int16(protocol.PullRetryImmediately) || resp.Ext("nextBeginOffset") != "12" {
		t.Fatalf("pull with no match: %s next=%s; want PULL_RETRY_IMMEDIATELY next=12", protocol.ResponseCode(resp.Code), resp.Ext("nextBeginOffset"))
	}
}

func TestWireFilter_manyNonMatchingMessages_neitherStallNorHideALaterMatch(t *testing.T) {
	b := startWireBroker(t)
	topic, group := filterName("SqlSkip"), filterName("sqlcg")
	c := dialWire(t, b.BrokerAddr())
	const skipped = 300 // more than one store read of 32
	for i := range skipped {
		sendProps(t, c, topic, fmt.Sprintf("n%d", i), "100", "T")
	}
	sendProps(t, c, topic, "hit", "1", "T")
	sendProps(t, c, topic, "after", "100", "T")
	resp, msgs := pullWith(t, c, sqlPullExt(group, topic, 0, 0, "SQL92", "a < 10"), 0)
	if resp.Code != 0 || keysOf(msgs) != "hit" {
		t.Fatalf("pull past %d non-matching: %s %q next=%s", skipped, protocol.ResponseCode(resp.Code), keysOf(msgs), resp.Ext("nextBeginOffset"))
	}
	if next, _ := strconv.Atoi(resp.Ext("nextBeginOffset")); next <= skipped || next > skipped+2 {
		t.Fatalf("nextBeginOffset %d: want past the match (%d) and at most the end (%d)", next, skipped, skipped+2)
	}
}

func TestWireFilter_longPoll_wakesOnlyForAMatchingMessage(t *testing.T) {
	b := startWireBroker(t)
	topic, group := filterName("SqlPoll"), filterName("sqlcg")
	c := dialWire(t, b.BrokerAddr())
	sendProps(t, c, topic, "seed", "0", "T")

	type result struct {
		resp *remoting.Command
		msgs []*primitive.MessageExt
	}
	done := make(chan result, 1)
	go func() {
		// A consumer's pull loop: a pull that arrives after some non-matching messages were
		// stored is answered at once with the offset past them, and pulls again from there.
		offset := int64(1)
		for {
			resp, err := c.do(&remoting.Command{Code: int16(protocol.PullMessage),
				ExtFields: sqlPullExt(group, topic, offset, 10*time.Second, "SQL92", "a = 'yes'")}, 10*time.Second+wireTimeout)
			if err == nil && (resp.Code == int16(protocol.PullRetryImmediately) || resp.Code == int16(protocol.PullNotFound)) {
				offset, _ = strconv.ParseInt(resp.Ext("nextBeginOffset"), 10, 64)
				continue
			}
			if err != nil || resp.Code != 0 {
				done <- result{resp: resp}
				return
			}
			msgs, _ := decodeRecords(resp.Body)
			done <- result{resp, msgs}
			return
		}
	}()
	producer := dialWire(t, b.BrokerAddr())
	for i := range 3 {
		sendProps(t, producer, topic, fmt.Sprintf("no%d", i), "no", "T")
	}
	// The non-matching messages are stored (a fresh pull sees them) but do not answer the poll.
	if r, msgs := pullWith(t, producer, sqlPullExt(group, topic, 1, 0, "TAG", "*"), 0); r.Code != 0 || len(msgs) != 3 {
		t.Fatalf("plain pull: %s %d messages", protocol.ResponseCode(r.Code), len(msgs))
	}
	select {
	case r := <-done:
		t.Fatalf("long poll answered for non-matching messages: %+v %q", r.resp, keysOf(r.msgs))
	default:
	}
	sendProps(t, producer, topic, "hit", "yes", "T")
	select {
	case r := <-done:
		if r.resp == nil || r.resp.Code != 0 || keysOf(r.msgs) != "hit" || r.resp.Ext("nextBeginOffset") != "5" {
			t.Fatalf("long poll: %+v %q; want only hit, next 5", r.resp, keysOf(r.msgs))
		}
	case <-time.After(8 * time.Second):
		t.Fatal("long poll still held after a matching message was stored")
	}
}

func TestWireFilter_badExpression_isAnErrorResponse(t *testing.T) {
	b := startWireBroker(t)
	topic, group := filterName("SqlBad"), filterName("sqlcg")
	c := dialWire(t, b.BrokerAddr())
	sendProps(t, c, topic, "m", "1", "T")

	resp, _ := pullWith(t, c, sqlPullExt(group, topic, 0, 0, "SQL92", "a BETWEEN 3 AND"), 0)
	if resp.Code != int16(protocol.SubscriptionParseFailed) || !strings.Contains(resp.Remark, "invalid SQL92 expression") {
		t.Fatalf("bad SQL92 in the pull: %s %q; want SUBSCRIPTION_PARSE_FAILED naming the problem", protocol.ResponseCode(resp.Code), resp.Remark)
	}
	hb := sqlHeartbeat(t, "cid-bad", group, topic, "SQL92", "a != 1")
	if r := c.mustCall(t, protocol.HeartBeat, nil, hb); r.Code != 0 {
		t.Fatalf("heartbeat: %s", protocol.ResponseCode(r.Code))
	}
	resp, _ = pullWith(t, c, sqlPullExt(group, topic, 0, 0, "TAG", ""), 0)
	if resp.Code != int16(protocol.FilterDataNotExist) || !strings.Contains(resp.Remark, "!=") {
		t.Fatalf("bad SQL92 in the heartbeat: %s %q; want FILTER_DATA_NOT_EXIST", protocol.ResponseCode(resp.Code), resp.Remark)
	}
	resp, _ = pullWith(t, c, sqlPullExt(group, topic, 0, 0, "XPATH", "/a"), 0)
	if resp.Code != int16(protocol.SubscriptionParseFailed) {
		t.Fatalf("unknown expression type: %s %q", protocol.ResponseCode(resp.Code), resp.Remark)
	}
}

func checkClient(t testing.TB, c *wireClient, exprType, expr string) *remoting.Command {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"clientId": "cid", "group": "g", "subscriptionData": map[string]any{
		"topic": "T", "subString": expr, "expressionType": exprType, "classFilterMode": false, "subVersion": 1}})
	return c.mustCall(t, protocol.CheckClientConfig, nil, body)
}

func TestWireFilter_checkClientConfig_answersABadExpressionWithTheReason(t *testing.T) {
	b := startWireBroker(t)
	c := dialWire(t, b.BrokerAddr())
	if r := checkClient(t, c, "SQL92", "(TAGS is not null and TAGS in ('TagA', 'TagB')) and (a is not null and a between 0 and 3)"); r.Code != 0 {
		t.Fatalf("good SQL92: %s %q", protocol.ResponseCode(r.Code), r.Remark)
	}
	if r := checkClient(t, c, "TAG", "A || B"); r.Code != 0 {
		t.Fatalf("TAG: %s %q", protocol.ResponseCode(r.Code), r.Remark)
	}
	r := checkClient(t, c, "SQL92", "a between 10 and 0")
	if r.Code != int16(protocol.SubscriptionParseFailed) || !strings.Contains(r.Remark, "low bound") {
		t.Fatalf("bad SQL92: %s %q; want SUBSCRIPTION_PARSE_FAILED with the reason", protocol.ResponseCode(r.Code), r.Remark)
	}
}

func TestWireFilter_propertyFilterOff_refusesSQL92AsApacheDoes(t *testing.T) {
	b := startWireBroker(t, brokertest.WithConfig(func(c *broker.Config) { c.EnablePropertyFilter = false }))
	topic, group := filterName("SqlOff"), filterName("sqlcg")
	c := dialWire(t, b.BrokerAddr())
	sendProps(t, c, topic, "m", "1", "T")
	const want = "The broker does not support consumer to filter message by SQL92"
	if r := checkClient(t, c, "SQL92", "a = 1"); r.Code != int16(protocol.SystemError) || r.Remark != want {
		t.Fatalf("CHECK_CLIENT_CONFIG: %s %q", protocol.ResponseCode(r.Code), r.Remark)
	}
	resp, _ := pullWith(t, c, sqlPullExt(group, topic, 0, 0, "SQL92", "a = 1"), 0)
	if resp.Code != int16(protocol.SystemError) || resp.Remark != want {
		t.Fatalf("pull: %s %q", protocol.ResponseCode(resp.Code), resp.Remark)
	}
	// Tags still work.
	if resp, msgs := pullWith(t, c, sqlPullExt(group, topic, 0, 0, "TAG", "T"), 0); resp.Code != 0 || len(msgs) != 1 {
		t.Fatalf("TAG pull with property filter off: %s %d", protocol.ResponseCode(resp.Code), len(msgs))
	}
}

// filterName is a topic or group name unique within the test binary (uniq is in the !race files).
func filterName(prefix string) string {
	return prefix + "_" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

func TestWireFilter_afterRestart_aSQL92GroupIsNotServedUnfilteredBeforeItsHeartbeat(t *testing.T) {
	b := startWireBroker(t)
	topic, sqlGroup, tagGroup := filterName("SqlRestart"), filterName("sqlcg"), filterName("tagcg")
	c := dialWire(t, b.BrokerAddr())
	sendProps(t, c, topic, "hit", "1", "T")
	sendProps(t, c, topic, "miss", "9", "T")
	for _, g := range []struct{ group, typ, expr string }{{sqlGroup, "SQL92", "a < 5"}, {tagGroup, "TAG", "*"}} {
		if r := c.mustCall(t, protocol.HeartBeat, nil, sqlHeartbeat(t, "cid", g.group, topic, g.typ, g.expr)); r.Code != 0 {
			t.Fatalf("heartbeat: %s", protocol.ResponseCode(r.Code))
		}
	}
	b.Restart()
	c = dialWire(t, b.BrokerAddr())
	// rocketmq-client-go's push consumer pulls with a TAG header and no subscription.
	resp, msgs := pullWith(t, c, sqlPullExt(sqlGroup, topic, 0, 0, "TAG", ""), 0)
	if resp.Code != int16(protocol.SubscriptionNotExist) {
		t.Fatalf("SQL92 group before its heartbeat: %s %q %q; want SUBSCRIPTION_NOT_EXIST", protocol.ResponseCode(resp.Code), resp.Remark, keysOf(msgs))
	}
	// A Java consumer says SQL92 in its pull header.
	if resp, _ := pullWith(t, c, sqlPullExt(filterName("javacg"), topic, 0, 0, "SQL92", ""), 0); resp.Code != int16(protocol.SubscriptionNotExist) {
		t.Fatalf("unregistered SQL92 pull: %s", protocol.ResponseCode(resp.Code))
	}
	// Tag consumers are served as before.
	if resp, msgs := pullWith(t, c, sqlPullExt(tagGroup, topic, 0, 0, "TAG", ""), 0); resp.Code != 0 || len(msgs) != 2 {
		t.Fatalf("TAG group after restart: %s %d messages", protocol.ResponseCode(resp.Code), len(msgs))
	}
	// Its heartbeat brings the selector back; switching to TAG forgets it.
	c.mustCall(t, protocol.HeartBeat, nil, sqlHeartbeat(t, "cid", sqlGroup, topic, "SQL92", "a < 5"))
	if resp, msgs := pullWith(t, c, sqlPullExt(sqlGroup, topic, 0, 0, "TAG", ""), 0); resp.Code != 0 || keysOf(msgs) != "hit" {
		t.Fatalf("after the heartbeat: %s %q", protocol.ResponseCode(resp.Code), keysOf(msgs))
	}
	c.mustCall(t, protocol.HeartBeat, nil, sqlHeartbeat(t, "cid", sqlGroup, topic, "TAG", "*"))
	b.Restart()
	c = dialWire(t, b.BrokerAddr())
	if resp, msgs := pullWith(t, c, sqlPullExt(sqlGroup, topic, 0, 0, "TAG", ""), 0); resp.Code != 0 || len(msgs) != 2 {
		t.Fatalf("group that moved to TAG, after restart: %s %d messages", protocol.ResponseCode(resp.Code), len(msgs))
	}
}
