package broker

// adminwire.go serves the admin requests of Apache RocketMQ's mqadmin
// (tools/DefaultMQAdminExt) with Apache RocketMQ 4.9.4's semantics and body
// formats (the requests that change state are in adminops.go); golden frames of the real tool against the real broker are in
// testdata/mqadmin (see adminwire_test.go and mqbroker/PROTOCOL.md).
//
// Bodies that Java decodes with fastjson keep its shape: maps keyed by a
// MessageQueue are written with the key as a JSON object
// ({"brokerName":..,"queueId":..,"topic":..}:value), which fastjson reads
// and encoding/json cannot write, so they are rendered by hand.

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/acl"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// brokerVersion is what mqbroker reports as its version: Apache RocketMQ
// 4.9.4's MQVersion ordinal (V4_9_4), so that tools enable the features of
// that release.
const (
	brokerVersion     = 401
	brokerVersionDesc = "V4_9_4"
)

// serveAdmin dispatches the admin codes; ok is false for any other code.
func (b *Broker) serveAdmin(c *remoting.Conn, req *remoting.Command) (*remoting.Command, bool) {
	switch protocol.Code(req.Code) {
	case protocol.GetBrokerRuntimeInfo:
		return b.handleRuntimeInfo(req), true
	case protocol.GetBrokerConfig:
		return b.handleBrokerConfig(req), true
	case protocol.GetTopicStatsInfo:
		return b.handleTopicStats(req), true
	case protocol.GetConsumerConnectionList:
		return b.handleConsumerConnections(req), true
	case protocol.GetProducerConnectionList:
		return b.handleProducerConnections(req), true
	case protocol.GetConsumeStats:
		return b.handleConsumeStats(req), true
	case protocol.QueryTopicConsumeByWho:
		return b.handleConsumeByWho(req), true
	case protocol.ViewMessageByID:
		return b.handleViewMessage(c, req), true
	case protocol.QueryMessage:
		return b.handleQueryMessage(c, req), true
	case protocol.UpdateAndCreateSubscriptionGroup:
		return b.handleUpdateSubGroup(req), true
	case protocol.GetAllSubscriptionGroupConfig:
		return b.handleAllSubGroups(req), true
	case protocol.DeleteSubscriptionGroup:
		return b.handleDeleteSubGroup(req), true
	case protocol.DeleteTopicInBroker:
		return b.handleDeleteTopic(req), true
	case protocol.DeleteTopicInNamesrv:
		// Routes are derived from the broker's topic table: once the broker
		// has deleted the topic the name server no longer lists it.
		return okResponse(req), true
	case protocol.InvokeBrokerToResetOffset:
		return b.handleResetOffset(req), true
	case protocol.GetConsumerRunningInfo:
		return b.handleConsumerRunningInfo(req), true
	case protocol.ConsumeMessageDirectly:
		return b.handleConsumeMessageDirectly(c, req), true
	}
	return nil, false
}

// --- client metadata (language, version, consume type) -----------------

// clientMeta is what connection lists report about a client connection.
type clientMeta struct {
	language string
	version  int16
}

// clientMetas remembers, per connection, the language and version of its
// last heartbeat, and per consumer group the consume type.
type clientMetas struct {
	mu          sync.Mutex // guards conns, consumeType
	conns       map[uint64]clientMeta
	consumeType map[string]string // group → CONSUME_ACTIVELY / CONSUME_PASSIVELY
}

// noteHeartbeat records a heartbeat's client metadata; errors are left to
// handleHeartbeat.
func (b *Broker) noteHeartbeat(c *remoting.Conn, req *remoting.Command) {
	hb, err := parseHeartbeat(req.Body)
	if err != nil {
		return
	}
	m := &b.metas
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conns == nil {
		m.conns = make(map[uint64]clientMeta)
		m.consumeType = make(map[string]string)
	}
	m.conns[c.ID()] = clientMeta{language: req.Language, version: req.Version}
	for _, cd := range hb.ConsumerDataSet {
		if cd.GroupName != "" && cd.ConsumeType != "" {
			m.consumeType[cd.GroupName] = cd.ConsumeType
		}
	}
}

func (b *Broker) forgetConn(c *remoting.Conn) {
	b.metas.mu.Lock()
	delete(b.metas.conns, c.ID())
	b.metas.mu.Unlock()
}

func (b *Broker) connMeta(c *remoting.Conn) clientMeta {
	b.metas.mu.Lock()
	defer b.metas.mu.Unlock()
	if m, ok := b.metas.conns[c.ID()]; ok {
		if m.language == "" {
			m.language = "OTHER"
		}
		return m
	}
	return clientMeta{language: "OTHER"}
}

