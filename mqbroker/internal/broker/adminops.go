package broker

// adminops.go: the mqadmin requests that change state (subscription groups,
// topic layout and deletion, offset resets); see adminwire.go.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
	"github.com/shopsaga/shopsaga/mqbroker/internal/namesrv"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// --- subscription groups --------------------------------------------------

// subGroupConfig is Java's SubscriptionGroupConfig.
type subGroupConfig struct {
	GroupName                      string `json:"groupName"`
	ConsumeEnable                  bool   `json:"consumeEnable"`
	ConsumeFromMinEnable           bool   `json:"consumeFromMinEnable"`
	ConsumeBroadcastEnable         bool   `json:"consumeBroadcastEnable"`
	RetryQueueNums                 int32  `json:"retryQueueNums"`
	RetryMaxTimes                  int32  `json:"retryMaxTimes"`
	BrokerID                       int64  `json:"brokerId"`
	WhichBrokerWhenConsumeSlowly   int64  `json:"whichBrokerWhenConsumeSlowly"`
	NotifyConsumerIdsChangedEnable bool   `json:"notifyConsumerIdsChangedEnable"`
}

const subGroupsFileName = "subscription_groups.json"

// subGroupTable holds the subscription groups created by
// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, persisted to
// <dir>/subscription_groups.json (written whole, via rename). Groups that
// only ever heart-beat are not listed (they are auto-created, as Apache's
// autoCreateSubscriptionGroup does, and need no entry).
type subGroupTable struct {
	path string

	mu     sync.Mutex // guards groups and the file
	groups map[string]subGroupConfig
}

func loadSubGroups(dir string) (*subGroupTable, error) {
	t := &subGroupTable{path: filepath.Join(dir, subGroupsFileName), groups: make(map[string]subGroupConfig)}
	data, err := os.ReadFile(t.path)
	switch {
	case os.IsNotExist(err):
		return t, nil
	case err != nil:
		return nil, fmt.Errorf("read subscription groups: %w", err)
	}
	var list []subGroupConfig
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("read %s: %w", t.path, err)
	}
	for _, g := range list {
		t.groups[g.GroupName] = g
	}
	return t, nil
}

func (t *subGroupTable) saveLocked() error {
	list := make([]subGroupConfig, 0, len(t.groups))
	for _, g := range t.groups {
		list = append(list, g)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].GroupName < list[j].GroupName })
	data, err := json.MarshalIndent(list, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(t.path, data)
}

func (t *subGroupTable) put(g subGroupConfig) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, had := t.groups[g.GroupName]
	t.groups[g.GroupName] = g
	if err := t.saveLocked(); err != nil {
		if had {
			t.groups[g.GroupName] = old
		} else {
			delete(t.groups, g.GroupName)
		}
		return err
	}
	return nil
}

func (t *subGroupTable) remove(name string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.groups[name]; !ok {
		return nil
	}
	delete(t.groups, name)
	return t.saveLocked()
}

func (t *subGroupTable) all() []subGroupConfig {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]subGroupConfig, 0, len(t.groups))
	for _, g := range t.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GroupName < out[j].GroupName })
	return out
}

func (b *Broker) handleUpdateSubGroup(req *remoting.Command) *remoting.Command {
	g := subGroupConfig{ConsumeEnable: true, RetryQueueNums: 1, RetryMaxTimes: 16, WhichBrokerWhenConsumeSlowly: 1, NotifyConsumerIdsChangedEnable: true}
	if err := json.Unmarshal(req.Body, &g); err != nil {
		return errResponse(req, protocol.SystemError, "subscription group body: %v", err)
	}
	if err := checkTopicName(g.GroupName); err != nil {
		return errResponse(req, protocol.SystemError, "bad group name: %v", err)
	}
	if g.RetryQueueNums < 0 || g.RetryQueueNums > 64 || g.RetryMaxTimes < 0 || g.RetryMaxTimes > 1024 {
		return errResponse(req, protocol.SystemError, "retryQueueNums %d / retryMaxTimes %d out of range", g.RetryQueueNums, g.RetryMaxTimes)
	}
	if err := b.subGroups.put(g); err != nil {
		return errResponse(req, protocol.SystemError, "save subscription group: %v", err)
	}
	return okResponse(req)
}

