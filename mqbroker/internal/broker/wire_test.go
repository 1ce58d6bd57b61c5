// Wire-level tests: a minimal remoting client written here drives the
// broker frame by frame, concurrently and with bad input. They use no
// client library goroutines, so they run under -race too (the official
// client's decoder is used only as a pure function to read PULL bodies).

package broker_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/clock"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// wireTimeout bounds one request/response exchange (generous: -race on two cores).
const wireTimeout = 10 * time.Second

// logWatch records the broker's "handler panic" logs: the remoting server
// turns a handler panic into response code 1, which a test cannot tell from
// an ordinary error answer.
type logWatch struct {
	next slog.Handler // optional: MQBROKER_TEST_LOG=1 still shows the logs

	mu     sync.Mutex // guards panics
	panics []string
}

func (w *logWatch) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || (w.next != nil && w.next.Enabled(ctx, l))
}

func (w *logWatch) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "handler panic" {
		var b strings.Builder
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
		w.mu.Lock()
		w.panics = append(w.panics, b.String())
		w.mu.Unlock()
	}
	if w.next != nil && w.next.Enabled(ctx, r.Level) {
		return w.next.Handle(ctx, r)
	}
	return nil
}

func (w *logWatch) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *logWatch) WithGroup(string) slog.Handler      { return w }

// startWireBroker starts an in-process broker and fails the test if any
// request handler panicked while it ran.
func startWireBroker(t *testing.T, opts ...brokertest.Option) *brokertest.Broker {
	t.Helper()
	w := &logWatch{}
	if os.Getenv("MQBROKER_TEST_LOG") == "1" {
		w.next = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, p := range w.panics {
			t.Errorf("a broker request handler panicked:%s", p)
		}
	})
	return brokertest.Start(t, append([]brokertest.Option{brokertest.WithLogger(slog.New(w))}, opts...)...)
}

// wireClient is a minimal remoting client: requests get increasing opaques
// and responses are matched by opaque, so many goroutines may share one
// connection; requests the broker initiates are queued on pushed.
type wireClient struct {
	nc     net.Conn
	opaque atomic.Int32
	pushed chan *remoting.Command
	done   chan struct{} // closed when the connection is gone

	wmu sync.Mutex // serialises writes

	mu      sync.Mutex // guards pending
	pending map[int32]chan *remoting.Command
}

var errConnClosed = errors.New("connection closed by the broker")

func dialWire(t testing.TB, addr string) *wireClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &wireClient{nc: nc, pushed: make(chan *remoting.Command, 64), done: make(chan struct{}),
		pending: make(map[int32]chan *remoting.Command)}
	go c.readLoop()
	t.Cleanup(c.close)
	return c
}

func (c *wireClient) readLoop() {
	defer close(c.done)
	r := bufio.NewReader(c.nc)
	for {
		cmd, err := remoting.ReadCommand(r, 64<<20)
		if err != nil {
			return
		}
		if !cmd.IsResponse() {
			select {
			case c.pushed <- cmd:
			default: // nobody is looking
			}
			continue
		}
		c.mu.Lock()
		ch := c.pending[cmd.Opaque]
		delete(c.pending, cmd.Opaque)
		c.mu.Unlock()
		if ch != nil {
			ch <- cmd
		}
	}
}

func (c *wireClient) close() { c.nc.Close() }

func (c *wireClient) writeRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(wireTimeout))
	_, err := c.nc.Write(b)
	return err
}

// do sends cmd (setting its opaque) and waits up to timeout for the answer.
func (c *wireClient) do(cmd *remoting.Command, timeout time.Duration) (*remoting.Command, error) {
	cmd.Opaque = c.opaque.Add(1)
	cmd.Language, cmd.Version = "GO", 317
	ch := make(chan *remoting.Command, 1)
	c.mu.Lock()
	c.pending[cmd.Opaque] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, cmd.Opaque)
		c.mu.Unlock()
	}
	if err := c.writeRaw(cmd.AppendFrame(nil)); err != nil {
		forget()
		return nil, fmt.Errorf("%s: write: %w", protocol.Code(cmd.Code), err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case resp := <-ch:
		return resp, nil
	case <-c.done:
		select {
		case resp := <-ch:
			return resp, nil
		default:
		}
		return nil, fmt.Errorf("%s: %w", protocol.Code(cmd.Code), errConnClosed)
	case <-timer.C:
		forget()
		return nil, fmt.Errorf("%s: no response within %v", protocol.Code(cmd.Code), timeout)
	}
}

func (c *wireClient) call(code protocol.Code, ext map[string]string, body []byte) (*remoting.Command, error) {
	return c.do(&remoting.Command{Code: int16(code), ExtFields: ext, Body: body}, wireTimeout)
}

func (c *wireClient) mustCall(t testing.TB, code protocol.Code, ext map[string]string, body []byte) *remoting.Command {
	t.Helper()
	resp, err := c.call(code, ext, body)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// closedWithin reports whether the broker closes the connection within d.
func (c *wireClient) closedWithin(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}

// waitPushed returns the next broker-initiated request with the given code.
func (c *wireClient) waitPushed(t testing.TB, code protocol.Code, d time.Duration) *remoting.Command {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case cmd := <-c.pushed:
			if cmd.Code == int16(code) {
				return cmd
			}
		case <-deadline:
			t.Fatalf("no %s from the broker within %v", code, d)
			return nil
		}
	}
}

