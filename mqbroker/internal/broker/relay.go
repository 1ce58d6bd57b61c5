package broker

// relay.go: requests mqadmin asks the broker to pass on to one consumer
// (Apache RocketMQ's AdminBrokerProcessor#callConsumer and
// Broker2Client#callClient): GET_CONSUMER_RUNNING_INFO (mqadmin
// consumerStatus, consumerProgress -s) and CONSUME_MESSAGE_DIRECTLY
// (mqadmin consumeMessage). The broker finds the connection of the
// consumer's clientId in the group, sends it the request with the same
// ext fields and body, waits up to Config.RelayTimeout for its answer and
// returns that answer (code, remark, ext fields, body) as its own. A
// consumer that is not registered, or whose connection closes before it
// answers, gets SYSTEM_ERROR; one that does not answer in time,
// CONSUME_MSG_TIMEOUT (207) — Apache's codes and remarks.

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/acl"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// Errors of callClient.
var (
	errRelayTimeout = errors.New("broker: client did not answer in time")
	errRelayGone    = errors.New("broker: client connection closed")
)

// relayKey names one relayed request: its connection and the opaque the
// broker gave it (opaques are per connection).
type relayKey struct {
	conn   uint64
	opaque int32
}

// relayTable matches clients' answers to the requests relayed to them. The
// zero value is ready to use.
type relayTable struct {
	mu      sync.Mutex // guards pending
	pending map[relayKey]chan *remoting.Command
}

func (t *relayTable) add(k relayKey) chan *remoting.Command {
	ch := make(chan *remoting.Command, 1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == nil {
		t.pending = make(map[relayKey]chan *remoting.Command)
	}
	t.pending[k] = ch
	return ch
}

// take removes and returns the waiter of k (nil: none).
func (t *relayTable) take(k relayKey) chan *remoting.Command {
	t.mu.Lock()
	defer t.mu.Unlock()
	ch := t.pending[k]
	delete(t.pending, k)
	return ch
}

// ServeResponse hands a client's answer to the relayed request waiting for
// it (remoting.ResponseObserver); answers nobody waits for (late ones, or
// to oneway requests) are dropped.
func (b *Broker) ServeResponse(c *remoting.Conn, resp *remoting.Command) {
	if ch := b.relays.take(relayKey{c.ID(), resp.Opaque}); ch != nil {
		ch <- resp // buffered, one answer per waiter
	}
}

// callClient sends a request to a client's connection and waits for its
// answer (Broker2Client#callClient).
func (b *Broker) callClient(c *remoting.Conn, code protocol.Code, ext map[string]string, body []byte) (*remoting.Command, error) {
	k := relayKey{c.ID(), c.NextOpaque()}
	ch := b.relays.add(k)
	if err := c.SendRequest(k.opaque, int16(code), ext, body); err != nil {
		b.relays.take(k)
		return nil, fmt.Errorf("%w: %v", errRelayGone, err)
	}
	timer := time.NewTimer(b.cfg.RelayTimeout)
	defer timer.Stop()
	select {
	case resp := <-ch:
		return resp, nil
	case <-c.Context().Done():
		b.relays.take(k)
		return nil, errRelayGone
	case <-b.stop:
		b.relays.take(k)
		return nil, errRelayGone
	case <-timer.C:
		b.relays.take(k)
		return nil, fmt.Errorf("%w: waited %v", errRelayTimeout, b.cfg.RelayTimeout)
	}
}

// callConsumer relays req to the consumer clientId of group and returns
// its answer as the response to req (AdminBrokerProcessor#callConsumer).
func (b *Broker) callConsumer(req *remoting.Command, code protocol.Code, group, clientID string, body []byte) *remoting.Command {
	conn, ok := b.clients.consumerConn(group, clientID)
	if !ok {
		return errResponse(req, protocol.SystemError, "The Consumer <%s> <%s> not online", group, clientID)
	}
	ext := make(map[string]string, len(req.ExtFields)+1)
	for k, v := range req.ExtFields {
		ext[k] = v
	}
	if code == protocol.ConsumeMessageDirectly {
		ext["brokerName"] = b.cfg.BrokerName // as Apache sets it
	}
	resp, err := b.callClient(conn, code, ext, body)
	switch {
	case errors.Is(err, errRelayTimeout):
		return errResponse(req, protocol.ConsumeMsgTimeout, "consumer <%s> <%s> Timeout: %v", group, clientID, err)
	case err != nil:
		return errResponse(req, protocol.SystemError, "invoke consumer <%s> <%s> Exception: %v", group, clientID, err)
	}
	out := remoting.NewResponse(req, resp.Code, resp.Remark)
	out.ExtFields, out.Body = resp.ExtFields, resp.Body
	return out
}

// handleConsumerRunningInfo serves GET_CONSUMER_RUNNING_INFO (307): the
// consumer's ConsumerRunningInfo, as the client answers it.
func (b *Broker) handleConsumerRunningInfo(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	group, clientID := f.String("consumerGroup"), f.String("clientId")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	return b.callConsumer(req, protocol.GetConsumerRunningInfo, group, clientID, req.Body)
}

// handleConsumeMessageDirectly serves CONSUME_MESSAGE_DIRECTLY (309): the
// message of offset message id msgId is handed to the consumer's listener
// (the consumer's offsets do not move) and its ConsumeMessageDirectlyResult
// returned. With ACL on the caller needs SUB on the message's topic, as for
// VIEW_MESSAGE_BY_ID.
func (b *Broker) handleConsumeMessageDirectly(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	group, clientID, msgID := f.String("consumerGroup"), f.String("clientId"), f.String("msgId")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	_, off, err := message.ParseOffsetMsgID(msgID)
	if err != nil {
		return errResponse(req, protocol.SystemError, "msgId %q: %v", msgID, err)
	}
	m, err := b.store.Read(off)
	if err != nil {
		return errResponse(req, protocol.SystemError, "can not find message by the offset, %d", off)
	}
	if resp := b.permitResolved(c, req, acl.Resource{Name: visibleTopic(m), Perm: acl.Sub}); resp != nil {
		return resp
	}
	return b.callConsumer(req, protocol.ConsumeMessageDirectly, group, clientID, m.Encode())
}
