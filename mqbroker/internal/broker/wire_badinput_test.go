package broker_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

func TestWire_concurrentClientsAndBadInput_leaveEveryAcknowledgedMessageIntact(t *testing.T) {
	b := startWireBroker(t)
	const topic, queues = "WireT", 4
	verifier := dialWire(t, b.BrokerAddr())
	first, err := verifier.sendOne(topic, 0, "first", "body-first") // creates the topic
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	sent := []sentMsg{first}
	record := func(ms ...sentMsg) {
		mu.Lock()
		sent = append(sent, ms...)
		mu.Unlock()
	}
	var failures errs
	var senders sync.WaitGroup
	const conns, goroutinesPerConn, sendsPerGoroutine, batchesPerConn = 4, 3, 30, 6
	for ci := range conns {
		c := dialWire(t, b.BrokerAddr())
		for g := range goroutinesPerConn {
			senders.Add(1)
			go func() {
				defer senders.Done()
				for i := range sendsPerGoroutine {
					key := fmt.Sprintf("k-%d-%d-%d", ci, g, i)
					s, err := c.sendOne(topic, i%queues, key, "body-"+key, "TAGS", "TagA")
					failures.add(err)
					if err == nil {
						record(s)
					}
				}
			}()
		}
		senders.Add(1)
		go func() {
			defer senders.Done()
			for i := range batchesPerConn {
				var keys []string
				for j := range 5 {
					keys = append(keys, fmt.Sprintf("b-%d-%d-%d", ci, i, j))
				}
				ms, err := c.sendBatch(topic, i%queues, keys)
				failures.add(err)
				record(ms...)
			}
		}()
	}

	// Meanwhile a consumer heart-beats, long-polls queue 0 and commits offsets,
	// and a second client keeps asking for the group's members.
	stop := make(chan struct{})
	var others sync.WaitGroup
	var q0 []string
	var q0next int64
	puller, watcher := dialWire(t, b.BrokerAddr()), dialWire(t, b.BrokerAddr())
	others.Add(2)
	go func() {
		defer others.Done()
		c := puller
		if resp, err := c.call(protocol.HeartBeat, nil, heartbeatBody("127.0.0.1@puller", "wire_cg", topic, "*")); err != nil || resp.Code != 0 {
			failures.add(fmt.Errorf("heartbeat: %v %v", resp, err))
			return
		}
		for {
			// Stop only on a PULL_NOT_FOUND to a pull issued after the senders finished.
			var finished bool
			select {
			case <-stop:
				finished = true
			default:
			}
			resp, msgs, err := c.pull("wire_cg", topic, 0, q0next, 200*time.Millisecond)
			if err != nil {
				failures.add(err)
				return
			}
			switch resp.Code {
			case int16(protocol.Success):
				for _, m := range msgs {
					q0 = append(q0, m.GetProperty("UNIQ_KEY"))
				}
				q0next, _ = strconv.ParseInt(resp.Ext("nextBeginOffset"), 10, 64)
				if _, err := updateOffset(c, "wire_cg", topic, 0, q0next); err != nil {
					failures.add(err)
					return
				}
			case int16(protocol.PullNotFound):
				if finished {
					return
				}
			default:
				failures.add(fmt.Errorf("consumer pull: %s: %s", protocol.ResponseCode(resp.Code), resp.Remark))
				return
			}
		}
	}()
	go func() {
		defer others.Done()
		c := watcher
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("127.0.0.1@hb%d", i%3)
			if resp, err := c.call(protocol.HeartBeat, nil, heartbeatBody(id, "wire_cg2", topic, "TagA", "TagA")); err != nil || resp.Code != 0 {
				failures.add(fmt.Errorf("heartbeat: %v %v", resp, err))
				return
			}
			if _, err := c.call(protocol.GetConsumerListByGroup, map[string]string{"consumerGroup": "wire_cg2"}, nil); err != nil {
				failures.add(err)
				return
			}
			if _, err := queryOffset(c, "wire_cg", topic, 0); err != nil {
				failures.add(err)
				return
			}
		}
	}()

	// The bad-input barrage runs while all that goes on.
	t.Run("bad requests get an error answer and the connection stays usable", func(t *testing.T) {
		testBadRequests(t, b, topic)
	})
	t.Run("bad frames close the connection", func(t *testing.T) {
		testBadFrames(t, b)
	})

	senders.Wait()
	close(stop)
	others.Wait()
	failures.report(t)
	if t.Failed() {
		t.FailNow()
	}
	if want := 1 + conns*goroutinesPerConn*sendsPerGoroutine + conns*batchesPerConn*5; len(sent) != want {
		t.Fatalf("%d sends acknowledged, want %d", len(sent), want)
	}

	assertStored(t, verifier, topic, queues, sent)
	var wantQ0 []string
	for _, s := range sent {
		if s.queue == 0 {
			wantQ0 = append(wantQ0, s.key)
		}
	}
	slices.Sort(wantQ0)
	slices.Sort(q0)
	if !slices.Equal(q0, wantQ0) {
		t.Errorf("the long-polling consumer got %d messages of queue 0, want %d", len(q0), len(wantQ0))
	}

	b.Restart()
	after := dialWire(t, b.BrokerAddr())
	assertStored(t, after, topic, queues, sent)
	resp, err := queryOffset(after, "wire_cg", topic, 0)
	if err != nil || resp.Code != 0 || resp.Ext("offset") != strconv.FormatInt(q0next, 10) {
		t.Errorf("committed offset after restart: %+v %v, want %d", resp, err, q0next)
	}
	s, err := after.sendOne(topic, 0, "after-restart", "body-after-restart")
	if err != nil {
		t.Fatal(err)
	}
	assertStored(t, after, topic, queues, append(sent, s))
}

