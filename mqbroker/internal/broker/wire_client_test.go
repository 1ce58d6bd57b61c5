// The raw remoting client and helpers of the wire-level tests (wire_test.go,
// wire_badinput_test.go).

package broker_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
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