// props encodes message properties (PROTOCOL.md §3.3): key 0x01 value 0x02.
func props(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(kv[i])
		b.WriteByte(1)
		b.WriteString(kv[i+1])
		b.WriteByte(2)
	}
	return b.String()
}

// sendExt is SEND_MESSAGE's header as rocketmq-client-go v2.1.2 sends it (PROTOCOL.md §2.2.1).
func sendExt(topic string, queueID, sysFlag int, properties string) map[string]string {
	return map[string]string{
		"producerGroup": "wire_pg", "topic": topic, "queueId": strconv.Itoa(queueID), "sysFlag": strconv.Itoa(sysFlag),
		"bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10), "flag": "0", "reconsumeTimes": "0",
		"unitMode": "false", "maxReconsumeTimes": "0", "batch": "false", "defaultTopic": "TBW102",
		"defaultTopicQueueNums": "4", "properties": properties,
	}
}

// batchExt is SEND_BATCH_MESSAGE's V2 short header (PROTOCOL.md §2.2.2).
func batchExt(topic string, queueID int) map[string]string {
	return map[string]string{"a": "wire_pg", "b": topic, "c": "TBW102", "d": "4", "e": strconv.Itoa(queueID), "f": "0",
		"g": strconv.FormatInt(time.Now().UnixMilli(), 10), "h": "0", "i": "", "j": "0", "k": "false", "l": "0", "m": "true"}
}

// batchItem appends one inner message of a batch body:
// TOTALSIZE | MAGICCODE | BODYCRC | FLAG | BODYLEN | BODY | PROPLEN int16 | PROPERTIES.
func batchItem(dst []byte, body []byte, properties string) []byte {
	be := binary.BigEndian
	dst = be.AppendUint32(dst, uint32(4*5+len(body)+2+len(properties)))
	dst = be.AppendUint32(dst, 0)
	dst = be.AppendUint32(dst, 0)
	dst = be.AppendUint32(dst, 0)
	dst = be.AppendUint32(dst, uint32(len(body)))
	dst = append(dst, body...)
	dst = be.AppendUint16(dst, uint16(len(properties)))
	return append(dst, properties...)
}

// sentMsg is what a SEND response acknowledged.
type sentMsg struct {
	key, body string
	queue     int
	offset    int64
	msgID     string // offset message id
}

func parseSendResponse(resp *remoting.Command, n int) (queue int, offset int64, ids []string, err error) {
	if resp.Code != int16(protocol.Success) {
		return 0, 0, nil, fmt.Errorf("send answered %s: %s", protocol.ResponseCode(resp.Code), resp.Remark)
	}
	queue, err1 := strconv.Atoi(resp.Ext("queueId"))
	offset, err2 := strconv.ParseInt(resp.Ext("queueOffset"), 10, 64)
	ids = strings.Split(resp.Ext("msgId"), ",")
	if err := errors.Join(err1, err2); err != nil || len(ids) != n {
		return 0, 0, nil, fmt.Errorf("send response ext %v: want queueId, queueOffset and %d msgIds", resp.ExtFields, n)
	}
	for _, id := range ids {
		if len(id) != 32 {
			return 0, 0, nil, fmt.Errorf("offset msgId %q: want 32 hex characters", id)
		}
	}
	return queue, offset, ids, nil
}

func (c *wireClient) sendOne(topic string, queue int, key, body string, extraProps ...string) (sentMsg, error) {
	resp, err := c.call(protocol.SendMessage, sendExt(topic, queue, 0, props(append([]string{"UNIQ_KEY", key}, extraProps...)...)), []byte(body))
	if err != nil {
		return sentMsg{}, err
	}
	q, off, ids, err := parseSendResponse(resp, 1)
	if err != nil {
		return sentMsg{}, fmt.Errorf("send %s: %w", key, err)
	}
	return sentMsg{key: key, body: body, queue: q, offset: off, msgID: ids[0]}, nil
}

func (c *wireClient) sendBatch(topic string, queue int, keys []string) ([]sentMsg, error) {
	var body []byte
	for _, k := range keys {
		body = batchItem(body, []byte("batch-"+k), props("UNIQ_KEY", k, "KEYS", k))
	}
	resp, err := c.call(protocol.SendBatchMessage, batchExt(topic, queue), body)
	if err != nil {
		return nil, err
	}
	q, off, ids, err := parseSendResponse(resp, len(keys))
	if err != nil {
		return nil, fmt.Errorf("batch %v: %w", keys, err)
	}
	out := make([]sentMsg, len(keys))
	for i, k := range keys {
		// A batch is stored contiguously in one queue.
		out[i] = sentMsg{key: k, body: "batch-" + k, queue: q, offset: off + int64(i), msgID: ids[i]}
	}
	return out, nil
}

