// Package protocol names the RocketMQ remoting request and response codes
// that mqbroker speaks and decodes the request headers it reads, reporting
// missing or malformed fields as errors (never panics). It depends only on
// package remoting.
package protocol

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// Code is a request code.
type Code int16

// Request codes (Java RequestCode).
const (
	SendMessage              Code = 10
	PullMessage              Code = 11
	QueryMessage             Code = 12
	QueryConsumerOffset      Code = 14
	UpdateConsumerOffset     Code = 15
	UpdateAndCreateTopic     Code = 17
	SearchOffsetByTimestamp  Code = 29
	GetMaxOffset             Code = 30
	GetMinOffset             Code = 31
	GetEarliestMsgStoretime  Code = 32
	ViewMessageByID          Code = 33
	HeartBeat                Code = 34
	UnregisterClient         Code = 35
	ConsumerSendMsgBack      Code = 36
	EndTransaction           Code = 37
	GetConsumerListByGroup   Code = 38
	CheckTransactionState    Code = 39
	NotifyConsumerIDsChanged Code = 40
	LockBatchMQ              Code = 41
	UnlockBatchMQ            Code = 42
	GetRouteInfoByTopic      Code = 105
	GetBrokerClusterInfo     Code = 106
	GetAllTopicListFromNS    Code = 206
	SendMessageV2            Code = 310
	SendBatchMessage         Code = 320
)

var codeNames = map[Code]string{
	SendMessage: "SEND_MESSAGE", PullMessage: "PULL_MESSAGE", QueryMessage: "QUERY_MESSAGE",
	QueryConsumerOffset: "QUERY_CONSUMER_OFFSET", UpdateConsumerOffset: "UPDATE_CONSUMER_OFFSET",
	UpdateAndCreateTopic: "UPDATE_AND_CREATE_TOPIC", SearchOffsetByTimestamp: "SEARCH_OFFSET_BY_TIMESTAMP",
	GetMaxOffset: "GET_MAX_OFFSET", GetMinOffset: "GET_MIN_OFFSET", GetEarliestMsgStoretime: "GET_EARLIEST_MSG_STORETIME",
	ViewMessageByID: "VIEW_MESSAGE_BY_ID", HeartBeat: "HEART_BEAT", UnregisterClient: "UNREGISTER_CLIENT",
	ConsumerSendMsgBack: "CONSUMER_SEND_MSG_BACK", EndTransaction: "END_TRANSACTION",
	GetConsumerListByGroup: "GET_CONSUMER_LIST_BY_GROUP", CheckTransactionState: "CHECK_TRANSACTION_STATE",
	NotifyConsumerIDsChanged: "NOTIFY_CONSUMER_IDS_CHANGED", LockBatchMQ: "LOCK_BATCH_MQ",
	UnlockBatchMQ: "UNLOCK_BATCH_MQ", GetRouteInfoByTopic: "GET_ROUTEINFO_BY_TOPIC",
	GetBrokerClusterInfo: "GET_BROKER_CLUSTER_INFO", GetAllTopicListFromNS: "GET_ALL_TOPIC_LIST_FROM_NAMESERVER",
	SendMessageV2: "SEND_MESSAGE_V2", SendBatchMessage: "SEND_BATCH_MESSAGE",
	CheckClientConfig: "CHECK_CLIENT_CONFIG",
}

func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	if n, ok := adminCodeNames[c]; ok {
		return n
	}
	return "CODE_" + strconv.Itoa(int(c))
}

// ResponseCode is a response code.
type ResponseCode int16

// Response codes (Java ResponseCode / RemotingSysResponseCode).
const (
	Success                 ResponseCode = 0
	SystemError             ResponseCode = 1
	SystemBusy              ResponseCode = 2
	RequestCodeNotSupported ResponseCode = 3
	FlushDiskTimeout        ResponseCode = 10
	MessageIllegal          ResponseCode = 13
	ServiceNotAvailable     ResponseCode = 14
	NoPermission            ResponseCode = 16
	TopicNotExist           ResponseCode = 17
	PullNotFound            ResponseCode = 19
	PullRetryImmediately    ResponseCode = 20
	PullOffsetMoved         ResponseCode = 21
	QueryNotFound           ResponseCode = 22
	SubscriptionNotExist    ResponseCode = 24
)

