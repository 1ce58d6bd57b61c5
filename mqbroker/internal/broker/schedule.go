package broker

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// propScheduleSrc marks a record delivered by the scheduler with the
// "level:offset" of its schedule-queue entry. The scheduler's progress is
// therefore stored in the commit log itself, in the same append as the
// delivery: after a crash, recovery sets each level's progress past the
// last delivered entry, so the broker never delivers a delayed message
// twice and never skips one.
const propScheduleSrc = "__SCHEDULE_SRC"

// toSchedule redirects a message with a delay level into the schedule topic
// (Java HookUtils.handleScheduleMessage): REAL_TOPIC/REAL_QID remember where
// it goes when due.
func (b *Broker) toSchedule(m *message.Message, level int) {
	level, _ = b.cfg.DelayLevels.Clamp(level)
	m.SetProperty(message.PropDelayTimeLevel, strconv.Itoa(level))
	m.SetProperty(message.PropRealTopic, m.Topic)
	m.SetProperty(message.PropRealQueueID, strconv.Itoa(int(m.QueueID)))
	m.Topic, m.QueueID = delay.ScheduleTopic, delay.QueueID(level)
}

// scheduler delivers scheduled messages when due: one FIFO queue per level
// (all messages of a level have the same delay, so each queue is sorted by
// due time and only its head needs watching).
type scheduler struct {
	b      *Broker
	levels delay.Levels
	kick   chan struct{} // a schedule queue got a message

	// runMu serializes deliverDue and carryForward (retention.go), so that
	// an entry is either delivered or carried, never both. Taken before mu.
	runMu sync.Mutex

	mu       sync.Mutex // guards progress, carriedTs, carried
	progress []int64    // per level-1: next schedule-queue offset to deliver
	// carriedTs holds the original store time of entries retention carried
	// forward (their due time is computed from it); deleted on delivery.
	carriedTs map[schedKey]int64
	carried   int64 // entries carried forward since start
}

func newScheduler(b *Broker) *scheduler {
	return &scheduler{b: b, levels: b.cfg.DelayLevels, kick: make(chan struct{}, 1),
		progress: make([]int64, len(b.cfg.DelayLevels)), carriedTs: make(map[schedKey]int64)}
}

// recoverRecord advances progress past a delivered record (recovery scan).
func (s *scheduler) recoverRecord(m *message.Message) {
	if m.Topic == delay.ScheduleTopic {
		if m.Properties[propCarriedSrc] != "" {
			s.recoverCarried(m)
		}
		return
	}
	src := m.Properties[propScheduleSrc]
	if src == "" {
		return
	}
	lvl, off, ok := parseScheduleSrc(src)
	if !ok || lvl < 1 || lvl > len(s.progress) {
		return
	}
	s.progress[lvl-1] = max(s.progress[lvl-1], off+1)
}

func parseScheduleSrc(src string) (level int, offset int64, ok bool) {
	l, o, found := strings.Cut(src, ":")
	if !found {
		return 0, 0, false
	}
	lv, err1 := strconv.Atoi(l)
	of, err2 := strconv.ParseInt(o, 10, 64)
	return lv, of, err1 == nil && err2 == nil
}

func (s *scheduler) onAppend(topic string, _ int32) {
	if topic != delay.ScheduleTopic {
		return
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *scheduler) run(stop <-chan struct{}) {
	clk := s.b.cfg.Clock
	for {
		next, ok := s.deliverDue(clk.Now())
		var timer <-chan time.Time
		if ok {
			t := clk.NewTimer(next.Sub(clk.Now()))
			timer = t.C()
			select {
			case <-stop:
				t.Stop()
				return
			case <-s.kick:
				t.Stop()
			case <-timer:
			}
			continue
		}
		select {
		case <-stop:
			return
		case <-s.kick:
		}
	}
}

// deliverDue delivers every due message and returns when the next one is
// due (ok false when nothing is pending).
func (s *scheduler) deliverDue(now time.Time) (next time.Time, ok bool) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	for lvl := 1; lvl <= len(s.levels); lvl++ {
		for {
			s.mu.Lock()
			off := s.progress[lvl-1]
			s.mu.Unlock()
			if minOff := s.b.store.MinOffset(delay.ScheduleTopic, delay.QueueID(lvl)); off < minOff {
				// Deleted by retention after delivery, or lost to a repaired hole.
				s.mu.Lock()
				s.progress[lvl-1] = max(s.progress[lvl-1], minOff)
				s.mu.Unlock()
				continue
			}
			phys, storeTs, found := s.b.store.QueueEntry(delay.ScheduleTopic, delay.QueueID(lvl), off)
			if !found {
				break
			}
			if phys < 0 { // lost to a repaired hole
				s.mu.Lock()
				s.progress[lvl-1] = off + 1
				s.mu.Unlock()
				continue
			}
			if orig, carried := s.dueTs(lvl, off); carried {
				storeTs = orig
			}
			due := s.levels.Due(lvl, storeTs)
			if due.After(now) {
				if !ok || due.Before(next) {
					next, ok = due, true
				}
				break
			}
			if err := s.deliver(lvl, off, phys); err != nil {
				s.b.log.Error("deliver delayed message", "level", lvl, "offset", off, "err", err)
				retry := now.Add(time.Second)
				if !ok || retry.Before(next) {
					next, ok = retry, true
				}
				break
			}
		}
	}
	return next, ok
}

