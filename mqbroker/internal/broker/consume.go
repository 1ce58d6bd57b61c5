package broker

import (
	"encoding/json"

	"github.com/shopsaga/shopsaga/mqbroker/internal/acl"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

func (b *Broker) handleHeartbeat(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	hb, err := parseHeartbeat(req.Body)
	if err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	// Register synchronously: the client rebalances right after this answer
	// and must find itself in the group (PROTOCOL.md §2.5).
	for _, cd := range hb.ConsumerDataSet {
		if cd.GroupName != "" && cd.MessageModel != "BROADCASTING" {
			if _, _, err := b.topics.get(retryPrefix+cd.GroupName, true); err != nil {
				return errResponse(req, protocol.SystemError, "create retry topic: %v", err)
			}
		}
	}
	changed := b.clients.register(hb, c, req.Ext(acl.AccessKeyField), b.clock.Now())
	if err := b.clients.sqlGroups.remember(hb); err != nil {
		b.log.Error("heartbeat", "err", err)
	}
	b.notifyChanged(changed)
	return okResponse(req)
}

func (b *Broker) handleUnregister(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	id := f.String("clientID")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	changed := b.clients.unregister(id, f.OptString("producerGroup"), f.OptString("consumerGroup"))
	b.locks.releaseClients([]string{id})
	b.notifyChanged(changed)
	return okResponse(req)
}

func (b *Broker) handleConsumerList(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	group := f.String("consumerGroup")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	body, _ := json.Marshal(map[string][]string{"consumerIdList": b.clients.consumerIDs(group)})
	resp := okResponse(req)
	resp.Body = body
	return resp
}

// handleQueryOffset answers a group's committed offset, or QUERY_NOT_FOUND
// so that the client applies its consume-from-where policy. (Apache
// RocketMQ answers 0 for a new group while the queue's first message is
// still in memory; we honour the client's policy instead: see ARCHITECTURE.md.)
func (b *Broker) handleQueryOffset(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	k := offsetKey{f.String("consumerGroup"), f.String("topic"), f.Int32("queueId")}
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	off, ok := b.offsets.get(k)
	if !ok {
		return errResponse(req, protocol.QueryNotFound, "no committed offset for %s in %s queue %d", k.Group, k.Topic, k.QueueID)
	}
	// Below the min offset (retention deleted it): continue at the min.
	off = max(off, b.store.MinOffset(k.Topic, k.QueueID))
	resp := okResponse(req)
	resp.SetExtInt("offset", off)
	return resp
}

func (b *Broker) handleUpdateOffset(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	k := offsetKey{f.String("consumerGroup"), f.String("topic"), f.Int32("queueId")}
	off := f.Int64("commitOffset")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	b.offsets.commit(k, off)
	return okResponse(req)
}

func (b *Broker) handleOffsetQuery(code protocol.Code, req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	topic := f.String("topic")
	q := f.Int32("queueId")
	var ts int64
	if code == protocol.SearchOffsetByTimestamp {
		ts = f.Int64("timestamp")
	}
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	var v int64
	switch code {
	case protocol.GetMaxOffset:
		v = b.store.MaxOffset(topic, q)
	case protocol.GetMinOffset:
		v = b.store.MinOffset(topic, q)
	case protocol.SearchOffsetByTimestamp:
		v = b.store.OffsetForTimestamp(topic, q, ts)
	case protocol.GetEarliestMsgStoretime:
		_, st, ok := b.store.QueueEntry(topic, q, b.store.MinOffset(topic, q))
		if !ok {
			return errResponse(req, protocol.SystemError, "queue %s/%d is empty", topic, q)
		}
		resp := okResponse(req)
		resp.SetExtInt("timestamp", st)
		return resp
	}
	resp := okResponse(req)
	resp.SetExtInt("offset", v)
	return resp
}

type lockBody struct {
	ConsumerGroup string `json:"consumerGroup"`
	ClientID      string `json:"clientId"`
	MQSet         []mq   `json:"mqSet"`
}

func (b *Broker) handleLock(req *remoting.Command) *remoting.Command {
	var lb lockBody
	if err := json.Unmarshal(req.Body, &lb); err != nil || lb.ConsumerGroup == "" || lb.ClientID == "" {
		return errResponse(req, protocol.SystemError, "lock body: want consumerGroup, clientId and mqSet")
	}
	held := b.locks.lock(lb.ConsumerGroup, lb.ClientID, lb.MQSet, b.clock.Now())
	body, _ := json.Marshal(map[string][]mq{"lockOKMQSet": held})
	resp := okResponse(req)
	resp.Body = body
	return resp
}

func (b *Broker) handleUnlock(req *remoting.Command) *remoting.Command {
	var lb lockBody
	if err := json.Unmarshal(req.Body, &lb); err != nil || lb.ConsumerGroup == "" || lb.ClientID == "" {
		return errResponse(req, protocol.SystemError, "unlock body: want consumerGroup, clientId and mqSet")
	}
	b.locks.unlock(lb.ConsumerGroup, lb.ClientID, lb.MQSet)
	return okResponse(req)
}