func (c ResponseCode) String() string {
	switch c {
	case Success:
		return "SUCCESS"
	case SystemError:
		return "SYSTEM_ERROR"
	case SystemBusy:
		return "SYSTEM_BUSY"
	case RequestCodeNotSupported:
		return "REQUEST_CODE_NOT_SUPPORTED"
	case FlushDiskTimeout:
		return "FLUSH_DISK_TIMEOUT"
	case MessageIllegal:
		return "MESSAGE_ILLEGAL"
	case ServiceNotAvailable:
		return "SERVICE_NOT_AVAILABLE"
	case NoPermission:
		return "NO_PERMISSION"
	case TopicNotExist:
		return "TOPIC_NOT_EXIST"
	case PullNotFound:
		return "PULL_NOT_FOUND"
	case PullRetryImmediately:
		return "PULL_RETRY_IMMEDIATELY"
	case PullOffsetMoved:
		return "PULL_OFFSET_MOVED"
	case QueryNotFound:
		return "QUERY_NOT_FOUND"
	case SubscriptionNotExist:
		return "SUBSCRIPTION_NOT_EXIST"
	case SubscriptionParseFailed:
		return "SUBSCRIPTION_PARSE_FAILED"
	case FilterDataNotExist:
		return "FILTER_DATA_NOT_EXIST"
	case ConsumerNotOnline:
		return "CONSUMER_NOT_ONLINE"
	}
	return "RESPONSE_" + strconv.Itoa(int(c))
}

// ErrBadHeader wraps every header decoding error.
var ErrBadHeader = errors.New("protocol: bad request header")

// Fields reads typed values out of a request's extFields, remembering the
// first problem; check Err once after reading.
type Fields struct {
	ext map[string]string
	err error
}

// FieldsOf returns a reader over cmd's extFields.
func FieldsOf(cmd *remoting.Command) *Fields { return &Fields{ext: cmd.ExtFields} }

// Err is the first missing or malformed field, wrapping ErrBadHeader.
func (f *Fields) Err() error { return f.err }

func (f *Fields) fail(name, why string) {
	if f.err == nil {
		f.err = fmt.Errorf("%w: %s %s", ErrBadHeader, name, why)
	}
}

// String returns a required string field.
func (f *Fields) String(name string) string {
	v, ok := f.ext[name]
	if !ok || v == "" {
		f.fail(name, "missing")
	}
	return v
}

// OptString returns an optional string field.
func (f *Fields) OptString(name string) string { return f.ext[name] }

// Int64 returns a required integer field.
func (f *Fields) Int64(name string) int64 {
	v, ok := f.ext[name]
	if !ok {
		f.fail(name, "missing")
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		f.fail(name, "not an integer")
	}
	return n
}

// OptInt64 returns an optional integer field, def when absent or empty.
func (f *Fields) OptInt64(name string, def int64) int64 {
	v, ok := f.ext[name]
	if !ok || v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		f.fail(name, "not an integer")
	}
	return n
}

// Int32 returns a required 32-bit integer field.
func (f *Fields) Int32(name string) int32 {
	n := f.Int64(name)
	if n != int64(int32(n)) {
		f.fail(name, "out of range")
	}
	return int32(n)
}

// OptInt32 returns an optional 32-bit integer field.
func (f *Fields) OptInt32(name string, def int32) int32 {
	n := f.OptInt64(name, int64(def))
	if n != int64(int32(n)) {
		f.fail(name, "out of range")
	}
	return int32(n)
}

// OptBool returns an optional boolean field ("true"/"false").
func (f *Fields) OptBool(name string) bool {
	v := f.ext[name]
	switch v {
	case "", "false", "False", "FALSE":
		return false
	case "true", "True", "TRUE":
		return true
	}
	f.fail(name, "not a boolean")
	return false
}