// --- bodies ----------------------------------------------------------------

func bodyResponse(req *remoting.Command, body []byte) *remoting.Command {
	resp := okResponse(req)
	resp.Body = body
	return resp
}

func jsonBody(req *remoting.Command, v any) *remoting.Command {
	body, err := json.Marshal(v)
	if err != nil {
		return errResponse(req, protocol.SystemError, "encode body: %v", err)
	}
	return bodyResponse(req, body)
}

// mqKey renders a MessageQueue as a fastjson map key.
func (b *Broker) mqKey(sb *strings.Builder, topic string, queueID int32) {
	fmt.Fprintf(sb, `{"brokerName":%s,"queueId":%d,"topic":%s}`, strconv.Quote(b.cfg.BrokerName), queueID, strconv.Quote(topic))
}

// queueTime is the store timestamp of the message at offset-1 of a queue
// (the last one before offset), 0 if there is none.
func (b *Broker) queueTime(topic string, queueID int32, offset int64) int64 {
	if offset <= 0 {
		return 0
	}
	_, ts, ok := b.store.QueueEntry(topic, queueID, offset-1)
	if !ok {
		return 0
	}
	return ts
}

// --- GET_BROKER_RUNTIME_INFO / GET_BROKER_CONFIG -------------------------

func (b *Broker) handleRuntimeInfo(req *remoting.Command) *remoting.Command {
	now := time.Now()
	in, out := b.metrics.totalIn.Load(), b.metrics.totalOut.Load()
	inRate, outRate := b.metrics.rates.rate(now, in, out, 10*time.Second)
	earliest := int64(-1)
	for _, q := range b.store.Queues() {
		if q.MaxOffset == 0 {
			continue
		}
		if _, ts, ok := b.store.QueueEntry(q.Topic, q.QueueID, q.MinOffset); ok && (earliest < 0 || ts < earliest) {
			earliest = ts
		}
	}
	up := now.Sub(b.metrics.started)
	tps := func(r float64) string {
		return strconv.FormatFloat(r, 'f', 1, 64) + " " + strconv.FormatFloat(r, 'f', 1, 64) + " "
	}
	table := map[string]string{
		"brokerVersionDesc": brokerVersionDesc, "brokerVersion": strconv.Itoa(brokerVersion),
		"bootTimestamp": strconv.FormatInt(b.metrics.started.UnixMilli(), 10),
		"runtime": fmt.Sprintf("[ %d days, %d hours, %d minutes, %d seconds ]",
			int(up.Hours())/24, int(up.Hours())%24, int(up.Minutes())%60, int(up.Seconds())%60),
		"putTps": tps(inRate), "getTransferedTps": tps(outRate), "getTotalTps": tps(outRate) + "0.0",
		"getFoundTps": tps(outRate), "getMissTps": "0.0 0.0 ",
		"msgPutTotalTodayNow": strconv.FormatInt(in, 10), "msgGetTotalTodayNow": strconv.FormatInt(out, 10),
		"msgPutTotalTodayMorning": "0", "msgGetTotalTodayMorning": "0",
		"msgPutTotalYesterdayMorning": "0", "msgGetTotalYesterdayMorning": "0",
		"putMessageTimesTotal": strconv.FormatInt(in, 10), "putMessageFailedTimes": "0",
		"earliestMessageTimeStamp": strconv.FormatInt(earliest, 10),
		"commitLogMinOffset":       "0", "commitLogMaxOffset": "0",
		"commitLogDiskRatio": diskRatio(b.cfg.DataDir), "consumeQueueDiskRatio": diskRatio(b.cfg.DataDir),
		"sendThreadPoolQueueSize": "0", "sendThreadPoolQueueCapacity": "10000",
		"sendThreadPoolQueueHeadWaitTimeMills": "0", "pullThreadPoolQueueSize": "0",
		"pullThreadPoolQueueCapacity": "100000", "pullThreadPoolQueueHeadWaitTimeMills": "0",
		"queryThreadPoolQueueSize": "0", "queryThreadPoolQueueCapacity": "20000",
		"queryThreadPoolQueueHeadWaitTimeMills": "0", "EndTransactionQueueSize": "0",
		"EndTransactionThreadPoolQueueCapacity": "100000", "pageCacheLockTimeMills": "0",
		"dispatchBehindBytes": "0", "dispatchMaxBuffer": "0", "remainHowManyDataToFlush": "0 B",
		"remainTransientStoreBufferNumbs": "2147483647", "startAcceptSendRequestTimeStamp": "0",
		"putMessageEntireTimeMax": "0", "getMessageEntireTimeMax": "0", "putMessageAverageSize": "0.0",
		"putMessageSizeTotal": strconv.FormatInt(b.metrics.totalBytesIn.Load(), 10),
		"putLatency99":        "0.00", "putLatency999": "0.00",
		"putMessageDistributeTime":   "[<=0ms]:0 [0~10ms]:0 [10~50ms]:0 [50~100ms]:0 [100~200ms]:0 [200~500ms]:0 [500ms~1s]:0 [1~2s]:0 [2~3s]:0 [3~4s]:0 [4~5s]:0 [5~10s]:0 [10s~]:0 ",
		"commitLogDirCapacity":       dirCapacity(b.cfg.DataDir),
		"txHalfPending":              strconv.Itoa(b.txn.pendingCount()),
		"mqbrokerFlush":              b.cfg.Flush.String(),
		"mqbrokerStoreFsyncs":        strconv.FormatInt(b.store.Stats().Fsyncs, 10),
		"mqbrokerStoreMessagesTotal": strconv.FormatInt(b.store.Stats().Messages, 10),
	}
	return jsonBody(req, map[string]any{"table": table})
}

