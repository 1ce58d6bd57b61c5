package broker

import (
	"fmt"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// deadLetterTopic receives what the broker itself could not re-put (review
// finding 1): a half or scheduled message that retention cannot carry
// forward, or a scheduled message whose delivered copy cannot be stored.
// The record is kept as it was stored (REAL_TOPIC, PGROUP, UNIQ_KEY and the
// body included), only its topic changed, so an operator can see it in the
// console and replay it. Recovery treats it as an ordinary record: it is
// neither a pending half nor a scheduled entry any more.
const deadLetterTopic = "%DLQ%RMQ_SYS_SET_ASIDE"

// Kinds of set-aside entries (mqbroker_set_aside_total{kind}).
const (
	asideHalf      = "half"      // undecided half retention could not carry
	asideScheduled = "scheduled" // pending scheduled message retention could not carry
	asideDelivery  = "delivery"  // due scheduled message whose delivered copy could not be stored
)

// Worst case of what the broker may add to a message's properties after
// it was accepted (review finding 1), each as len(key)+len(value)+2:
// retention's marks on a carried half (__CARRIED_FROM, __CARRIED_QOFF,
// __CARRIED_CHECKS, __CARRIED_STORE_TS) or on a carried scheduled message
// (__CARRIED_SRC, __CARRIED_STORE_TS); the scheduler's __SCHEDULE_SRC; a
// send-back's RETRY_TOPIC, ORIGIN_MESSAGE_ID, MAX_RECONSUME_TIMES, DELAY,
// REAL_TOPIC and REAL_QID; a check-back body's TRANSACTION_CHECK_TIMES and
// __transactionId__ (the UNIQ_KEY's length). Not all of them can be on one
// record at once; their sum is a simple bound that costs a client about
// 2 % of the 32767-byte limit.
var brokerProps = []struct {
	key    string
	maxVal int
}{
	{propCarriedFrom, 19}, {propCarriedQueueOffset, 19}, {propCarriedChecks, 10}, {propCarriedStoreTs, 19},
	{propCarriedSrc, 2 + 1 + 19}, {propScheduleSrc, 2 + 1 + 19},
	{message.PropRetryTopic, message.MaxTopicLen}, {message.PropOriginMessageID, maxOriginMsgIDLen},
	{message.PropMaxReconsumeTimes, 10}, {message.PropDelayTimeLevel, 2},
	{message.PropRealTopic, message.MaxTopicLen}, {message.PropRealQueueID, 10},
	{message.PropTransactionCheckTimes, 10},
}

// maxOriginMsgIDLen bounds the ORIGIN_MESSAGE_ID a send-back stores (a
// longer originMsgId from the client is replaced by the offset msg id).
const maxOriginMsgIDLen = 64

// brokerHeadroom is the sum over brokerProps, without __transactionId__.
var brokerHeadroom = func() int {
	n := 0
	for _, p := range brokerProps {
		n += len(p.key) + p.maxVal + 2
	}
	return n
}()

// checkPropsRoom reports an error when m's properties (as the client sent
// them) leave no room for what the broker adds later: the message could
// then not be delivered, carried forward or retried.
func checkPropsRoom(m *message.Message) error {
	n := 0
	for k, v := range m.Properties {
		if isBrokerProp(k) {
			continue // replaced by the broker's own value, counted below
		}
		n += len(k) + len(v) + 2
	}
	room := brokerHeadroom
	if k := m.UniqKey(); k != "" {
		room += len(message.PropTransactionID) + len(k) + 2
	}
	if n+room > message.MaxPropertiesLen {
		return fmt.Errorf("properties are %d bytes; with the up to %d bytes the broker adds later (delay, transaction, retry and retention marks) they would exceed %d: keep them within %d bytes",
			n, room, message.MaxPropertiesLen, message.MaxPropertiesLen-room)
	}
	return nil
}

func isBrokerProp(k string) bool {
	if k == message.PropTransactionID {
		return true
	}
	for _, p := range brokerProps {
		if p.key == k {
			return true
		}
	}
	return false
}

// setAside moves a record the broker could not re-put to deadLetterTopic
// (counted and logged). m is the record as read (nil when it could not be
// read: then only the count and the log remain). It returns an error only
// when the dead-letter copy cannot be stored either (an I/O failure: the
// caller retries later).
//
// scheduleSrc, when not empty, is the schedule-queue entry ("level:offset")
// of a set-aside delivery: the copy carries it as __SCHEDULE_SRC when it
// fits, so that after a restart the level's progress stays past the entry
// (else the entry is set aside once more after a restart).
func (b *Broker) setAside(kind string, phys int64, m *message.Message, scheduleSrc string, why error, attrs ...any) error {
	if m != nil {
		dl := m.Clone()
		deleteCarried(dl)
		dl.Topic, dl.QueueID = deadLetterTopic, 0
		dl.SysFlag &^= message.SysFlagTransactionMask
		dl.PreparedTransactionOffset = 0
		if scheduleSrc != "" {
			delete(dl.Properties, message.PropDelayTimeLevel)
			dl.SetProperty(propScheduleSrc, scheduleSrc)
			if dl.Validate() != nil {
				delete(dl.Properties, propScheduleSrc)
			}
		}
		if _, _, err := b.topics.get(deadLetterTopic, true); err != nil {
			return fmt.Errorf("set aside %s message %d: create %s: %w", kind, phys, deadLetterTopic, err)
		}
		if _, err := b.store.Put(dl); err != nil {
			return fmt.Errorf("set aside %s message %d (%v): %w", kind, phys, why, err)
		}
		attrs = append(attrs, "dead_letter_offset", dl.PhysicalOffset, "moved_to", deadLetterTopic)
	} else {
		attrs = append(attrs, "lost", "the record could not be read")
	}
	b.metrics.setAside.WithLabelValues(kind).Inc()
	b.log.Error("set aside a "+kind+" message the broker could not re-put", append([]any{"offset", phys, "err", why}, attrs...)...)
	return nil
}
