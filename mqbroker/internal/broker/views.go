package broker

import (
	"sort"
	"strings"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/console"
	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// Limits on how many records one console view reads from the commit log.
const (
	viewDelayedPerLevel = 20  // pending delayed messages listed per level
	viewHalfKeys        = 200 // half messages whose KEYS are read
)

// brokerView answers the console's and the admin API's questions from the
// broker's tables (console.Source). It takes each table's lock in turn,
// never two at once, and reads the store outside them.
type brokerView struct{ b *Broker }

func (b *Broker) view() brokerView { return brokerView{b} }

var _ console.Source = brokerView{}

func (v brokerView) Queues() []console.Queue {
	qs := v.b.store.Queues()
	out := make([]console.Queue, len(qs))
	for i, q := range qs {
		out[i] = console.Queue(q)
	}
	return out
}

// Groups lists every consumer group that is connected or has committed an
// offset, with its position and lag on each queue of its topics.
func (v brokerView) Groups() []console.Group {
	byName := map[string]*console.Group{}
	topics := map[string]map[string]bool{}
	get := func(name string) *console.Group {
		g := byName[name]
		if g == nil {
			g = &console.Group{Group: name, Clients: []string{}, Topics: []string{}}
			byName[name] = g
			topics[name] = map[string]bool{}
		}
		return g
	}
	for _, gi := range v.b.clients.groups() {
		g := get(gi.Group)
		g.Model, g.FromWhere, g.Online = gi.Model, gi.FromWhere, len(gi.Clients) > 0
		g.Clients = append(g.Clients, gi.Clients...)
		for _, t := range gi.Topics {
			topics[gi.Group][t] = true
		}
	}
	committed := map[offsetKey]int64{}
	for _, o := range v.b.offsets.snapshot() {
		get(o.Group)
		topics[o.Group][o.Topic] = true
		committed[offsetKey{o.Group, o.Topic, o.QueueID}] = o.Offset
	}
	queues := map[string][]console.Queue{}
	for _, q := range v.Queues() {
		queues[q.Topic] = append(queues[q.Topic], q)
	}
	out := make([]console.Group, 0, len(byName))
	for name, g := range byName {
		for t := range topics[name] {
			g.Topics = append(g.Topics, t)
		}
		sort.Strings(g.Topics)
		for _, t := range g.Topics {
			for _, q := range queues[t] {
				c, ok := committed[offsetKey{name, t, q.QueueID}]
				if !ok {
					c = -1
				}
				gq := console.GroupQueue{Topic: t, QueueID: q.QueueID, Committed: c, MaxOffset: q.MaxOffset,
					Lag: max(0, q.MaxOffset-max(c, q.MinOffset))}
				g.Queues = append(g.Queues, gq)
				if t == retryPrefix+name {
					g.RetryDepth += gq.Lag
				} else {
					g.Lag += gq.Lag
				}
			}
		}
		for _, q := range queues[dlqPrefix+name] {
			g.DLQDepth += q.MaxOffset - q.MinOffset
		}
		if g.Queues == nil {
			g.Queues = []console.GroupQueue{}
		}
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

func (v brokerView) Halves() []console.Half {
	now := v.b.clock.Now()
	hs := v.b.txn.stats()
	out := make([]console.Half, len(hs))
	for i, h := range hs {
		out[i] = console.Half{CommitLogOffset: h.CommitLogOffset, Group: h.Group, Topic: h.Topic, MsgID: h.MsgID,
			StoredAt: h.StoredAt, AgeSeconds: now.Sub(h.StoredAt).Seconds(), Checks: h.Checks}
		if i < viewHalfKeys {
			if m, err := v.b.store.Read(h.StoredAtOffset); err == nil {
				out[i].Keys = m.Keys()
			}
		}
	}
	return out
}

func (v brokerView) Delays() []console.DelayLevel {
	s := v.b.sched
	stats := s.stats()
	out := make([]console.DelayLevel, len(stats))
	for i, l := range stats {
		out[i] = console.DelayLevel{Level: l.Level, Delay: l.Delay, Pending: l.Pending, NextDueAt: l.NextDueAt}
		if l.Pending > 0 {
			out[i].Messages = s.pendingMessages(l.Level, viewDelayedPerLevel)
		}
	}
	return out
}

// pendingMessages lists up to limit messages of a level not delivered yet.
func (s *scheduler) pendingMessages(level, limit int) []console.Delayed {
	s.mu.Lock()
	from := s.progress[level-1]
	s.mu.Unlock()
	var out []console.Delayed
	for off := from; len(out) < limit; off++ {
		phys, ts, ok := s.b.store.QueueEntry(delay.ScheduleTopic, delay.QueueID(level), off)
		if !ok {
			break
		}
		m, err := s.b.store.Read(phys)
		if err != nil {
			continue
		}
		real := m.Properties[message.PropRealTopic]
		out = append(out, console.Delayed{MsgID: m.MsgID(), OffsetMsgID: message.OffsetMsgID(m.StoreHost, phys),
			Topic: real, Keys: m.Keys(), Retry: strings.HasPrefix(real, retryPrefix),
			StoredAt: time.UnixMilli(ts), DueAt: s.levels.Due(level, ts)})
	}
	return out
}

func (v brokerView) Lookup(key string) []console.Message { return v.b.lookup(key) }

// Message finds a message by offset message id, else by UNIQ_KEY (its
// first stored copy), and attaches its trace: every copy with its UNIQ_KEY.
func (v brokerView) Message(id string) (console.Message, bool) {
	var m console.Message
	found := false
	if _, phys, err := message.ParseOffsetMsgID(id); err == nil {
		if rec, err := v.b.store.Read(phys); err == nil {
			m, found = v.b.messageView(rec, v.b.deliveries()), true
		}
	}
	var trace []console.Message
	if !found {
		trace = v.b.lookup(id)
		for _, c := range trace {
			if c.MsgID == id {
				m, found = c, true
				break
			}
		}
	}
	if !found {
		return console.Message{}, false
	}
	if uk := m.Properties[message.PropUniqKey]; uk != "" && uk != id {
		trace = v.b.lookup(uk)
	}
	if len(trace) == 0 {
		trace = []console.Message{m}
	}
	m.Trace = trace
	return m, true
}

func (v brokerView) Stats() console.Stats {
	mt := v.b.metrics
	now := time.Now()
	in, out := mt.totalIn.Load(), mt.totalOut.Load()
	s := console.Stats{At: now, StartedAt: mt.started, MessagesIn: in, MessagesOut: out,
		BytesIn: mt.totalBytesIn.Load(), BytesOut: mt.totalBytesOut.Load(), Fsyncs: v.b.store.Stats().Fsyncs,
		PendingHalf: v.b.txn.pendingCount()}
	s.SendRate, s.ConsumeRate = mt.rates.rate(now, in, out, 10*time.Second)
	s.SendRate60, s.ConsumeRate60 = mt.rates.rate(now, in, out, rateWindow)
	s.SendSeries, s.ConsumeSeries = mt.rates.series()
	for _, l := range v.b.sched.stats() {
		s.PendingDelayed += l.Pending
	}
	topics := map[string]bool{}
	for _, q := range v.b.store.Queues() {
		topics[q.Topic] = true
	}
	s.Topics, s.Groups = len(topics), len(v.Groups())
	st := v.b.storeStats()
	s.StoreBytes, s.DiskFull, s.OldestMessageAt = st.LogBytes, st.DiskFull, st.Oldest
	if st.FSSize > 0 {
		s.DiskUsedPercent = float64(st.FSUsed) * 100 / float64(st.FSSize)
	}
	s.RetentionSegments, s.RetentionBytes, s.RetentionMessages = st.Retention.Segments, st.Retention.Bytes, st.Retention.Messages
	s.CarriedForward = st.CarriedForward
	return s
}

// deliveries indexes committed offsets by queue: which groups consumed how far.
type deliveries map[queueKey][]groupOffset

type groupOffset struct {
	group  string
	offset int64
}

func (b *Broker) deliveries() deliveries {
	d := deliveries{}
	for _, o := range b.offsets.snapshot() {
		k := queueKey{o.Topic, o.QueueID}
		d[k] = append(d[k], groupOffset{o.Group, o.Offset})
	}
	return d
}

// deliveredTo lists the groups whose committed offset on the message's
// queue is past it: they consumed it (cheap, and exact for clustering
// consumers, which commit only what their listener acknowledged).
func (d deliveries) deliveredTo(topic string, queueID int32, queueOffset int64) []string {
	var out []string
	for _, g := range d[queueKey{topic, queueID}] {
		if g.offset > queueOffset {
			out = append(out, g.group)
		}
	}
	sort.Strings(out)
	return out
}

// stage names a record's role in its message's trace.
func stage(m *message.Message) string {
	switch {
	case m.Topic == halfTopic:
		return console.StageHalf
	case m.Topic == delay.ScheduleTopic:
		if strings.HasPrefix(m.Properties[message.PropRealTopic], retryPrefix) {
			return console.StageRetry
		}
		return console.StageDelayed
	case strings.HasPrefix(m.Topic, retryPrefix):
		return console.StageRetry
	case strings.HasPrefix(m.Topic, dlqPrefix):
		return console.StageDLQ
	case m.Properties[propScheduleSrc] != "":
		return console.StageDue
	case m.SysFlag&message.SysFlagTransactionMask == message.SysFlagTransactionCommit:
		return console.StageCommitted
	}
	return console.StageStored
}