func (b *Broker) brokerProperties() map[string]string {
	host, port := b.advertise, ""
	if i := strings.LastIndexByte(b.advertise, ':'); i >= 0 {
		host, port = b.advertise[:i], b.advertise[i+1:]
	}
	var levels []string
	for _, d := range b.cfg.DelayLevels {
		levels = append(levels, delayString(d))
	}
	flush := "ASYNC_FLUSH"
	if b.cfg.Flush.String() == "sync" {
		flush = "SYNC_FLUSH"
	}
	return map[string]string{
		"brokerClusterName": b.cfg.Cluster, "brokerName": b.cfg.BrokerName, "brokerId": "0",
		"brokerIP1": host, "listenPort": port, "namesrvAddr": b.nsLn.Addr().String(),
		"brokerRole": "ASYNC_MASTER", "brokerPermission": strconv.Itoa(permReadWrite),
		"storePathRootDir": b.cfg.DataDir, "flushDiskType": flush,
		"flushIntervalCommitLog":   strconv.FormatInt(b.cfg.FlushInterval.Milliseconds(), 10),
		"mappedFileSizeCommitLog":  strconv.FormatInt(b.cfg.SegmentSize, 10),
		"maxMessageSize":           strconv.Itoa(b.cfg.MaxMessageSize),
		"defaultTopicQueueNums":    strconv.Itoa(b.cfg.DefaultQueues),
		"messageDelayLevel":        strings.Join(levels, " "),
		"transactionTimeOut":       strconv.FormatInt(b.cfg.TxTimeout.Milliseconds(), 10),
		"transactionCheckInterval": strconv.FormatInt(b.cfg.TxCheckInterval.Milliseconds(), 10),
		"transactionCheckMax":      strconv.Itoa(b.cfg.TxCheckMax),
		"longPollingEnable":        "true", "autoCreateTopicEnable": "true", "autoCreateSubscriptionGroup": "true",
		"clientChannelMaxIdleTimeSeconds": strconv.FormatInt(int64(b.cfg.ClientExpiry.Seconds()), 10),
		"aclEnable":                       strconv.FormatBool(b.acl != nil), "messageIndexEnable": "true",
		"enablePropertyFilter": strconv.FormatBool(b.cfg.EnablePropertyFilter),
	}
}

// delayString renders a delay level as Java's messageDelayLevel does (1s, 5m, 2h).
func delayString(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

func (b *Broker) handleBrokerConfig(req *remoting.Command) *remoting.Command {
	props := b.brokerProperties()
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		sb.WriteString(k + "=" + props[k] + "\n")
	}
	resp := bodyResponse(req, []byte(sb.String()))
	resp.SetExt("version", fmt.Sprintf(`{"counter":0,"timestamp":%d}`, b.metrics.started.UnixMilli()))
	return resp
}

// --- topic stats, consumers, producers ------------------------------------

func (b *Broker) handleTopicStats(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	topic := f.String("topic")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	tc, ok, _ := b.topics.get(topic, false)
	if !ok {
		return errResponse(req, protocol.TopicNotExist, "topic[%s] not exist", topic)
	}
	var sb strings.Builder
	sb.WriteString(`{"offsetTable":{`)
	for q := int32(0); q < tc.WriteQueues; q++ {
		if q > 0 {
			sb.WriteByte(',')
		}
		b.mqKey(&sb, topic, q)
		maxOff := b.store.MaxOffset(topic, q)
		fmt.Fprintf(&sb, `:{"lastUpdateTimestamp":%d,"maxOffset":%d,"minOffset":%d}`,
			b.queueTime(topic, q, maxOff), maxOff, b.store.MinOffset(topic, q))
	}
	sb.WriteString(`}}`)
	return bodyResponse(req, []byte(sb.String()))
}

