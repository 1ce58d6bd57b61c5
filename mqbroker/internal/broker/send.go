package broker

import (
	"errors"
	"strconv"
	"strings"

	"github.com/shopsaga/shopsaga/mqbroker/internal/acl"
	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
	"github.com/shopsaga/shopsaga/mqbroker/internal/store"
)

type storeMessage = message.Message

// sendHeader is SEND_MESSAGE's header; SEND_MESSAGE_V2 and
// SEND_BATCH_MESSAGE carry the same fields under one-letter names.
type sendHeader struct {
	ProducerGroup     string
	Topic             string
	QueueID           int32
	SysFlag           int32
	BornTimestamp     int64
	Flag              int32
	Properties        string
	ReconsumeTimes    int32
	MaxReconsumeTimes int32
	Batch             bool
}

func decodeSendHeader(req *remoting.Command) (sendHeader, error) {
	f := protocol.FieldsOf(req)
	n := func(long, short string) string {
		if protocol.Code(req.Code) == protocol.SendMessage {
			return long
		}
		return short
	}
	h := sendHeader{
		ProducerGroup:     f.OptString(n("producerGroup", "a")),
		Topic:             f.String(n("topic", "b")),
		QueueID:           f.OptInt32(n("queueId", "e"), 0),
		SysFlag:           f.OptInt32(n("sysFlag", "f"), 0),
		BornTimestamp:     f.OptInt64(n("bornTimestamp", "g"), 0),
		Flag:              f.OptInt32(n("flag", "h"), 0),
		Properties:        f.OptString(n("properties", "i")),
		ReconsumeTimes:    f.OptInt32(n("reconsumeTimes", "j"), 0),
		MaxReconsumeTimes: f.OptInt32(n("maxReconsumeTimes", "l"), 16),
		Batch:             f.OptBool(n("batch", "m")) || protocol.Code(req.Code) == protocol.SendBatchMessage,
	}
	return h, f.Err()
}