// deliver stores a due entry's message in its real topic. One that cannot
// be (unreadable, or its properties do not fit with __SCHEDULE_SRC: stored
// before sends reserved room for it) is set aside to deadLetterTopic,
// counted and logged, and the level moves on; only an I/O failure returns
// an error (retried a second later).
func (s *scheduler) deliver(level int, off, phys int64) error {
	src := strconv.Itoa(level) + ":" + strconv.FormatInt(off, 10)
	// The delivered copy (or the set-aside) and the level's progress change
	// together under stateMu, as the checkpoint needs (state.go).
	s.b.stateMu.RLock()
	defer s.b.stateMu.RUnlock()
	m, err := s.b.store.Read(phys)
	if err != nil {
		if err := s.b.setAside(asideDelivery, phys, nil, src, fmt.Errorf("read: %w", err), "level", level, "queue_offset", off); err != nil {
			return err
		}
	} else {
		out := s.b.realMessage(m)
		delete(out.Properties, message.PropDelayTimeLevel)
		out.SetProperty(propScheduleSrc, src)
		if _, err := s.b.store.Put(out); err != nil {
			if err := s.b.setAside(asideDelivery, phys, m, src, err, "level", level, "queue_offset", off,
				"topic", out.Topic, "msg_id", m.UniqKey()); err != nil {
				return err
			}
		}
	}
	s.mu.Lock()
	s.progress[level-1] = off + 1
	delete(s.carriedTs, schedKey{level, off})
	s.mu.Unlock()
	return nil
}

// realMessage copies a parked (scheduled or half) message back to its
// REAL_TOPIC/REAL_QID, keeping body, flags, born data, reconsume times and
// properties (REAL_* stay, as in Apache RocketMQ).
func (b *Broker) realMessage(m *message.Message) *message.Message {
	out := m.Clone()
	deleteCarried(out)
	out.Topic = m.Properties[message.PropRealTopic]
	q, _ := strconv.Atoi(m.Properties[message.PropRealQueueID])
	out.QueueID = int32(q)
	if tc, ok, _ := b.topics.get(out.Topic, true); ok && (out.QueueID < 0 || out.QueueID >= tc.WriteQueues) {
		out.QueueID = int32(uint32(out.QueueID) % uint32(tc.WriteQueues))
	}
	out.StoreHost = b.storeHost
	return out
}

// DelayLevelStat describes one level's backlog (admin API).
type DelayLevelStat struct {
	Level     int       `json:"level"`
	Delay     string    `json:"delay"`
	Pending   int64     `json:"pending"`
	NextDueAt time.Time `json:"nextDueAt,omitzero"`
}

func (s *scheduler) stats() []DelayLevelStat {
	out := make([]DelayLevelStat, 0, len(s.levels))
	for lvl := 1; lvl <= len(s.levels); lvl++ {
		s.mu.Lock()
		off := s.progress[lvl-1]
		s.mu.Unlock()
		st := DelayLevelStat{Level: lvl, Delay: delay.Levels{s.levels.Delay(lvl)}.String(),
			Pending: max(0, s.b.store.MaxOffset(delay.ScheduleTopic, delay.QueueID(lvl))-off)}
		if _, ts, ok := s.b.store.QueueEntry(delay.ScheduleTopic, delay.QueueID(lvl), off); ok {
			st.NextDueAt = s.levels.Due(lvl, ts)
		}
		out = append(out, st)
	}
	return out
}
