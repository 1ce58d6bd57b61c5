// Package message implements the RocketMQ stored-message record: the MessageDecoder V1 binary
// layout that the broker writes to its commit log and sends verbatim in PULL_MESSAGE bodies,
// the property-string encoding, the SEND_BATCH_MESSAGE body format, offset message ids and the
// Java-compatible tags hash.
//
// It is a pure leaf package: it imports only the standard library and must not import any other
// mqbroker package. Every decoder is bounds-checked and returns an error wrapping ErrMalformed on
// bad input; none of them panic.
package message

import (
	"errors"
	"net/netip"
	"strings"
)

// MagicV1 is the MAGICCODE of a V1 stored record (0xDAA320A7). The Go client only understands V1
// (one-byte topic length), so it is the only layout this package writes.
const MagicV1 = int32(-626843481)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("message: malformed record")

// Limits of the V1 layout.
const (
	MaxTopicLen      = 127   // TOPICLEN is one signed byte
	MaxPropertiesLen = 32767 // PROPLEN is a signed int16 (the Go client reads it signed)
)

// sysFlag bits (Java MessageSysFlag).
const (
	SysFlagCompressed          = int32(0x1)
	SysFlagMultiTags           = int32(0x2)
	SysFlagTransactionPrepared = int32(0x4)
	SysFlagTransactionCommit   = int32(0x8)
	SysFlagTransactionRollback = int32(0xC)
	SysFlagTransactionMask     = int32(0xC)
	SysFlagBornHostV6          = int32(0x10)
	SysFlagStoreHostV6         = int32(0x20)
)

// Property names (Java MessageConst; Go client primitive/message.go).
const (
	PropKeys                        = "KEYS"
	PropTags                        = "TAGS"
	PropWaitStoreMsgOK              = "WAIT"
	PropDelayTimeLevel              = "DELAY"
	PropRetryTopic                  = "RETRY_TOPIC"
	PropRealTopic                   = "REAL_TOPIC"
	PropRealQueueID                 = "REAL_QID"
	PropTransactionPrepared         = "TRAN_MSG"
	PropProducerGroup               = "PGROUP"
	PropMinOffset                   = "MIN_OFFSET"
	PropMaxOffset                   = "MAX_OFFSET"
	PropOriginMessageID             = "ORIGIN_MESSAGE_ID"
	PropReconsumeTime               = "RECONSUME_TIME"
	PropMaxReconsumeTimes           = "MAX_RECONSUME_TIMES"
	PropConsumeStartTime            = "CONSUME_START_TIME"
	PropMsgRegion                   = "MSG_REGION"
	PropTraceSwitch                 = "TRACE_ON"
	PropUniqKey                     = "UNIQ_KEY"
	PropTransactionPreparedQueueOff = "TRAN_PREPARED_QUEUE_OFFSET"
	PropTransactionCheckTimes       = "TRANSACTION_CHECK_TIMES"
	PropCheckImmunityTimeInSeconds  = "CHECK_IMMUNITY_TIME_IN_SECONDS"
	PropTransactionID               = "__transactionId__"
	PropShardingKey                 = "SHARDING_KEY"
	PropCluster                     = "CLUSTER"
	PropBrokerName                  = "bname"
)

// KeySeparator separates the keys inside the KEYS property.
const KeySeparator = " "

// Message is one stored record. The zero value is usable; fields marked "assigned by the store"
// are overwritten by store.Put.
type Message struct {
	Topic          string
	QueueID        int32
	Flag           int32
	QueueOffset    int64 // logical offset in (Topic, QueueID); assigned by the store
	PhysicalOffset int64 // commit-log offset of the record; assigned by the store
	// SysFlag as sent. Encode derives the host bits (SysFlagBornHostV6, SysFlagStoreHostV6) from
	// BornHost and StoreHost, whatever they are set to here.
	SysFlag                   int32
	BornTimestamp             int64 // ms
	BornHost                  netip.AddrPort
	StoreTimestamp            int64 // ms; assigned by the store
	StoreHost                 netip.AddrPort
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
	Body                      []byte // exactly as sent (compressed if SysFlag&SysFlagCompressed)
	Properties                map[string]string
}

// Property returns the named property ("" if absent).
func (m *Message) Property(key string) string { return m.Properties[key] }

// SetProperty sets a property, allocating the map if needed.
func (m *Message) SetProperty(key, value string) {
	if m.Properties == nil {
		m.Properties = make(map[string]string)
	}
	m.Properties[key] = value
}

// Tags returns the TAGS property.
func (m *Message) Tags() string { return m.Properties[PropTags] }

// Keys returns the space-separated KEYS property split into its non-empty keys.
func (m *Message) Keys() []string { return strings.Fields(m.Properties[PropKeys]) }

// UniqKey returns the client message id (UNIQ_KEY property).
func (m *Message) UniqKey() string { return m.Properties[PropUniqKey] }

// MsgID returns what the client exposes as MessageExt.MsgId: UNIQ_KEY if set, else the offset
// message id.
func (m *Message) MsgID() string {
	if k := m.UniqKey(); k != "" {
		return k
	}
	return OffsetMsgID(m.StoreHost, m.PhysicalOffset)
}

// TransactionType returns the transaction bits of SysFlag (0, prepared, commit or rollback).
func (m *Message) TransactionType() int32 { return m.SysFlag & SysFlagTransactionMask }

// Clone returns a deep copy of m.
func (m *Message) Clone() *Message {
	c := *m
	if m.Body != nil {
		c.Body = append([]byte(nil), m.Body...)
	}
	if m.Properties != nil {
		c.Properties = make(map[string]string, len(m.Properties))
		for k, v := range m.Properties {
			c.Properties[k] = v
		}
	}
	return &c
}
