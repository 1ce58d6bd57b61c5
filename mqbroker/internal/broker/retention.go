package broker

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/store"
)

// Properties of records that retention carried forward (re-appended
// before deleting the segment holding the original). They let recovery
// treat the copy as the original.
const (
	// propCarriedFrom is on a carried half message: the commit-log offset
	// of the original, which stays the half's id (producers answer with it).
	propCarriedFrom = "__CARRIED_FROM"
	// propCarriedQueueOffset, propCarriedChecks and propCarriedStoreTs keep
	// the original half's tranStateTableOffset, checks so far and store time.
	propCarriedQueueOffset = "__CARRIED_QOFF"
	propCarriedChecks      = "__CARRIED_CHECKS"
	propCarriedStoreTs     = "__CARRIED_STORE_TS"
	// propCarriedSrc is on a carried scheduled message: "level:offset" of
	// the original schedule-queue entry, which the scheduler then skips.
	propCarriedSrc = "__CARRIED_SRC"
)

// deleteCarried removes retention's marks from a message that leaves the
// schedule or half topic (delivered, committed, checked back, retried) or
// comes from a client: recovery trusts them.
func deleteCarried(m *message.Message) {
	for _, k := range []string{propCarriedFrom, propCarriedQueueOffset, propCarriedChecks, propCarriedStoreTs, propCarriedSrc} {
		delete(m.Properties, k)
	}
}

// errDecisionInFlight postpones a deletion while a half message in it is
// being decided (the next housekeeping tick tries again).
var errDecisionInFlight = errors.New("a half message in the segment is being decided")

// retain runs the store's retention and refreshes the full-disk flag
// (housekeeping, about once a second).
func (b *Broker) retain() {
	if _, err := b.store.Retain(b.clock.Now()); err != nil && !errors.Is(err, store.ErrClosed) {
		b.log.Warn("retention", "err", err)
	}
	full := b.store.DiskFull()
	if full != b.diskFull.Swap(full) {
		if full {
			b.log.Error("data dir file system is above the full-disk limit: refusing sends", "percent", store.DiskFullPercent)
		} else {
			b.log.Info("data dir file system below the full-disk limit again: accepting sends")
		}
	}
}

// carryForward is the store's BeforeDelete hook: before the segments below
// upTo go, it re-appends every undecided half message and every scheduled
// message not yet delivered that is stored there, so retention never loses
// a saga's compensation or a payment timeout (Apache RocketMQ does).
func (b *Broker) carryForward(upTo int64) error {
	if err := b.txn.carryForward(upTo); err != nil {
		return err
	}
	return b.sched.carryForward(upTo)
}

// carryForward re-appends the undecided halves stored below upTo. They
// are claimed meanwhile (a decision arriving then is refused, and the
// producer is asked again by the next check-back).
func (t *txnService) carryForward(upTo int64) error {
	t.mu.Lock()
	var ps []*pendingHalf
	for _, p := range t.pending {
		if p.at < upTo && p.deciding {
			t.mu.Unlock()
			return errDecisionInFlight
		}
		if p.at < upTo {
			ps = append(ps, p)
		}
	}
	for _, p := range ps {
		p.deciding = true
	}
	t.mu.Unlock()
	var err error
	for _, p := range ps {
		if err == nil {
			err = t.carry(p)
		}
		t.unclaim(p)
	}
	return err
}

// carry re-appends one claimed half and points it at the copy. A half that
// cannot be re-appended (unreadable, or its properties no longer fit with
// the marks: stored before sends reserved room for them) is set aside: its
// record goes to deadLetterTopic, a discard op record ends it, and it is
// counted and logged with its group, topic and msg id — it never stops
// retention, and never disappears without a trace. Only an I/O failure
// returns an error (retention tries again on its next tick).
func (t *txnService) carry(p *pendingHalf) error {
	t.mu.Lock()
	at, checks, stored := p.at, p.checks, p.stored
	t.mu.Unlock()
	// The copy (or the set-aside and its discard op) and the half's new
	// place change together under stateMu, as the checkpoint needs (state.go).
	t.b.stateMu.RLock()
	defer t.b.stateMu.RUnlock()
	half, err := t.b.store.Read(at)
	if err != nil {
		return t.setAside(p, nil, fmt.Errorf("read: %w", err))
	}
	c := half.Clone()
	c.SetProperty(propCarriedFrom, strconv.FormatInt(p.phys, 10))
	c.SetProperty(propCarriedQueueOffset, strconv.FormatInt(p.queueOffset, 10))
	c.SetProperty(propCarriedChecks, strconv.Itoa(checks))
	c.SetProperty(propCarriedStoreTs, strconv.FormatInt(stored.UnixMilli(), 10))
	if _, err := t.b.store.Put(c); err != nil {
		return t.setAside(p, half, err)
	}
	t.b.log.Info("retention: carried an undecided half message forward", "id", p.phys, "from", p.at, "to", c.PhysicalOffset)
	t.mu.Lock()
	p.at = c.PhysicalOffset
	t.carried++
	t.mu.Unlock()
	return nil
}

// setAside ends a claimed half that cannot be carried forward (see carry).
func (t *txnService) setAside(p *pendingHalf, half *message.Message, why error) error {
	if err := t.b.setAside(asideHalf, p.phys, half, "", why, "group", p.group, "topic", p.realTopic,
		"msg_id", p.uniqKey, "undecided", true); err != nil {
		return err
	}
	if err := t.b.putOp(p, opDiscard, strconv.Itoa(p.checks)); err != nil {
		return fmt.Errorf("set aside half message %d: %w", p.phys, err)
	}
	t.decided(p)
	return nil
}