// del removes a field in extWith.
const del = "\x00delete"

func extWith(base map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(base))
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == del {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

// testBadRequests sends well-framed requests with bad headers or bodies for
// every request code the broker handles; each must get an error answer
// (never a panic) and leave the connection usable.
func testBadRequests(t *testing.T, b *brokertest.Broker, topic string) {
	const anyError = -1
	send := sendExt(topic, 0, 0, props("UNIQ_KEY", "must-not-be-stored"))
	pull := pullExt("wire_bad", topic, 0, 0, 0)
	offsets := map[string]string{"consumerGroup": "wire_bad", "topic": topic, "queueId": "0", "commitOffset": "1"}
	endTx := map[string]string{"producerGroup": "wire_tpg", "tranStateTableOffset": "0", "commitLogOffset": "0",
		"commitOrRollback": "8", "fromTransactionCheck": "false", "msgId": "x", "transactionId": "x"}
	sendBack := map[string]string{"group": "wire_bad", "offset": "0", "delayLevel": "0", "originMsgId": "x",
		"originTopic": topic, "unitMode": "false", "maxReconsumeTimes": "16"}
	goodBatch := batchItem(nil, []byte("x"), props("UNIQ_KEY", "must-not-be-stored"))
	negBodyLen := slices.Clone(goodBatch)
	binary.BigEndian.PutUint32(negBodyLen[16:], 0xFFFFFFF0)
	msgSizeOK := 4 << 20 // brokertest uses the default max-message-size

	cases := []struct {
		name string
		code protocol.Code
		ext  map[string]string
		body []byte
		want protocol.ResponseCode
	}{
		{"send without header", protocol.SendMessage, nil, []byte("x"), protocol.MessageIllegal},
		{"send without topic", protocol.SendMessage, extWith(send, "topic", del), []byte("x"), protocol.MessageIllegal},
		{"send with empty topic", protocol.SendMessage, extWith(send, "topic", ""), []byte("x"), protocol.MessageIllegal},
		{"send with queueId not a number", protocol.SendMessage, extWith(send, "queueId", "one"), []byte("x"), protocol.MessageIllegal},
		{"send with queueId beyond int32", protocol.SendMessage, extWith(send, "queueId", "4294967296"), []byte("x"), protocol.MessageIllegal},
		{"send with hex sysFlag", protocol.SendMessage, extWith(send, "sysFlag", "0x4"), []byte("x"), protocol.MessageIllegal},
		{"send with bad bornTimestamp", protocol.SendMessage, extWith(send, "bornTimestamp", "yesterday"), []byte("x"), protocol.MessageIllegal},
		{"send with bad batch flag", protocol.SendMessage, extWith(send, "batch", "perhaps"), []byte("x"), protocol.MessageIllegal},
		{"send with bad reconsumeTimes", protocol.SendMessage, extWith(send, "reconsumeTimes", "-"), []byte("x"), protocol.MessageIllegal},
		{"send to a topic with a space", protocol.SendMessage, extWith(send, "topic", "bad topic"), []byte("x"), protocol.MessageIllegal},
		{"send to a path-like topic", protocol.SendMessage, extWith(send, "topic", "../../etc/passwd"), []byte("x"), protocol.MessageIllegal},
		{"send to a 128-byte topic", protocol.SendMessage, extWith(send, "topic", strings.Repeat("t", 128)), []byte("x"), protocol.MessageIllegal},
		{"send to TBW102", protocol.SendMessage, extWith(send, "topic", "TBW102"), []byte("x"), protocol.NoPermission},
		{"send to the half topic", protocol.SendMessage, extWith(send, "topic", "RMQ_SYS_TRANS_HALF_TOPIC"), []byte("x"), protocol.NoPermission},
		{"send to the op topic", protocol.SendMessage, extWith(send, "topic", "RMQ_SYS_TRANS_OP_HALF_TOPIC"), []byte("x"), protocol.NoPermission},
		{"send to the schedule topic", protocol.SendMessage, extWith(send, "topic", "SCHEDULE_TOPIC_XXXX"), []byte("x"), protocol.NoPermission},
		{"send with empty body", protocol.SendMessage, send, nil, protocol.MessageIllegal},
		{"send with oversized properties", protocol.SendMessage, extWith(send, "properties", props("UNIQ_KEY", "x", "big", strings.Repeat("p", 40000))), []byte("x"), protocol.MessageIllegal},
		{"send with body over max-message-size", protocol.SendMessage, send, make([]byte, msgSizeOK+1), protocol.MessageIllegal},
		{"send v2 without topic", protocol.SendMessageV2, map[string]string{"a": "pg", "e": "0"}, []byte("x"), protocol.MessageIllegal},
		{"send v2 with bad queueId", protocol.SendMessageV2, map[string]string{"a": "pg", "b": topic, "e": "x"}, []byte("x"), protocol.MessageIllegal},
		{"batch with empty body", protocol.SendBatchMessage, batchExt(topic, 0), nil, protocol.MessageIllegal},
		{"batch with garbage body", protocol.SendBatchMessage, batchExt(topic, 0), []byte("this is not a batch body at all"), protocol.MessageIllegal},
		{"batch with truncated item", protocol.SendBatchMessage, batchExt(topic, 0), goodBatch[:len(goodBatch)-3], protocol.MessageIllegal},
		{"batch with trailing bytes", protocol.SendBatchMessage, batchExt(topic, 0), append(slices.Clone(goodBatch), 0, 0), protocol.MessageIllegal},
		{"batch with negative body length", protocol.SendBatchMessage, batchExt(topic, 0), negBodyLen, protocol.MessageIllegal},
		{"batch with a delayed member", protocol.SendBatchMessage, batchExt(topic, 0), batchItem(nil, []byte("x"), props("DELAY", "1")), protocol.MessageIllegal},
		{"batch without topic", protocol.SendBatchMessage, extWith(batchExt(topic, 0), "b", del), goodBatch, protocol.MessageIllegal},
		{"pull without group", protocol.PullMessage, extWith(pull, "consumerGroup", del), nil, anyError},
		{"pull with queueId not a number", protocol.PullMessage, extWith(pull, "queueId", "x"), nil, anyError},
		{"pull without queueOffset", protocol.PullMessage, extWith(pull, "queueOffset", del), nil, anyError},
		{"pull from an unknown topic", protocol.PullMessage, extWith(pull, "topic", "NoSuchTopic"), nil, protocol.TopicNotExist},
		{"pull from queue 99", protocol.PullMessage, extWith(pull, "queueId", "99"), nil, anyError},
		{"pull from queue -1", protocol.PullMessage, extWith(pull, "queueId", "-1"), nil, anyError},
		{"pull at a negative offset", protocol.PullMessage, extWith(pull, "queueOffset", "-5"), nil, anyError},
		{"pull with bad maxMsgNums", protocol.PullMessage, extWith(pull, "maxMsgNums", "many"), nil, anyError},
		{"pull with bad suspend", protocol.PullMessage, extWith(pull, "suspendTimeoutMillis", "soon"), nil, anyError},
		{"pull with bad commitOffset", protocol.PullMessage, extWith(pull, "commitOffset", "x"), nil, anyError},
		{"heartbeat without body", protocol.HeartBeat, nil, nil, anyError},
		{"heartbeat with text body", protocol.HeartBeat, nil, []byte("not json"), anyError},
		{"heartbeat without clientID", protocol.HeartBeat, nil, []byte(`{"clientID":""}`), anyError},
		{"heartbeat with numeric clientID", protocol.HeartBeat, nil, []byte(`{"clientID":7}`), anyError},
		{"heartbeat with bad consumer set", protocol.HeartBeat, nil, []byte(`{"clientID":"x","consumerDataSet":"abc"}`), anyError},
		{"heartbeat with a bad group name", protocol.HeartBeat, nil, []byte(`{"clientID":"x","consumerDataSet":[{"groupName":"bad group!"}]}`), anyError},
		{"unregister without clientID", protocol.UnregisterClient, nil, nil, anyError},
		{"consumer list without group", protocol.GetConsumerListByGroup, nil, nil, anyError},
		{"query offset without header", protocol.QueryConsumerOffset, nil, nil, anyError},
		{"query offset with bad queueId", protocol.QueryConsumerOffset, extWith(offsets, "queueId", "x"), nil, anyError},
		{"update offset with bad offset", protocol.UpdateConsumerOffset, extWith(offsets, "commitOffset", "x"), nil, anyError},
		{"update offset without group", protocol.UpdateConsumerOffset, extWith(offsets, "consumerGroup", del), nil, anyError},
		{"search offset without timestamp", protocol.SearchOffsetByTimestamp, extWith(offsets), nil, anyError},
		{"search offset with bad timestamp", protocol.SearchOffsetByTimestamp, extWith(offsets, "timestamp", "now"), nil, anyError},
		{"max offset without queueId", protocol.GetMaxOffset, extWith(offsets, "queueId", del), nil, anyError},
		{"min offset without topic", protocol.GetMinOffset, extWith(offsets, "topic", del), nil, anyError},
		{"earliest store time of an empty queue", protocol.GetEarliestMsgStoretime, extWith(offsets, "topic", "NoSuchTopic"), nil, anyError},
		{"lock without body", protocol.LockBatchMQ, nil, nil, anyError},
		{"lock with array body", protocol.LockBatchMQ, nil, []byte(`[]`), anyError},
		{"lock without clientId", protocol.LockBatchMQ, nil, []byte(`{"consumerGroup":"cg","mqSet":[]}`), anyError},
		{"unlock with garbage", protocol.UnlockBatchMQ, nil, []byte("x"), anyError},
		{"end transaction without header", protocol.EndTransaction, nil, nil, anyError},
		{"end transaction with type 5", protocol.EndTransaction, extWith(endTx, "commitOrRollback", "5"), nil, anyError},
		{"end transaction with type word", protocol.EndTransaction, extWith(endTx, "commitOrRollback", "commit"), nil, anyError},
		{"end transaction with bad table offset", protocol.EndTransaction, extWith(endTx, "tranStateTableOffset", "x"), nil, anyError},
		{"end transaction for no half message", protocol.EndTransaction, extWith(endTx, "commitLogOffset", "123456789"), nil, anyError},
		{"end transaction for a plain message", protocol.EndTransaction, endTx, nil, anyError},
		{"end transaction with bad fromTransactionCheck", protocol.EndTransaction, extWith(endTx, "fromTransactionCheck", "maybe"), nil, anyError},
		{"send back without group", protocol.ConsumerSendMsgBack, extWith(sendBack, "group", del), nil, anyError},
		{"send back with bad offset", protocol.ConsumerSendMsgBack, extWith(sendBack, "offset", "x"), nil, anyError},
		{"send back beyond the log", protocol.ConsumerSendMsgBack, extWith(sendBack, "offset", "123456789"), nil, anyError},
		{"send back inside a record", protocol.ConsumerSendMsgBack, extWith(sendBack, "offset", "3"), nil, anyError},
		{"send back at a negative offset", protocol.ConsumerSendMsgBack, extWith(sendBack, "offset", "-8"), nil, anyError},
		{"send back with bad delayLevel", protocol.ConsumerSendMsgBack, extWith(sendBack, "delayLevel", "x"), nil, anyError},
		{"send back with bad maxReconsumeTimes", protocol.ConsumerSendMsgBack, extWith(sendBack, "maxReconsumeTimes", "x"), nil, anyError},
		{"create topic without name", protocol.UpdateAndCreateTopic, nil, nil, anyError},
		{"create topic with a bad name", protocol.UpdateAndCreateTopic, map[string]string{"topic": "bad topic!"}, nil, anyError},
		{"route without topic", protocol.GetRouteInfoByTopic, nil, nil, anyError},
		{"route for a bad name", protocol.GetRouteInfoByTopic, map[string]string{"topic": "bad topic!"}, nil, protocol.TopicNotExist},
		{"unknown code 9999", protocol.Code(9999), nil, nil, protocol.RequestCodeNotSupported},
		{"unknown code -1", protocol.Code(-1), nil, nil, protocol.RequestCodeNotSupported},
		{"code 0", protocol.Code(0), nil, nil, protocol.RequestCodeNotSupported},
		{"GET_KVLIST_BY_NAMESPACE (not served)", protocol.Code(219), nil, nil, protocol.RequestCodeNotSupported},
		{"QUERY_MESSAGE without topic", protocol.QueryMessage, nil, nil, protocol.SystemError},
		{"CHECK_TRANSACTION_STATE sent to the broker", protocol.CheckTransactionState, nil, nil, protocol.RequestCodeNotSupported},
		{"NOTIFY_CONSUMER_IDS_CHANGED sent to the broker", protocol.NotifyConsumerIDsChanged, nil, nil, protocol.RequestCodeNotSupported},
	}
	c := dialWire(t, b.BrokerAddr())
	for _, tc := range cases {
		resp, err := c.call(tc.code, tc.ext, tc.body)
		if err != nil {
			t.Fatalf("%s: %v (the connection must stay open)", tc.name, err)
		}
		switch {
		case resp.Code == int16(protocol.Success):
			t.Errorf("%s: answered SUCCESS %v", tc.name, resp.ExtFields)
		case tc.want != anyError && resp.Code != int16(tc.want):
			t.Errorf("%s: answered %s (%q), want %s", tc.name, protocol.ResponseCode(resp.Code), resp.Remark, tc.want)
		case resp.Remark == "":
			t.Errorf("%s: answered %s without a remark saying why", tc.name, protocol.ResponseCode(resp.Code))
		}
		// The same connection still serves a good request.
		ping, err := c.call(protocol.GetMaxOffset, map[string]string{"topic": topic, "queueId": "0"}, nil)
		if err != nil || ping.Code != 0 {
			t.Fatalf("after %s: GET_MAX_OFFSET = %+v, %v", tc.name, ping, err)
		}
	}
}

// testBadFrames sends frames the broker cannot decode; each must close
// that connection (and only that one).
func testBadFrames(t *testing.T, b *brokertest.Broker) {
	frame := func(codec byte, header string) []byte {
		f := binary.BigEndian.AppendUint32(nil, uint32(4+len(header)))
		f = binary.BigEndian.AppendUint32(f, uint32(codec)<<24|uint32(len(header)))
		return append(f, header...)
	}
	good := (&remoting.Command{Code: int16(protocol.SendMessage), ExtFields: sendExt("WireT", 0, 0, ""), Body: []byte("x")}).AppendFrame(nil)
	cases := map[string][]byte{
		"oversized frame":               binary.BigEndian.AppendUint32(nil, 1<<30),
		"2 GiB frame":                   {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		"negative length":               {0xff, 0xff, 0xff, 0xf0, 1, 2, 3, 4},
		"http request":                  []byte("GET /api/topics HTTP/1.1\r\nHost: broker\r\n\r\n"),
		"tls client hello":              {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03},
		"unknown codec":                 frame(7, `{"code":10}`),
		"header longer than frame":      {0, 0, 0, 6, 0, 0, 0, 200, '{', '}'},
		"json syntax error":             frame(0, `{"code":10,"opaque":1,`),
		"ext number value":              frame(0, `{"code":10,"opaque":1,"extFields":{"topic":"WireT","queueId":0}}`),
		"ext bool value":                frame(0, `{"code":10,"opaque":1,"extFields":{"topic":"WireT","batch":false}}`),
		"ext object value":              frame(0, `{"code":34,"opaque":1,"extFields":{"a":{"b":"c"}}}`),
		"ext array value":               frame(0, `{"code":11,"opaque":1,"extFields":{"topic":["WireT"]}}`),
		"opaque as string":              frame(0, `{"code":10,"opaque":"1"}`),
		"code out of range":             frame(0, `{"code":70000,"opaque":1}`),
		"truncated binary header":       frame(1, "\x00\x0a\x09"),
		"binary ext length past header": frame(1, "\x00\x0a\x09\x01\x3d\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00"),
	}
	for name, raw := range cases {
		c := dialWire(t, b.BrokerAddr())
		if err := c.writeRaw(raw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !c.closedWithin(5 * time.Second) {
			t.Errorf("%s: the broker kept the connection open", name)
		}
	}
	// A frame cut short, then the client half-closes.
	c := dialWire(t, b.BrokerAddr())
	if err := c.writeRaw(good[:len(good)-5]); err != nil {
		t.Fatal(err)
	}
	if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if !c.closedWithin(5 * time.Second) {
		t.Error("truncated frame then EOF: the broker kept the connection open")
	}
	// The broker still serves new connections.
	if resp := dialWire(t, b.BrokerAddr()).mustCall(t, protocol.GetMaxOffset, map[string]string{"topic": "WireT", "queueId": "0"}, nil); resp.Code != 0 {
		t.Fatalf("after the bad frames: %+v", resp)
	}
}