type connectionJSON struct {
	ClientAddr string `json:"clientAddr"`
	ClientID   string `json:"clientId"`
	Language   string `json:"language"`
	Version    int16  `json:"version"`
}

type subscriptionJSON struct {
	ClassFilterMode bool     `json:"classFilterMode"`
	CodeSet         []int64  `json:"codeSet"`
	ExpressionType  string   `json:"expressionType"`
	SubString       string   `json:"subString"`
	SubVersion      int64    `json:"subVersion"`
	TagsSet         []string `json:"tagsSet"`
	Topic           string   `json:"topic"`
}

func (b *Broker) handleConsumerConnections(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	group := f.String("consumerGroup")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	b.clients.mu.Lock()
	g := b.clients.consumers[group]
	if g == nil || len(g.clients) == 0 {
		b.clients.mu.Unlock()
		return errResponse(req, protocol.ConsumerNotOnline, "the consumer group[%s] not online", group)
	}
	type member struct {
		id   string
		conn *remoting.Conn
	}
	var members []member
	for id, c := range g.clients {
		members = append(members, member{id, c.conn})
	}
	subs := make(map[string]subscriptionJSON, len(g.subs))
	for topic, s := range g.subs {
		codes := []int64{}
		for _, t := range s.TagList {
			codes = append(codes, message.TagsHash(t))
		}
		tags := append([]string{}, s.TagList...)
		sub := s.SubString
		if sub == "" {
			sub = "*"
		}
		subs[topic] = subscriptionJSON{CodeSet: codes, ExpressionType: "TAG", SubString: sub, TagsSet: tags, Topic: topic}
	}
	model, from := g.model, g.fromWhere
	b.clients.mu.Unlock()
	sort.Slice(members, func(i, j int) bool { return members[i].id < members[j].id })
	conns := make([]connectionJSON, 0, len(members))
	for _, m := range members {
		meta := b.connMeta(m.conn)
		conns = append(conns, connectionJSON{ClientAddr: m.conn.RemoteAddr(), ClientID: m.id, Language: meta.language, Version: meta.version})
	}
	b.metas.mu.Lock()
	ctype := b.metas.consumeType[group]
	b.metas.mu.Unlock()
	if ctype == "" {
		ctype = "CONSUME_PASSIVELY"
	}
	return jsonBody(req, map[string]any{"connectionSet": conns, "consumeFromWhere": from,
		"consumeType": ctype, "messageModel": model, "subscriptionTable": subs})
}

func (b *Broker) handleProducerConnections(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	group := f.String("producerGroup")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	b.clients.mu.Lock()
	type member struct {
		id   string
		conn *remoting.Conn
	}
	var members []member
	for id, p := range b.clients.producers[group] {
		members = append(members, member{id, p.conn})
	}
	b.clients.mu.Unlock()
	if len(members) == 0 {
		return errResponse(req, protocol.SystemError, "the producer group[%s] not exist", group)
	}
	sort.Slice(members, func(i, j int) bool { return members[i].id < members[j].id })
	conns := make([]connectionJSON, 0, len(members))
	for _, m := range members {
		meta := b.connMeta(m.conn)
		conns = append(conns, connectionJSON{ClientAddr: m.conn.RemoteAddr(), ClientID: m.id, Language: meta.language, Version: meta.version})
	}
	return jsonBody(req, map[string]any{"connectionSet": conns})
}