// recoverCarried replays a carried half (recovery): it replaces the
// original, keeping its id, queue offset, checks and store time.
func (t *txnService) recoverCarried(m *message.Message) bool {
	from, err := strconv.ParseInt(m.Properties[propCarriedFrom], 10, 64)
	if err != nil {
		return false
	}
	p := newPendingHalf(m)
	p.phys = from
	if q, err := strconv.ParseInt(m.Properties[propCarriedQueueOffset], 10, 64); err == nil {
		p.queueOffset = q
	}
	if n, err := strconv.Atoi(m.Properties[propCarriedChecks]); err == nil {
		p.checks = n
	}
	if ms, err := strconv.ParseInt(m.Properties[propCarriedStoreTs], 10, 64); err == nil {
		p.stored = time.UnixMilli(ms)
	}
	if old := t.pending[from]; old != nil {
		p.checks, p.lastCheck = max(p.checks, old.checks), old.lastCheck
	}
	t.pending[from] = p
	return true
}

// carryForward re-appends the scheduled messages not yet delivered that are
// stored below upTo, at the end of their level's queue, and moves the
// level's progress past the originals. A copy keeps its original due time;
// it is delivered when it is due and the entries queued before it have
// been, so at most one level delay late (never early, never lost).
func (s *scheduler) carryForward(upTo int64) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	st := s.b.store
	for lvl := 1; lvl <= len(s.levels); lvl++ {
		minOff := st.MinOffset(delay.ScheduleTopic, delay.QueueID(lvl))
		s.mu.Lock()
		off := max(s.progress[lvl-1], minOff)
		s.mu.Unlock()
		for {
			phys, storeTs, ok := st.QueueEntry(delay.ScheduleTopic, delay.QueueID(lvl), off)
			if !ok || phys >= upTo {
				break
			}
			if phys >= 0 {
				// The copy, its due time and the level's progress change
				// together under stateMu, as the checkpoint needs (state.go).
				s.b.stateMu.RLock()
				err := s.carry(lvl, off, phys, storeTs)
				if err == nil {
					s.mu.Lock()
					s.progress[lvl-1] = max(s.progress[lvl-1], off+1)
					s.mu.Unlock()
				}
				s.b.stateMu.RUnlock()
				if err != nil {
					return err
				}
			}
			off++
			s.mu.Lock()
			s.progress[lvl-1] = max(s.progress[lvl-1], off)
			s.mu.Unlock()
		}
	}
	return nil
}

// carry re-appends one pending scheduled entry (runMu held). One that
// cannot be re-appended (unreadable, or its properties no longer fit with
// the marks) is set aside to deadLetterTopic, counted and logged; it never
// stops retention. Only an I/O failure returns an error.
func (s *scheduler) carry(lvl int, off, phys, storeTs int64) error {
	st := s.b.store
	m, err := st.Read(phys)
	if err != nil {
		return s.b.setAside(asideScheduled, phys, nil, "", fmt.Errorf("read: %w", err), "level", lvl, "queue_offset", off)
	}
	if orig, ok := s.dueTs(lvl, off); ok {
		storeTs = orig
	}
	c := m.Clone()
	c.SetProperty(propCarriedSrc, strconv.Itoa(lvl)+":"+strconv.FormatInt(off, 10))
	c.SetProperty(propCarriedStoreTs, strconv.FormatInt(storeTs, 10))
	if _, err := st.Put(c); err != nil {
		return s.b.setAside(asideScheduled, phys, m, "", err, "level", lvl, "queue_offset", off,
			"topic", m.Properties[message.PropRealTopic], "msg_id", m.UniqKey())
	}
	s.mu.Lock()
	s.carriedTs[schedKey{lvl, c.QueueOffset}] = storeTs
	s.carried++
	s.mu.Unlock()
	return nil
}

// schedKey names one schedule-queue entry.
type schedKey struct {
	level  int
	offset int64
}

// dueTs returns the original store time of a carried entry.
func (s *scheduler) dueTs(level int, off int64) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, ok := s.carriedTs[schedKey{level, off}]
	return ts, ok
}

// recoverCarried replays a carried scheduled message (recovery).
func (s *scheduler) recoverCarried(m *message.Message) {
	lvl, off, ok := parseScheduleSrc(m.Properties[propCarriedSrc])
	if !ok || lvl < 1 || lvl > len(s.progress) {
		return
	}
	s.progress[lvl-1] = max(s.progress[lvl-1], off+1)
	if ts, err := strconv.ParseInt(m.Properties[propCarriedStoreTs], 10, 64); err == nil {
		s.carriedTs[schedKey{lvl, m.QueueOffset}] = ts
	}
}

// storeStats is the store's size and retention state (metrics, console).
type storeStats struct {
	LogBytes       int64
	FSUsed, FSSize uint64
	Oldest         time.Time
	Retention      store.RetentionStats
	CarriedForward int64
	DiskFull       bool
}

func (b *Broker) storeStats() storeStats {
	st := storeStats{LogBytes: b.store.LogBytes(), Retention: b.store.RetentionStats(), DiskFull: b.diskFull.Load()}
	if used, size, ok := b.store.DiskUsage(); ok {
		st.FSUsed, st.FSSize = used, size
	}
	st.Oldest, _ = b.store.OldestStoreTime()
	b.txn.mu.Lock()
	st.CarriedForward = b.txn.carried
	b.txn.mu.Unlock()
	b.sched.mu.Lock()
	st.CarriedForward += b.sched.carried
	b.sched.mu.Unlock()
	return st
}