func (b *Broker) handleSend(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	h, err := decodeSendHeader(req)
	if err != nil {
		return errResponse(req, protocol.MessageIllegal, "%v", err)
	}
	if isSystemTopic(h.Topic) {
		return errResponse(req, protocol.NoPermission, "topic %s is reserved for the broker", h.Topic)
	}
	if b.diskFull.Load() {
		return errResponse(req, protocol.ServiceNotAvailable,
			"disk full: the data dir's file system is above %d%%, not storing new messages (retention frees space; see --max-disk-usage)", store.DiskFullPercent)
	}
	// The topic name is checked when the topic is created (never again per send).
	tc, _, err := b.topics.get(h.Topic, true)
	switch {
	case errors.Is(err, errBadTopic):
		return errResponse(req, protocol.MessageIllegal, "%v", err)
	case err != nil:
		return errResponse(req, protocol.SystemError, "create topic: %v", err)
	}
	if tc.Perm&2 == 0 {
		return errResponse(req, protocol.NoPermission, "topic %s is not writable", h.Topic)
	}
	if h.QueueID < 0 || h.QueueID >= tc.WriteQueues {
		h.QueueID = int32(uint32(h.QueueID) % uint32(tc.WriteQueues))
	}
	if len(req.Body) == 0 {
		return errResponse(req, protocol.MessageIllegal, "message body is empty")
	}
	if len(req.Body) > b.cfg.MaxMessageSize {
		return errResponse(req, protocol.MessageIllegal, "message body %d bytes exceeds max-message-size %d", len(req.Body), b.cfg.MaxMessageSize)
	}
	if len(h.Properties) > message.MaxPropertiesLen {
		return errResponse(req, protocol.MessageIllegal, "properties exceed %d bytes", message.MaxPropertiesLen)
	}
	born := c.Peer()
	base := message.Message{
		Topic: h.Topic, QueueID: h.QueueID, Flag: h.Flag, SysFlag: h.SysFlag,
		BornTimestamp: h.BornTimestamp, BornHost: born, StoreHost: b.storeHost,
		ReconsumeTimes: h.ReconsumeTimes,
	}
	var msgs []*message.Message
	if h.Batch {
		items, err := message.DecodeBatch(req.Body)
		if err != nil {
			return errResponse(req, protocol.MessageIllegal, "batch body: %v", err)
		}
		if len(items) == 0 {
			return errResponse(req, protocol.MessageIllegal, "batch is empty")
		}
		for _, it := range items {
			m := base
			m.Flag, m.Body, m.Properties = it.Flag, it.Body, it.Properties
			if m.Properties[message.PropDelayTimeLevel] != "" || m.Properties[message.PropTransactionPrepared] == "true" {
				return errResponse(req, protocol.MessageIllegal, "batch messages cannot be delayed or transactional")
			}
			msgs = append(msgs, &m)
		}
	} else {
		m := base
		m.Body = req.Body
		m.Properties = message.DecodeProperties(h.Properties)
		msgs = []*message.Message{&m}
	}
	for _, m := range msgs {
		if err := m.Validate(); err != nil {
			return errResponse(req, protocol.MessageIllegal, "%v", err)
		}
		if err := checkPropsRoom(m); err != nil {
			return errResponse(req, protocol.MessageIllegal, "%v", err)
		}
	}

	// What the producer is told: the requested queue; the offsets of the
	// record actually stored (half and scheduled messages are stored in a
	// system topic first, as Apache RocketMQ does).
	replyQueue := h.QueueID
	half := false
	for _, m := range msgs {
		// Only the broker marks messages committed (a commit bit plus a
		// prepared offset is how recovery recognises a decided half) or
		// delivered by the scheduler: clients cannot forge either.
		if t := m.SysFlag & message.SysFlagTransactionMask; t != message.SysFlagTransactionPrepared {
			m.SysFlag &^= message.SysFlagTransactionMask
		}
		delete(m.Properties, propScheduleSrc)
		deleteCarried(m) // retention's marks (retention.go) are the broker's too
	}
	if !h.Batch {
		m := msgs[0]
		switch {
		case m.SysFlag&message.SysFlagTransactionMask == message.SysFlagTransactionPrepared:
			if m.Properties[message.PropProducerGroup] == "" {
				// Without its group no producer could ever be asked about it.
				return errResponse(req, protocol.MessageIllegal, "half message without property %s (producer group)", message.PropProducerGroup)
			}
			// The connection a half message arrives on can be checked back
			// even before its producer heart-beats (see touchProducer).
			b.clients.touchProducer(h.ProducerGroup, c, req.Ext(acl.AccessKeyField), b.clock.Now())
			toHalf(m)
			half = true
		case strings.HasPrefix(m.Topic, retryPrefix) && h.ReconsumeTimes > h.MaxReconsumeTimes && h.MaxReconsumeTimes >= 0:
			// A retry sent as a plain message by a client whose send-back failed.
			m.Topic, m.QueueID = dlqPrefix+strings.TrimPrefix(m.Topic, retryPrefix), 0
			if _, _, err := b.topics.get(m.Topic, true); err != nil {
				return errResponse(req, protocol.SystemError, "create topic: %v", err)
			}
		default:
			if v := m.Properties[message.PropDelayTimeLevel]; v != "" {
				if lvl, err := strconv.Atoi(v); err == nil && lvl > 0 {
					b.toSchedule(m, lvl)
				}
			}
		}
	}
	if half { // a state change: the checkpoint must see the half with its record (state.go)
		b.stateMu.RLock()
	}
	res, err := b.store.Put(msgs...)
	if half {
		if err == nil {
			b.txn.added(msgs[0])
		}
		b.stateMu.RUnlock()
	}
	if err != nil {
		if errors.Is(err, store.ErrMessageTooLarge) {
			return errResponse(req, protocol.MessageIllegal, "%v", err)
		}
		b.log.Error("store put", "topic", h.Topic, "err", err)
		return errResponse(req, protocol.SystemError, "store: %v", err)
	}
	b.metrics.sent(h.Topic, res)
	resp := okResponse(req)
	resp.SetExt("msgId", b.msgIDs(res))
	resp.SetExtInt("queueId", int64(replyQueue))
	resp.SetExtInt("queueOffset", res[0].QueueOffset)
	resp.SetExt("transactionId", msgs[0].UniqKey())
	resp.SetExt("MSG_REGION", "DefaultRegion")
	resp.SetExt("TRACE_ON", "false")
	return resp
}

// msgIDs is the response's msgId field: the stored records' offset
// message ids, comma-separated for a batch.
func (b *Broker) msgIDs(res []store.PutResult) string {
	if len(res) == 1 { // a plain send: no slice, no join
		return message.OffsetMsgID(b.storeHost, res[0].PhysicalOffset)
	}
	ids := make([]string, len(res))
	for i, r := range res {
		ids[i] = message.OffsetMsgID(b.storeHost, r.PhysicalOffset)
	}
	return strings.Join(ids, ",")
}

func isSystemTopic(t string) bool {
	switch t {
	case defaultTopic, delay.ScheduleTopic, halfTopic, opTopic, deadLetterTopic:
		return true
	}
	return false
}

// toHalf turns a prepared transactional message into its half record
// (Java TransactionalMessageBridge.parseHalfMessageInner).
func toHalf(m *message.Message) {
	m.SetProperty(message.PropRealTopic, m.Topic)
	m.SetProperty(message.PropRealQueueID, strconv.Itoa(int(m.QueueID)))
	if k := m.UniqKey(); k != "" {
		m.SetProperty(message.PropTransactionID, k)
	}
	m.SysFlag &^= message.SysFlagTransactionMask
	m.Topic, m.QueueID = halfTopic, 0
}