func (b *Broker) handleAllSubGroups(req *remoting.Command) *remoting.Command {
	table := map[string]subGroupConfig{}
	for _, g := range b.subGroups.all() {
		table[g.GroupName] = g
	}
	return jsonBody(req, map[string]any{"subscriptionGroupTable": table,
		"dataVersion": map[string]int64{"counter": 0, "timestamp": b.metrics.started.UnixMilli()}})
}

func (b *Broker) handleDeleteSubGroup(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	name := f.String("groupName")
	removeOffset := f.OptBool("removeOffset")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	if err := b.subGroups.remove(name); err != nil {
		return errResponse(req, protocol.SystemError, "delete subscription group: %v", err)
	}
	if removeOffset {
		b.offsets.removeWhere(func(k offsetKey) bool { return k.Group == name })
	}
	return okResponse(req)
}

// --- topics --------------------------------------------------------------------

// put replaces (or creates) a topic's layout.
func (t *topicTable) put(c topicConfig) (old topicConfig, existed bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, existed = t.topics[c.Name]
	t.topics[c.Name] = c
	if err := t.saveLocked(); err != nil {
		if existed {
			t.topics[c.Name] = old
		} else {
			delete(t.topics, c.Name)
		}
		return old, existed, err
	}
	return old, existed, nil
}

// remove deletes a topic's config; it reports whether it existed.
func (t *topicTable) remove(name string) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.topics[name]
	if !ok {
		return false, nil
	}
	delete(t.topics, name)
	if err := t.saveLocked(); err != nil {
		t.topics[name] = old
		return true, err
	}
	return true, nil
}

// removeWhere drops the offsets matching drop.
func (t *offsetTable) removeWhere(drop func(offsetKey) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.offsets {
		if drop(k) {
			delete(t.offsets, k)
			t.dirty = true
		}
	}
}

// isFixedTopic reports the topics whose layout the broker owns.
func isFixedTopic(t string) bool {
	return t == defaultTopic || t == delay.ScheduleTopic || t == halfTopic || t == opTopic
}

const maxQueueNums = 1024

// handleUpdateTopic serves UPDATE_AND_CREATE_TOPIC as Apache does: it
// creates the topic or replaces its layout with the request's read/write
// queue counts and permission. When the queue counts of a topic change, the
// consumer groups subscribed to it are told to rebalance.
func (b *Broker) handleUpdateTopic(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	topic := f.String("topic")
	def := int32(b.cfg.DefaultQueues)
	read := f.OptInt32("readQueueNums", def)
	write := f.OptInt32("writeQueueNums", def)
	perm := f.OptInt32("perm", permReadWrite)
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	if err := checkTopicName(topic); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	if topic == b.cfg.Cluster || topic == b.cfg.BrokerName {
		return errResponse(req, protocol.SystemError, "the topic[%s] is conflict with system reserved words", topic)
	}
	if isFixedTopic(topic) {
		return errResponse(req, protocol.SystemError, "the topic[%s] is a system topic; its layout is fixed", topic)
	}
	if read < 1 || read > maxQueueNums || write < 1 || write > maxQueueNums {
		return errResponse(req, protocol.SystemError, "readQueueNums %d / writeQueueNums %d: want 1..%d", read, write, maxQueueNums)
	}
	if perm&^(namesrv.PermRead|namesrv.PermWrite|namesrv.PermInherit) != 0 || perm&(namesrv.PermRead|namesrv.PermWrite) == 0 {
		return errResponse(req, protocol.SystemError, "perm %d: want 2 (W), 4 (R) or 6 (RW)", perm)
	}
	old, existed, err := b.topics.put(topicConfig{Name: topic, ReadQueues: read, WriteQueues: write, Perm: perm})
	if err != nil {
		return errResponse(req, protocol.SystemError, "save topic: %v", err)
	}
	if existed && (old.ReadQueues != read || old.WriteQueues != write) {
		b.notifyChanged(b.groupsSubscribedTo(topic))
	}
	return okResponse(req)
}

