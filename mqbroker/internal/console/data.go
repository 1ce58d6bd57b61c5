package console

import "time"

// Source is what the console shows; the broker implements it. Every method
// is called on an HTTP request's goroutine and must be safe for concurrent
// use; results are snapshots the console may keep and sort.
type Source interface {
	Queues() []Queue
	Groups() []Group
	Halves() []Half
	Delays() []DelayLevel
	// Lookup returns every stored copy of the messages whose UNIQ_KEY or
	// KEYS equals key, in commit-log order.
	Lookup(key string) []Message
	// Message returns one message by offset message id (or UNIQ_KEY), with
	// its Trace filled in.
	Message(id string) (Message, bool)
	Stats() Stats
}

// Queue is one consume queue. Its JSON keeps the admin API's historical
// field names (no tags).
type Queue struct {
	Topic     string
	QueueID   int32
	MinOffset int64
	MaxOffset int64
}

// Group is a consumer group: live members and the backlog on every queue it
// subscribes to or has committed an offset on.
type Group struct {
	Group      string       `json:"group"`
	Model      string       `json:"messageModel"`
	FromWhere  string       `json:"consumeFromWhere"`
	Online     bool         `json:"online"` // at least one member connected
	Clients    []string     `json:"clients"`
	Topics     []string     `json:"topics"`
	Queues     []GroupQueue `json:"queues"`
	Lag        int64        `json:"lag"`        // sum over Queues
	RetryDepth int64        `json:"retryDepth"` // unconsumed messages in %RETRY%<group>
	DLQDepth   int64        `json:"dlqDepth"`   // messages in %DLQ%<group>
}

// GroupQueue is a group's position in one queue. Committed is the next
// offset the group will consume, -1 if it never committed one (Lag then
// counts the whole queue).
type GroupQueue struct {
	Topic     string `json:"topic"`
	QueueID   int32  `json:"queueId"`
	Committed int64  `json:"committed"`
	MaxOffset int64  `json:"maxOffset"`
	Lag       int64  `json:"lag"`
}

// Half is an undecided transactional half message.
type Half struct {
	CommitLogOffset int64     `json:"commitLogOffset"`
	Group           string    `json:"producerGroup"`
	Topic           string    `json:"topic"`
	MsgID           string    `json:"msgId"`
	Keys            []string  `json:"keys,omitempty"`
	StoredAt        time.Time `json:"storedAt"`
	AgeSeconds      float64   `json:"ageSeconds"`
	Checks          int       `json:"checks"`
}

// DelayLevel is one delay level's backlog; Messages lists the first pending
// ones (FIFO, so in due order).
type DelayLevel struct {
	Level     int       `json:"level"`
	Delay     string    `json:"delay"`
	Pending   int64     `json:"pending"`
	NextDueAt time.Time `json:"nextDueAt,omitzero"`
	Messages  []Delayed `json:"messages,omitempty"`
}

// Delayed is a message waiting in a delay level.
type Delayed struct {
	MsgID       string    `json:"msgId"`
	OffsetMsgID string    `json:"offsetMsgId"`
	Topic       string    `json:"topic"` // where it goes when due
	Keys        []string  `json:"keys,omitempty"`
	Retry       bool      `json:"retry"` // a consumer retry, not a producer's delay
	StoredAt    time.Time `json:"storedAt"`
	DueAt       time.Time `json:"dueAt"`
}

// Message is one stored record. Stage names its role in the message's
// trace; DeliveredTo lists the groups whose committed offset on its queue
// is past it.
type Message struct {
	MsgID           string            `json:"msgId"`
	OffsetMsgID     string            `json:"offsetMsgId"`
	Topic           string            `json:"topic"`
	QueueID         int32             `json:"queueId"`
	QueueOffset     int64             `json:"queueOffset"`
	CommitLogOffset int64             `json:"commitLogOffset"`
	StoreTimestamp  int64             `json:"storeTimestamp"`
	BornTimestamp   int64             `json:"bornTimestamp"`
	ReconsumeTimes  int32             `json:"reconsumeTimes"`
	SysFlag         int32             `json:"sysFlag"`
	Properties      map[string]string `json:"properties"`
	Body            string            `json:"body"`
	Stage           string            `json:"stage"`
	DeliveredTo     []string          `json:"deliveredTo,omitempty"`
	Trace           []Message         `json:"trace,omitempty"`
}

// Stages of a message's trace.
const (
	StageStored    = "stored"    // a producer's message in its topic
	StageHalf      = "half"      // transactional, undecided when stored
	StageCommitted = "committed" // the real message written by a commit
	StageDelayed   = "delayed"   // parked in a delay level
	StageDue       = "due"       // delivered to its topic by the scheduler
	StageRetry     = "retry"     // a consumer retry (scheduled or in %RETRY%)
	StageDLQ       = "dlq"       // dead-lettered
)

// Stats are the broker's counters and live rates.
type Stats struct {
	At             time.Time `json:"at"`
	StartedAt      time.Time `json:"startedAt"`
	MessagesIn     int64     `json:"messagesIn"` // accepted from producers since start
	BytesIn        int64     `json:"bytesIn"`
	MessagesOut    int64     `json:"messagesOut"` // delivered in pull responses since start
	BytesOut       int64     `json:"bytesOut"`
	SendRate       float64   `json:"sendRate"` // messages/s over the last 10 s
	ConsumeRate    float64   `json:"consumeRate"`
	SendRate60     float64   `json:"sendRate60"` // messages/s over the last 60 s
	ConsumeRate60  float64   `json:"consumeRate60"`
	SendSeries     []int64   `json:"sendSeries"` // messages per second, oldest first
	ConsumeSeries  []int64   `json:"consumeSeries"`
	Fsyncs         int64     `json:"fsyncs"`
	Topics         int       `json:"topics"`
	Groups         int       `json:"groups"`
	PendingHalf    int       `json:"pendingHalf"`
	PendingDelayed int64     `json:"pendingDelayed"`
	// The store: commit-log bytes, the data dir's file system, the oldest
	// message still stored and what retention deleted since start.
	StoreBytes        int64     `json:"storeBytes"`
	DiskUsedPercent   float64   `json:"diskUsedPercent"`
	DiskFull          bool      `json:"diskFull"`
	OldestMessageAt   time.Time `json:"oldestMessageAt,omitzero"`
	RetentionSegments int64     `json:"retentionDeletedSegments"`
	RetentionBytes    int64     `json:"retentionDeletedBytes"`
	RetentionMessages int64     `json:"retentionDeletedMessages"`
	CarriedForward    int64     `json:"retentionCarriedForward"`
}