func pullExt(group, topic string, queue int, offset int64, suspend time.Duration) map[string]string {
	sysFlag := 0
	if suspend > 0 {
		sysFlag = 2 // SUSPEND: long polling allowed
	}
	return map[string]string{"consumerGroup": group, "topic": topic, "queueId": strconv.Itoa(queue),
		"queueOffset": strconv.FormatInt(offset, 10), "maxMsgNums": "32", "sysFlag": strconv.Itoa(sysFlag),
		"commitOffset": "0", "suspendTimeoutMillis": strconv.FormatInt(suspend.Milliseconds(), 10),
		"subscription": "*", "subVersion": "0", "expressionType": "TAG"}
}

// pull sends PULL_MESSAGE and decodes a found body with the official
// client's decoder, after checking that the records tile the body exactly.
func (c *wireClient) pull(group, topic string, queue int, offset int64, suspend time.Duration) (*remoting.Command, []*primitive.MessageExt, error) {
	resp, err := c.do(&remoting.Command{Code: int16(protocol.PullMessage), ExtFields: pullExt(group, topic, queue, offset, suspend)}, suspend+wireTimeout)
	if err != nil || resp.Code != int16(protocol.Success) {
		return resp, nil, err
	}
	msgs, err := decodeRecords(resp.Body)
	return resp, msgs, err
}

func decodeRecords(body []byte) ([]*primitive.MessageExt, error) {
	n := 0
	for off := 0; off < len(body); {
		if len(body)-off < 4 {
			return nil, fmt.Errorf("pull body: %d stray bytes at %d", len(body)-off, off)
		}
		size := int(int32(binary.BigEndian.Uint32(body[off:])))
		if size < 91 || size > len(body)-off {
			return nil, fmt.Errorf("pull body: record %d at %d has TOTALSIZE %d with %d bytes left", n, off, size, len(body)-off)
		}
		off += size
		n++
	}
	msgs := primitive.DecodeMessage(body)
	if len(msgs) != n {
		return nil, fmt.Errorf("pull body: client decoded %d records, TOTALSIZE chain has %d", len(msgs), n)
	}
	return msgs, nil
}

// pullList reads every message of the topic's queues, in queue order.
func (c *wireClient) pullList(topic string, queues int) ([]*primitive.MessageExt, error) {
	var out []*primitive.MessageExt
	for q := 0; q < queues; q++ {
		var offset int64
		for {
			resp, msgs, err := c.pull("wire_verifier", topic, q, offset, 0)
			if err != nil {
				return nil, fmt.Errorf("pull %s/%d at %d: %w", topic, q, offset, err)
			}
			if resp.Code == int16(protocol.PullNotFound) {
				break
			}
			if resp.Code != int16(protocol.Success) {
				return nil, fmt.Errorf("pull %s/%d at %d: %s: %s", topic, q, offset, protocol.ResponseCode(resp.Code), resp.Remark)
			}
			for i, m := range msgs {
				if m.Topic != topic || m.Queue.QueueId != q || m.QueueOffset != offset+int64(i) {
					return nil, fmt.Errorf("pull %s/%d at %d: record %d is %s/%d@%d", topic, q, offset, i, m.Topic, m.Queue.QueueId, m.QueueOffset)
				}
			}
			out = append(out, msgs...)
			next, err := strconv.ParseInt(resp.Ext("nextBeginOffset"), 10, 64)
			if err != nil || next != offset+int64(len(msgs)) {
				return nil, fmt.Errorf("pull %s/%d at %d: %d records but nextBeginOffset %q", topic, q, offset, len(msgs), resp.Ext("nextBeginOffset"))
			}
			offset = next
		}
	}
	return out, nil
}

// pullAll reads every message of the topic's queues, keyed by UNIQ_KEY;
// a key stored twice is an error.
func (c *wireClient) pullAll(topic string, queues int) (map[string]*primitive.MessageExt, error) {
	list, err := c.pullList(topic, queues)
	if err != nil {
		return nil, err
	}
	out := map[string]*primitive.MessageExt{}
	for _, m := range list {
		k := m.GetProperty("UNIQ_KEY")
		if out[k] != nil {
			return nil, fmt.Errorf("message %s stored twice (queue %d offset %d and queue %d offset %d)",
				k, out[k].Queue.QueueId, out[k].QueueOffset, m.Queue.QueueId, m.QueueOffset)
		}
		out[k] = m
	}
	return out, nil
}

// assertStored checks that exactly the acknowledged messages are in the
// topic, each where its SEND response said and with its body.
func assertStored(t *testing.T, c *wireClient, topic string, queues int, sent []sentMsg) {
	t.Helper()
	got, err := c.pullAll(topic, queues)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sent {
		m := got[s.key]
		switch {
		case m == nil:
			t.Errorf("acknowledged message %s (queue %d offset %d) cannot be pulled", s.key, s.queue, s.offset)
		case m.Topic != topic || string(m.Body) != s.body || m.Queue.QueueId != s.queue || m.QueueOffset != s.offset || m.OffsetMsgId != s.msgID:
			t.Errorf("message %s: pulled %s/%d@%d id %s body %q; send said %d@%d id %s body %q",
				s.key, m.Topic, m.Queue.QueueId, m.QueueOffset, m.OffsetMsgId, m.Body, s.queue, s.offset, s.msgID, s.body)
		}
	}
	if len(got) != len(sent) {
		t.Errorf("topic %s holds %d messages, %d were acknowledged", topic, len(got), len(sent))
	}
}