func (b *Broker) groupsSubscribedTo(topic string) []string {
	b.clients.mu.Lock()
	defer b.clients.mu.Unlock()
	var out []string
	for name, g := range b.clients.consumers {
		if _, ok := g.subs[topic]; ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// handleDeleteTopic serves DELETE_TOPIC_IN_BROKER: the topic's config, its
// queues' data and the consumer offsets on it go. Deleting a topic that does
// not exist succeeds, as in Apache RocketMQ (deleteSubGroup deletes the
// group's retry and dead-letter topics whether they exist or not).
func (b *Broker) handleDeleteTopic(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	topic := f.String("topic")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	if isFixedTopic(topic) {
		return errResponse(req, protocol.SystemError, "the topic[%s] is a system topic and cannot be deleted", topic)
	}
	if _, err := b.topics.remove(topic); err != nil {
		return errResponse(req, protocol.SystemError, "delete topic: %v", err)
	}
	if err := b.store.DeleteTopic(topic); err != nil {
		return errResponse(req, protocol.SystemError, "delete topic data: %v", err)
	}
	b.offsets.removeWhere(func(k offsetKey) bool { return k.Topic == topic })
	return okResponse(req)
}

// --- reset offsets ---------------------------------------------------------

// handleResetOffset serves INVOKE_BROKER_TO_RESET_OFFSET as Apache's
// Broker2Client.resetOffset: per queue the offset of the first message
// stored at or after timestamp (-1: the end of the queue), moved back only
// unless isForce; the live members of the group get
// RESET_CONSUMER_CLIENT_OFFSET (oneway) with the new offsets, which are also
// committed here. A group with no live member gets CONSUMER_NOT_ONLINE, upon
// which mqadmin resets it itself with GET_CONSUME_STATS and
// UPDATE_CONSUMER_OFFSET.
func (b *Broker) handleResetOffset(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	topic := f.String("topic")
	group := f.String("group")
	ts := f.Int64("timestamp")
	force := f.OptBool("isForce")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	tc, ok, _ := b.topics.get(topic, false)
	if !ok {
		return errResponse(req, protocol.SystemError, "[reset-offset] reset offset failed, no topic in this broker. topic=%s", topic)
	}
	type reset struct {
		q   int32
		off int64
	}
	var resets []reset
	for q := int32(0); q < tc.WriteQueues; q++ {
		cur, ok := b.offsets.get(offsetKey{group, topic, q})
		if !ok {
			cur = -1
		}
		var target int64
		if ts == -1 {
			target = b.store.MaxOffset(topic, q)
		} else {
			target = b.store.OffsetForTimestamp(topic, q, ts)
		}
		if !force && cur >= 0 && target >= cur {
			target = cur
		}
		resets = append(resets, reset{q, target})
	}
	conns := b.clients.consumerConns(group)
	if len(conns) == 0 {
		return errResponse(req, protocol.ConsumerNotOnline, "Consumer not online, so can not reset offset, Group: %s", group)
	}
	var sb strings.Builder
	sb.WriteString(`{"offsetTable":{`)
	for i, r := range resets {
		if i > 0 {
			sb.WriteByte(',')
		}
		b.mqKey(&sb, topic, r.q)
		sb.WriteString(":" + strconv.FormatInt(r.off, 10))
		b.offsets.commit(offsetKey{group, topic, r.q}, r.off)
	}
	sb.WriteString(`}}`)
	body := []byte(sb.String())
	ext := map[string]string{"topic": topic, "group": group, "timestamp": strconv.FormatInt(ts, 10), "isForce": strconv.FormatBool(force)}
	for _, c := range conns {
		go func() {
			if err := c.SendOneway(int16(protocol.ResetConsumerClientOffset), ext, body); err != nil {
				b.log.Debug("reset consumer client offset", "group", group, "remote", c.RemoteAddr(), "err", err)
			}
		}()
	}
	return bodyResponse(req, body)
}

// diskRatio is the used fraction of the file system holding dir, as Java
// prints it (0.0 .. 1.0); "-1" when unknown.
func diskRatio(dir string) string {
	total, free, ok := diskSpace(dir)
	if !ok || total == 0 {
		return "-1"
	}
	return strconv.FormatFloat(float64(total-free)/float64(total), 'f', 4, 64)
}

// dirCapacity renders the file system's size as Java's commitLogDirCapacity
// ("Total : 252.0 GiB, Free : 73.7 GiB.").
func dirCapacity(dir string) string {
	total, free, ok := diskSpace(dir)
	if !ok {
		return "Total : 0 B, Free : 0 B."
	}
	gib := func(n uint64) string { return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB" }
	return "Total : " + gib(total) + ", Free : " + gib(free) + "."
}