// groupTopics lists the topics a group consumes: those it has committed
// offsets for and those its live members subscribe to.
func (b *Broker) groupTopics(group string) []string {
	set := map[string]struct{}{}
	for _, r := range b.offsets.snapshot() {
		if r.Group == group {
			set[r.Topic] = struct{}{}
		}
	}
	b.clients.mu.Lock()
	if g := b.clients.consumers[group]; g != nil {
		for t := range g.subs {
			set[t] = struct{}{}
		}
	}
	b.clients.mu.Unlock()
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func (b *Broker) handleConsumeStats(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	group := f.String("consumerGroup")
	only := f.OptString("topic")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	topics := b.groupTopics(group)
	if only != "" {
		topics = []string{only}
	}
	var sb strings.Builder
	sb.WriteString(`{"consumeTps":`)
	_, outRate := b.metrics.rates.rate(time.Now(), b.metrics.totalIn.Load(), b.metrics.totalOut.Load(), 60*time.Second)
	sb.WriteString(strconv.FormatFloat(outRate, 'f', -1, 64))
	sb.WriteString(`,"offsetTable":{`)
	first := true
	for _, topic := range topics {
		tc, ok, _ := b.topics.get(topic, false)
		if !ok {
			continue
		}
		for q := int32(0); q < tc.ReadQueues; q++ {
			brokerOff := b.store.MaxOffset(topic, q)
			consumerOff, ok := b.offsets.get(offsetKey{group, topic, q})
			if !ok || consumerOff < 0 {
				consumerOff = 0
			}
			if !first {
				sb.WriteByte(',')
			}
			first = false
			b.mqKey(&sb, topic, q)
			fmt.Fprintf(&sb, `:{"brokerOffset":%d,"consumerOffset":%d,"lastTimestamp":%d}`,
				brokerOff, consumerOff, b.queueTime(topic, q, consumerOff))
		}
	}
	sb.WriteString(`}}`)
	return bodyResponse(req, []byte(sb.String()))
}

func (b *Broker) handleConsumeByWho(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	topic := f.String("topic")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	set := map[string]struct{}{}
	for _, r := range b.offsets.snapshot() {
		if r.Topic == topic {
			set[r.Group] = struct{}{}
		}
	}
	b.clients.mu.Lock()
	for name, g := range b.clients.consumers {
		if _, ok := g.subs[topic]; ok {
			set[name] = struct{}{}
		}
	}
	b.clients.mu.Unlock()
	groups := make([]string, 0, len(set))
	for g := range set {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	return jsonBody(req, map[string][]string{"groupList": groups})
}

// --- messages ----------------------------------------------------------------

// handleViewMessage serves VIEW_MESSAGE_BY_ID: the stored record at a
// commit-log offset, in the message encoding of a pull response.
func (b *Broker) handleViewMessage(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	off := f.Int64("offset")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	m, err := b.store.Read(off)
	if err != nil {
		return errResponse(req, protocol.SystemError, "can not find message by the offset, %d", off)
	}
	if resp := b.permitResolved(c, req, acl.Resource{Name: visibleTopic(m), Perm: acl.Sub}); resp != nil {
		return resp
	}
	return bodyResponse(req, m.Encode())
}

// handleQueryMessage serves QUERY_MESSAGE: the messages of a topic whose
// KEYS (or, with _UNIQUE_KEY_QUERY, whose UNIQ_KEY) contain key and whose
// store time is in [beginTimestamp, endTimestamp], at most maxNum, their
// encodings concatenated as in a pull response.
func (b *Broker) handleQueryMessage(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	topic := f.String("topic")
	key := f.String("key")
	maxNum := f.OptInt32("maxNum", 32)
	begin := f.OptInt64("beginTimestamp", 0)
	end := f.OptInt64("endTimestamp", 1<<63-1)
	uniq := f.OptBool("_UNIQUE_KEY_QUERY")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	if maxNum <= 0 || maxNum > 64 {
		maxNum = 64 // Java's maxQueryMessageNum default
	}
	// The store stops after maxNum records of this topic in the time range (review finding 8).
	offs := b.store.LookupKey(key, int(maxNum), func(m *message.Message) bool {
		return m.Topic == topic && m.StoreTimestamp >= begin && m.StoreTimestamp <= end &&
			(!uniq || m.UniqKey() == key) && (uniq || containsKey(m.Keys(), key))
	})
	var body []byte
	var last *message.Message
	n := 0
	for _, o := range offs {
		if n >= int(maxNum) || len(body) >= b.cfg.MaxMessageSize {
			break
		}
		m, err := b.store.Read(o)
		if err != nil || m.Topic != topic || m.StoreTimestamp < begin || m.StoreTimestamp > end {
			continue
		}
		if (uniq && m.UniqKey() != key) || (!uniq && !containsKey(m.Keys(), key)) {
			continue
		}
		// A half or scheduled record is read as its real topic: the ACL
		// checked SUB on the system topic named in the request only.
		if vt := visibleTopic(m); vt != m.Topic && b.permitResolved(c, req, acl.Resource{Name: vt, Perm: acl.Sub}) != nil {
			continue
		}
		body = append(body, m.Encode()...)
		last = m
		n++
	}
	if n == 0 {
		return errResponse(req, protocol.QueryNotFound, "can not find message, maybe time range not correct")
	}
	resp := bodyResponse(req, body)
	resp.SetExtInt("indexLastUpdateTimestamp", last.StoreTimestamp)
	resp.SetExtInt("indexLastUpdatePhyoffset", last.PhysicalOffset)
	return resp
}