func heartbeatBody(clientID, group, topic, subString string, tags ...string) []byte {
	if tags == nil {
		tags = []string{}
	}
	tagsJSON := `[]`
	if len(tags) > 0 {
		tagsJSON = `["` + strings.Join(tags, `","`) + `"]`
	}
	return []byte(`{"clientID":"` + clientID + `","producerDataSet":[{"groupName":"wire_pg"}],"consumerDataSet":[{"groupName":"` + group +
		`","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","unitMode":false,` +
		`"subscriptionDataSet":[{"classFilterMode":false,"topic":"` + topic + `","subString":"` + subString + `","tagsSet":` + tagsJSON +
		`,"codeSet":[],"subVersion":1,"expressionType":"TAG"}]}]}`)
}

func consumerIDs(t testing.TB, c *wireClient, group string) []string {
	t.Helper()
	resp := c.mustCall(t, protocol.GetConsumerListByGroup, map[string]string{"consumerGroup": group}, nil)
	var ids []string
	body := strings.TrimSuffix(strings.TrimPrefix(string(resp.Body), `{"consumerIdList":[`), `]}`)
	for _, s := range strings.Split(body, ",") {
		if s = strings.Trim(s, `"`); s != "" {
			ids = append(ids, s)
		}
	}
	return ids
}

func queryOffset(c *wireClient, group, topic string, queue int) (*remoting.Command, error) {
	return c.call(protocol.QueryConsumerOffset, map[string]string{"consumerGroup": group, "topic": topic, "queueId": strconv.Itoa(queue)}, nil)
}

func updateOffset(c *wireClient, group, topic string, queue int, off int64) (*remoting.Command, error) {
	return c.call(protocol.UpdateConsumerOffset, map[string]string{"consumerGroup": group, "topic": topic,
		"queueId": strconv.Itoa(queue), "commitOffset": strconv.FormatInt(off, 10)}, nil)
}

// errs collects errors from goroutines.
type errs struct {
	mu   sync.Mutex
	list []error
}

func (e *errs) add(err error) {
	if err != nil {
		e.mu.Lock()
		e.list = append(e.list, err)
		e.mu.Unlock()
	}
}

func (e *errs) report(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, err := range e.list {
		if i == 10 {
			t.Errorf("... and %d more", len(e.list)-10)
			break
		}
		t.Error(err)
	}
}

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
		{"QUERY_MESSAGE (not served)", protocol.QueryMessage, nil, nil, protocol.RequestCodeNotSupported},
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

