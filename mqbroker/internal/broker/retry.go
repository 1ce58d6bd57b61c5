package broker

import (
	"strconv"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// defaultMaxReconsumeTimes applies when a send-back names no maximum.
const defaultMaxReconsumeTimes = 16

// handleSendBack serves CONSUMER_SEND_MSG_BACK: a consumer failed a message,
// so a copy goes to %RETRY%<group> through the scheduler (delay level
// 3 + reconsumeTimes unless the client asks for another), or to
// %DLQ%<group> once it has been reconsumed the group's maximum number of
// times (Java AbstractSendMessageProcessor.consumerSendMsgBack).
//
// rocketmq-client-go v2.1.2 ignores this response's code and treats the
// message as handled whenever an answer arrives, so an error answer would
// lose the message: when the broker cannot store the copy it closes the
// connection instead, and the client re-runs the listener.
func (b *Broker) handleSendBack(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	group := f.String("group")
	phys := f.Int64("offset")
	delayLevel := f.OptInt32("delayLevel", 0)
	originMsgID := f.OptString("originMsgId")
	maxTimes := f.OptInt32("maxReconsumeTimes", defaultMaxReconsumeTimes)
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	if maxTimes < 0 {
		maxTimes = defaultMaxReconsumeTimes
	}
	orig, err := b.store.Read(phys)
	if err != nil {
		// A bad offset is the client's input, not ours to fix.
		return errResponse(req, protocol.SystemError, "no message at commit-log offset %d: %v", phys, err)
	}
	if resp := b.checkSendBackOrigin(req, group, orig); resp != nil {
		return resp
	}
	out := orig.Clone()
	out.StoreHost = b.storeHost
	out.SysFlag &^= message.SysFlagTransactionMask
	out.PreparedTransactionOffset = 0
	delete(out.Properties, propScheduleSrc)
	deleteCarried(out)
	delete(out.Properties, message.PropDelayTimeLevel)
	var added []string // properties this send-back adds (dropped again if a DLQ copy would not fit)
	if out.Properties[message.PropRetryTopic] == "" {
		out.SetProperty(message.PropRetryTopic, orig.Topic)
		added = append(added, message.PropRetryTopic)
	}
	if out.Properties[message.PropOriginMessageID] == "" {
		added = append(added, message.PropOriginMessageID)
		id := originMsgID
		if id == "" || len(id) > maxOriginMsgIDLen {
			id = orig.MsgID()
		}
		out.SetProperty(message.PropOriginMessageID, id)
	}
	out.ReconsumeTimes = orig.ReconsumeTimes + 1
	toDLQ := orig.ReconsumeTimes >= maxTimes || delayLevel < 0
	topic := retryPrefix + group
	if toDLQ {
		topic = dlqPrefix + group
	}
	if _, _, err := b.topics.get(topic, true); err != nil {
		b.log.Error("send back: create topic", "topic", topic, "err", err)
		c.Close()
		return nil
	}
	out.Topic, out.QueueID = topic, 0
	if toDLQ {
		delete(out.Properties, message.PropRealTopic)
		delete(out.Properties, message.PropRealQueueID)
	} else {
		level := int(delayLevel)
		if level == 0 {
			level = 3 + int(orig.ReconsumeTimes)
		}
		out.SetProperty(message.PropMaxReconsumeTimes, strconv.Itoa(int(maxTimes)))
		b.toSchedule(out, level)
	}
	if !toDLQ && out.Validate() != nil {
		// Stored before sends reserved room for the retry properties (review
		// finding 1): a retry copy would never fit, so it goes to the DLQ
		// now rather than failing (and being re-consumed) forever.
		b.log.Warn("send back: the retry copy's properties do not fit; moving it to the dead-letter queue",
			"group", group, "msg_id", orig.MsgID())
		toDLQ, topic = true, dlqPrefix+group
		if _, _, err := b.topics.get(topic, true); err != nil {
			b.log.Error("send back: create topic", "topic", topic, "err", err)
			c.Close()
			return nil
		}
		out.Topic, out.QueueID = topic, 0
		for _, k := range []string{message.PropRealTopic, message.PropRealQueueID, message.PropDelayTimeLevel, message.PropMaxReconsumeTimes} {
			delete(out.Properties, k)
		}
		if out.Validate() != nil {
			for _, k := range added { // then it is no larger than the stored original
				delete(out.Properties, k)
			}
		}
	}
	if _, err := b.store.Put(out); err != nil {
		b.log.Error("send back: store", "group", group, "err", err)
		c.Close()
		return nil
	}
	if toDLQ {
		b.log.Warn("message moved to dead-letter queue", "group", group, "msg_id", orig.MsgID(), "reconsume_times", orig.ReconsumeTimes)
	}
	return okResponse(req)
}