func TestWire_longPollingPull_returnsAsSoonAsAMessageIsStored(t *testing.T) {
	b := startWireBroker(t)
	const topic = "WirePoll"
	c := dialWire(t, b.BrokerAddr())
	if _, err := c.sendOne(topic, 1, "seed", "seed"); err != nil {
		t.Fatal(err)
	}

	// With nothing new, a pull is held for its suspend time, then answered PULL_NOT_FOUND.
	start := time.Now()
	resp, _, err := c.pull("wire_cg", topic, 1, 1, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if held := time.Since(start); resp.Code != int16(protocol.PullNotFound) || resp.Ext("nextBeginOffset") != "1" || held < 250*time.Millisecond {
		t.Fatalf("pull at the end of the queue: %s next=%s after %v; want PULL_NOT_FOUND next=1 after ~300ms",
			protocol.ResponseCode(resp.Code), resp.Ext("nextBeginOffset"), held)
	}

	// A long poll (20 s, capped by the broker at 15 s) on every queue: each
	// returns as soon as its queue gets a message, well before the cap.
	type result struct {
		resp *remoting.Command
		msgs []*primitive.MessageExt
		err  error
		took time.Duration
	}
	const suspend = 20 * time.Second
	results := make([]chan result, 4)
	for q := range 4 {
		results[q] = make(chan result, 1)
		offset := int64(0)
		if q == 1 {
			offset = 1
		}
		go func() {
			start := time.Now()
			resp, msgs, err := c.pull("wire_cg", topic, q, offset, suspend)
			results[q] <- result{resp, msgs, err, time.Since(start)}
		}()
	}
	select {
	case r := <-results[2]:
		t.Fatalf("pull on an empty queue returned at once: %+v %v", r.resp, r.err)
	case <-time.After(200 * time.Millisecond):
	}
	producer := dialWire(t, b.BrokerAddr())
	for _, q := range []int{2, 0, 3, 1} {
		sentAt := time.Now()
		key := fmt.Sprintf("wake-%d", q)
		if _, err := producer.sendOne(topic, q, key, key); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-results[q]:
			if r.err != nil || r.resp.Code != 0 || len(r.msgs) != 1 || r.msgs[0].GetProperty("UNIQ_KEY") != key {
				t.Fatalf("queue %d: long poll answered %+v %d messages %v", q, r.resp, len(r.msgs), r.err)
			}
			if wait := time.Since(sentAt); wait > 3*time.Second {
				t.Fatalf("queue %d: long poll returned %v after the send", q, wait)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("queue %d: long poll still held 5s after a message was stored (suspend %v)", q, suspend)
		}
	}
}

func TestWire_heartbeat_registersConsumers_andClosingTheConnectionDropsThem(t *testing.T) {
	b := startWireBroker(t)
	const topic, group = "WireHB", "wire_cg"
	admin := dialWire(t, b.BrokerAddr())
	if _, err := admin.sendOne(topic, 0, "a", "tagA", "TAGS", "TagA"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.sendOne(topic, 0, "b", "tagB", "TAGS", "TagB"); err != nil {
		t.Fatal(err)
	}
	c1, c2 := dialWire(t, b.BrokerAddr()), dialWire(t, b.BrokerAddr())
	if resp := c1.mustCall(t, protocol.HeartBeat, nil, heartbeatBody("127.0.0.1@c1", group, topic, "TagA", "TagA")); resp.Code != 0 {
		t.Fatalf("heartbeat: %+v", resp)
	}
	if ids := consumerIDs(t, admin, group); !slices.Equal(ids, []string{"127.0.0.1@c1"}) {
		t.Fatalf("members %v, want [c1]", ids)
	}
	// The %RETRY% topic of the group exists once it heart-beats.
	if resp := admin.mustCall(t, protocol.GetRouteInfoByTopic, map[string]string{"topic": "%RETRY%" + group}, nil); resp.Code != 0 {
		t.Fatalf("route of the retry topic: %s %s", protocol.ResponseCode(resp.Code), resp.Remark)
	}
	// The heartbeat's subscription filters pulls that carry none (push consumers).
	resp, msgs, err := c1.pull(group, topic, 0, 0, 0)
	if err != nil || resp.Code != 0 || len(msgs) != 1 || msgs[0].GetTags() != "TagA" {
		t.Fatalf("filtered pull: %+v %d messages %v", resp, len(msgs), err)
	}

	if resp := c2.mustCall(t, protocol.HeartBeat, nil, heartbeatBody("127.0.0.1@c2", group, topic, "TagA", "TagA")); resp.Code != 0 {
		t.Fatalf("heartbeat: %+v", resp)
	}
	if n := c1.waitPushed(t, protocol.NotifyConsumerIDsChanged, 5*time.Second); n.Ext("consumerGroup") != group {
		t.Fatalf("notify for group %q", n.Ext("consumerGroup"))
	}
	if ids := consumerIDs(t, admin, group); !slices.Equal(ids, []string{"127.0.0.1@c1", "127.0.0.1@c2"}) {
		t.Fatalf("members %v, want [c1 c2]", ids)
	}

	c2.close()
	c1.waitPushed(t, protocol.NotifyConsumerIDsChanged, 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for ids := consumerIDs(t, admin, group); !slices.Equal(ids, []string{"127.0.0.1@c1"}); ids = consumerIDs(t, admin, group) {
		if time.Now().After(deadline) {
			t.Fatalf("members %v 5s after c2's connection closed, want [c1]", ids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c1.close()
	deadline = time.Now().Add(5 * time.Second)
	for ids := consumerIDs(t, admin, group); len(ids) != 0; ids = consumerIDs(t, admin, group) {
		if time.Now().After(deadline) {
			t.Fatalf("members %v 5s after every connection closed", ids)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWire_consumerOffsets_updateQueryAndSurviveRestart(t *testing.T) {
	b := startWireBroker(t)
	const topic, group = "WireOff", "wire_cg"
	c := dialWire(t, b.BrokerAddr())
	if resp, err := queryOffset(c, group, topic, 0); err != nil || resp.Code != int16(protocol.QueryNotFound) {
		t.Fatalf("offset of a new group: %+v %v, want QUERY_NOT_FOUND", resp, err)
	}
	var wg sync.WaitGroup
	var failures errs
	for q := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := int64(1); off <= 50; off++ {
				resp, err := updateOffset(c, group, topic, q, off*int64(q+1))
				if err == nil && resp.Code != 0 {
					err = fmt.Errorf("update queue %d: %s", q, resp.Remark)
				}
				failures.add(err)
				if _, err := queryOffset(c, group, topic, q); err != nil {
					failures.add(err)
				}
			}
			// The client's "unknown" (-1) never overwrites a real offset.
			_, err := updateOffset(c, group, topic, q, -1)
			failures.add(err)
		}()
	}
	wg.Wait()
	failures.report(t)
	check := func(c *wireClient) {
		t.Helper()
		for q := range 8 {
			resp, err := queryOffset(c, group, topic, q)
			if want := strconv.Itoa(50 * (q + 1)); err != nil || resp.Code != 0 || resp.Ext("offset") != want {
				t.Errorf("queue %d: %+v %v, want offset %s", q, resp, err, want)
			}
		}
	}
	check(c)
	b.Restart()
	check(dialWire(t, b.BrokerAddr()))
}

// halfMessage sends a prepared transactional message (PROTOCOL.md §2.3.1).
func halfMessage(t *testing.T, c *wireClient, topic, group, key string) (phys, queueOffset int64) {
	t.Helper()
	ext := extWith(sendExt(topic, 1, 4, props("UNIQ_KEY", key, "TRAN_MSG", "true", "PGROUP", group)), "producerGroup", group)
	resp := c.mustCall(t, protocol.SendMessage, ext, []byte("body-"+key))
	_, off, ids, err := parseSendResponse(resp, 1)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Ext("transactionId") != key {
		t.Fatalf("half %s: transactionId %q", key, resp.Ext("transactionId"))
	}
	phys, err = strconv.ParseInt(ids[0][16:], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return phys, off
}

func endTransaction(c *wireClient, group string, phys, queueOffset int64, typ int, fromCheck bool, key string) (*remoting.Command, error) {
	return c.call(protocol.EndTransaction, map[string]string{"producerGroup": group,
		"tranStateTableOffset": strconv.FormatInt(queueOffset, 10), "commitLogOffset": strconv.FormatInt(phys, 10),
		"commitOrRollback": strconv.Itoa(typ), "fromTransactionCheck": strconv.FormatBool(fromCheck), "msgId": key, "transactionId": key}, nil)
}

func TestWire_endTransaction_commitsRollsBackAndAnswersCheckBacks(t *testing.T) {
	b := startWireBroker(t, brokertest.WithTxTimeout(200*time.Millisecond), brokertest.WithTxCheckInterval(200*time.Millisecond))
	const topic, group = "WireTx", "wire_tpg"
	p := dialWire(t, b.BrokerAddr())
	if resp := p.mustCall(t, protocol.HeartBeat, nil, []byte(`{"clientID":"127.0.0.1@tx","producerDataSet":[{"groupName":"`+group+`"}],"consumerDataSet":[]}`)); resp.Code != 0 {
		t.Fatalf("heartbeat: %+v", resp)
	}
	commitPhys, commitOff := halfMessage(t, p, topic, group, "tx-commit")
	rollbackPhys, rollbackOff := halfMessage(t, p, topic, group, "tx-rollback")
	unknownPhys, unknownOff := halfMessage(t, p, topic, group, "tx-unknown")

	// Nothing is visible before a decision.
	if got, err := p.pullAll(topic, 4); err != nil || len(got) != 0 {
		t.Fatalf("before any decision the topic holds %d messages (%v)", len(got), err)
	}
	for _, d := range []struct {
		phys, off int64
		typ       int
		key       string
	}{{commitPhys, commitOff, 8, "tx-commit"}, {rollbackPhys, rollbackOff, 12, "tx-rollback"}, {unknownPhys, unknownOff, 0, "tx-unknown"}} {
		if resp, err := endTransaction(p, group, d.phys, d.off, d.typ, false, d.key); err != nil || resp.Code != 0 {
			t.Fatalf("end transaction %s: %+v %v", d.key, resp, err)
		}
	}
	// A second decision, another group's decision or a wrong table offset is refused.
	for name, args := range map[string]struct {
		group     string
		phys, off int64
	}{"twice": {group, commitPhys, commitOff}, "other group": {"other_tpg", unknownPhys, unknownOff}, "wrong table offset": {group, unknownPhys, unknownOff + 7}} {
		if resp, err := endTransaction(p, args.group, args.phys, args.off, 8, false, "x"); err != nil || resp.Code == 0 || resp.Remark == "" {
			t.Errorf("end transaction %s: %+v %v, want an error answer", name, resp, err)
		}
	}

	// The undecided one is checked back on the producer's connection (a
	// check of a half decided meanwhile may come first on a slow machine).
	var check *remoting.Command
	deadline := time.Now().Add(10 * time.Second)
	for check == nil || check.Ext("commitLogOffset") != strconv.FormatInt(unknownPhys, 10) {
		check = p.waitPushed(t, protocol.CheckTransactionState, time.Until(deadline))
	}
	if check.Ext("tranStateTableOffset") != strconv.FormatInt(unknownOff, 10) || check.Ext("msgId") != "tx-unknown" {
		t.Fatalf("check-back header %v, want the unknown half at %d/%d", check.ExtFields, unknownPhys, unknownOff)
	}
	msgs, err := decodeRecords(check.Body)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("check-back body: %d messages, %v", len(msgs), err)
	}
	if m := msgs[0]; m.Topic != topic || m.GetProperty("UNIQ_KEY") != "tx-unknown" || m.GetProperty("__transactionId__") != "tx-unknown" ||
		m.GetProperty("PGROUP") != group || string(m.Body) != "body-tx-unknown" {
		t.Fatalf("check-back message topic=%s props=%v body=%q", m.Topic, m.GetProperties(), m.Body)
	}
	if resp, err := endTransaction(p, group, unknownPhys, unknownOff, 8, true, "tx-unknown"); err != nil || resp.Code != 0 {
		t.Fatalf("answer to the check: %+v %v", resp, err)
	}

	got, err := p.pullAll(topic, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["tx-commit"] == nil || got["tx-unknown"] == nil {
		t.Fatalf("after the decisions the topic holds %v, want tx-commit and tx-unknown", slices.Sorted(maps.Keys(got)))
	}
	for k, m := range got {
		if m.SysFlag&0xC != 8 || m.Queue.QueueId != 1 || m.GetProperty("TRAN_MSG") != "" || m.GetProperty("REAL_TOPIC") != "" {
			t.Errorf("committed %s: sysFlag %#x queue %d props %v", k, m.SysFlag, m.Queue.QueueId, m.GetProperties())
		}
	}
	b.Restart()
	after := dialWire(t, b.BrokerAddr())
	if resp, err := endTransaction(after, group, rollbackPhys, rollbackOff, 8, false, "tx-rollback"); err != nil || resp.Code == 0 {
		t.Fatalf("committing a rolled-back half after a restart: %+v %v, want an error answer", resp, err)
	}
	if got, err := after.pullAll(topic, 4); err != nil || len(got) != 2 {
		t.Fatalf("after restart the topic holds %d messages (%v), want 2", len(got), err)
	}
}

func TestWire_consumerSendMsgBack_retriesWithDelayThenDeadLetters(t *testing.T) {
	b := startWireBroker(t, brokertest.WithDelayLevels(strings.TrimSpace(strings.Repeat("100ms ", 18))))
	const topic, group = "WireRetry", "wire_cg"
	c := dialWire(t, b.BrokerAddr())
	if _, err := c.sendOne(topic, 0, "fail-me", "body-fail-me"); err != nil {
		t.Fatal(err)
	}
	_, msgs, err := c.pull(group, topic, 0, 0, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("pull: %d messages %v", len(msgs), err)
	}
	back := func(m *primitive.MessageExt, maxTimes int) {
		t.Helper()
		resp := c.mustCall(t, protocol.ConsumerSendMsgBack, map[string]string{"group": group,
			"offset": strconv.FormatInt(m.CommitLogOffset, 10), "delayLevel": "0", "originMsgId": m.MsgId,
			"originTopic": topic, "unitMode": "false", "maxReconsumeTimes": strconv.Itoa(maxTimes)}, nil)
		if resp.Code != 0 {
			t.Fatalf("send back: %s %s", protocol.ResponseCode(resp.Code), resp.Remark)
		}
	}
	back(msgs[0], 1)
	// The copy reappears in %RETRY%<group> after its delay: a long poll waits for it.
	resp, retried, err := c.pull(group, "%RETRY%"+group, 0, 0, 5*time.Second)
	if err != nil || resp.Code != 0 || len(retried) != 1 {
		t.Fatalf("retry topic: %+v %d messages %v", resp, len(retried), err)
	}
	r := retried[0]
	if string(r.Body) != "body-fail-me" || r.ReconsumeTimes != 1 || r.GetProperty("RETRY_TOPIC") != topic ||
		r.GetProperty("UNIQ_KEY") != "fail-me" || r.GetProperty("ORIGIN_MESSAGE_ID") != "fail-me" {
		t.Fatalf("retry copy: body %q reconsume %d props %v", r.Body, r.ReconsumeTimes, r.GetProperties())
	}
	// Failing again with maxReconsumeTimes 1: dead-lettered at once.
	back(r, 1)
	resp, dead, err := c.pull(group, "%DLQ%"+group, 0, 0, 5*time.Second)
	if err != nil || resp.Code != 0 || len(dead) != 1 {
		t.Fatalf("DLQ: %+v %d messages %v", resp, len(dead), err)
	}
	if d := dead[0]; string(d.Body) != "body-fail-me" || d.ReconsumeTimes != 2 || d.GetProperty("UNIQ_KEY") != "fail-me" {
		t.Fatalf("dead letter: body %q reconsume %d props %v", d.Body, d.ReconsumeTimes, d.GetProperties())
	}
}

// A property that the broker uses internally to record the scheduler's
// progress (schedule.go propScheduleSrc) must not be settable by a client:
// recovery trusts it, so a forged value would make a restarted broker skip
// (lose) scheduled messages.
func TestWire_clientCannotForgeSchedulerProgress_delayedMessageSurvivesRestart(t *testing.T) {
	fake := clock.NewFake(time.Now())
	b := startWireBroker(t, brokertest.WithClock(fake), brokertest.WithDelayLevels("10s 20s"))
	c := dialWire(t, b.BrokerAddr())
	// A plain message carrying the internal property with a forged position.
	if resp := c.mustCall(t, protocol.SendMessage, sendExt("WireForge", 0, 0, props("UNIQ_KEY", "forged", "__SCHEDULE_SRC", "1:1000")), []byte("x")); resp.Code != 0 &&
		resp.Code != int16(protocol.MessageIllegal) {
		t.Fatalf("forged send: %s %s", protocol.ResponseCode(resp.Code), resp.Remark)
	}
	if _, err := c.sendOne("WireDelayed", 0, "delayed", "body-delayed", "DELAY", "1"); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	fake.Advance(11 * time.Second)
	c = dialWire(t, b.BrokerAddr())
	resp, msgs, err := c.pull("wire_cg", "WireDelayed", 0, 0, 5*time.Second)
	if err != nil || resp.Code != 0 || len(msgs) != 1 || msgs[0].GetProperty("UNIQ_KEY") != "delayed" {
		t.Fatalf("delayed message after restart: %v %d messages %v (a client-set __SCHEDULE_SRC advanced the scheduler past it)",
			resp, len(msgs), err)
	}
}

func TestWire_concurrentDecisionsOnOneHalf_exactlyOneWins(t *testing.T) {
	b := startWireBroker(t)
	const topic, group, halves = "WireTxRace", "wire_tpg", 12
	p := dialWire(t, b.BrokerAddr())
	type half struct{ phys, off int64 }
	hs := make([]half, halves)
	for i := range hs {
		hs[i].phys, hs[i].off = halfMessage(t, p, topic, group, fmt.Sprintf("race-%d", i))
	}
	won := make([][]int, halves) // the decision types answered SUCCESS, per half
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failures errs
	conns := []*wireClient{dialWire(t, b.BrokerAddr()), dialWire(t, b.BrokerAddr()), dialWire(t, b.BrokerAddr()), dialWire(t, b.BrokerAddr())}
	for i, h := range hs {
		for j, typ := range []int{8, 12, 8, 12} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := conns[j]
				resp, err := endTransaction(c, group, h.phys, h.off, typ, false, fmt.Sprintf("race-%d", i))
				failures.add(err)
				if err == nil && resp.Code == 0 {
					mu.Lock()
					won[i] = append(won[i], typ)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	failures.report(t)
	got, err := p.pullAll(topic, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range won {
		key := fmt.Sprintf("race-%d", i)
		if len(w) != 1 {
			t.Errorf("half %s: %d decisions accepted %v, want exactly 1", key, len(w), w)
			continue
		}
		if committed := got[key] != nil; committed != (w[0] == 8) {
			t.Errorf("half %s: the accepted decision was %d but the topic holds it: %v", key, w[0], committed)
		}
	}
}

// A half message names its producer group in PGROUP; without it no
// END_TRANSACTION can match it (the header's producerGroup is required) and
// no producer can be checked, so it would stay undecided forever.
func TestWire_halfMessageWithoutProducerGroup_isRefused(t *testing.T) {
	b := startWireBroker(t)
	c := dialWire(t, b.BrokerAddr())
	resp := c.mustCall(t, protocol.SendMessage, sendExt("WireTxNoGroup", 0, 4, props("UNIQ_KEY", "no-group", "TRAN_MSG", "true")), []byte("x"))
	if resp.Code == 0 {
		t.Fatalf("a half message without PGROUP was accepted (msgId %s): it can never be committed, rolled back or checked", resp.Ext("msgId"))
	}
}

// A consumer that stops reading its socket must not hold up anyone else:
// the broker notifies a group's members when its membership changes, and
// that notification must not make another member's HEART_BEAT wait (the
// client gives up on a heartbeat after 3 s).
func TestWire_heartbeatIsAnsweredPromptly_whileAnotherGroupMemberStopsReading(t *testing.T) {
	b := startWireBroker(t)
	const topic, group = "WireSlow", "wire_slow_cg"
	c := dialWire(t, b.BrokerAddr())
	if _, err := c.sendOne(topic, 0, "big", strings.Repeat("x", 1<<20)); err != nil {
		t.Fatal(err)
	}
	// The slow member: registers, then asks for far more than the socket
	// buffers hold and never reads again.
	slow, err := net.DialTimeout("tcp", b.BrokerAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	hb := &remoting.Command{Code: int16(protocol.HeartBeat), Version: 317, Opaque: 1, Body: heartbeatBody("127.0.0.1@slow", group, topic, "*")}
	if _, err := slow.Write(hb.AppendFrame(nil)); err != nil {
		t.Fatal(err)
	}
	_ = slow.SetReadDeadline(time.Now().Add(wireTimeout))
	r := bufio.NewReader(slow)
	for {
		resp, err := remoting.ReadCommand(r, 64<<20)
		if err != nil {
			t.Fatalf("slow member's heartbeat: %v", err)
		}
		if resp.IsResponse() {
			if resp.Code != 0 {
				t.Fatalf("slow member's heartbeat: %+v", resp)
			}
			break
		}
	}
	var pulls []byte
	for i := range 64 {
		pulls = (&remoting.Command{Code: int16(protocol.PullMessage), Version: 317, Opaque: int32(2 + i),
			ExtFields: pullExt(group, topic, 0, 0, 0)}).AppendFrame(pulls)
	}
	if _, err := slow.Write(pulls); err != nil {
		t.Fatal(err)
	}
	// Read one answer (so the pulls are being served), then never again:
	// the other 63 MiB fill the socket buffers.
	for {
		resp, err := remoting.ReadCommand(r, 64<<20)
		if err != nil {
			t.Fatalf("slow member's first pull: %v", err)
		}
		if resp.IsResponse() {
			break
		}
	}
	// Members join (each join notifies the slow member) and leave, for a
	// while: the buffers fill within milliseconds, there is no event to
	// wait for, so this samples a time window.
	for i, end := 0, time.Now().Add(1500*time.Millisecond); time.Now().Before(end); i++ {
		member := dialWire(t, b.BrokerAddr())
		start := time.Now()
		resp, err := member.do(&remoting.Command{Code: int16(protocol.HeartBeat),
			Body: heartbeatBody(fmt.Sprintf("127.0.0.1@m%d", i), group, topic, "*")}, 5*time.Second)
		if err != nil || resp.Code != 0 {
			t.Fatalf("member %d's heartbeat while another member is not reading: %v %v", i, resp, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("member %d's heartbeat took %v (the client's timeout is 3s)", i, took)
		}
		member.close()
		time.Sleep(20 * time.Millisecond)
	}
}
