package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/store"
)

// The services' state in the store's checkpoint (store doc.go "Checkpoint"), so that a restart
// does not scan the whole commit log to rebuild it: the undecided half messages and the
// scheduler's progress, as of a commit-log offset upTo. Open loads it and replays only the
// records from upTo on through recoverRecord, which is idempotent on top of it (a record from
// upTo on is either not reflected yet or, replayed, sets what it already set).
//
// Exactness comes from stateMu: every Put that changes this state (a half send, a decision, a
// check, a discard, a scheduled delivery, a carry-forward) holds it shared together with the
// in-memory change; saveState holds it exclusively while it reads the commit-log end and copies
// the state. So every such record below upTo is reflected and none at or above it is.

// svcState is the checkpointed state, JSON, version 1.
type svcState struct {
	Version  int          `json:"version"`
	Progress []int64      `json:"progress"` // per delay level - 1: next schedule-queue offset
	Carried  []stateSched `json:"carried,omitempty"`
	Pending  []stateHalf  `json:"pending,omitempty"`
	Levels   int          `json:"levels"`
}

type stateSched struct {
	Level   int   `json:"level"`
	Offset  int64 `json:"offset"`
	StoreTs int64 `json:"storeTs"`
}

type stateHalf struct {
	Phys        int64  `json:"phys"`
	QueueOffset int64  `json:"queueOffset"`
	At          int64  `json:"at"`
	Group       string `json:"group"`
	UniqKey     string `json:"uniqKey,omitempty"`
	RealTopic   string `json:"realTopic,omitempty"`
	StoredMs    int64  `json:"storedMs"`
	ImmunityMs  int64  `json:"immunityMs,omitempty"`
	Checks      int    `json:"checks,omitempty"`
	LastCheckMs int64  `json:"lastCheckMs,omitempty"` // 0: never checked
}

// saveState is the store's SaveState hook.
func (b *Broker) saveState(st *store.Store) (int64, []byte, error) {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	upTo := st.End()
	s := svcState{Version: 1, Levels: len(b.sched.progress)}
	b.sched.mu.Lock()
	s.Progress = append([]int64(nil), b.sched.progress...)
	for k, ts := range b.sched.carriedTs {
		s.Carried = append(s.Carried, stateSched{Level: k.level, Offset: k.offset, StoreTs: ts})
	}
	b.sched.mu.Unlock()
	b.txn.mu.Lock()
	for _, p := range b.txn.pending {
		h := stateHalf{Phys: p.phys, QueueOffset: p.queueOffset, At: p.at, Group: p.group, UniqKey: p.uniqKey,
			RealTopic: p.realTopic, StoredMs: p.stored.UnixMilli(), ImmunityMs: p.immunity.Milliseconds(), Checks: p.checks}
		if !p.lastCheck.IsZero() {
			h.LastCheckMs = p.lastCheck.UnixMilli()
		}
		s.Pending = append(s.Pending, h)
	}
	b.txn.mu.Unlock()
	sort.Slice(s.Pending, func(i, j int) bool { return s.Pending[i].Phys < s.Pending[j].Phys })
	sort.Slice(s.Carried, func(i, j int) bool {
		if s.Carried[i].Level != s.Carried[j].Level {
			return s.Carried[i].Level < s.Carried[j].Level
		}
		return s.Carried[i].Offset < s.Carried[j].Offset
	})
	out, err := json.Marshal(s)
	if err != nil {
		return 0, nil, fmt.Errorf("encode broker state: %w", err)
	}
	return upTo, out, nil
}

// loadState is the store's LoadState hook (Open, before any recoverRecord). It changes nothing
// unless the whole state decodes.
func (b *Broker) loadState(data []byte) error {
	var s svcState
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("broker state: %w", err)
	}
	if s.Version != 1 {
		return fmt.Errorf("broker state: unknown version %d", s.Version)
	}
	if s.Levels != len(b.sched.progress) || len(s.Progress) != s.Levels {
		return errors.New("broker state: the number of delay levels changed")
	}
	carried := make(map[schedKey]int64, len(s.Carried))
	for _, c := range s.Carried {
		if c.Level < 1 || c.Level > s.Levels {
			return fmt.Errorf("broker state: carried entry of level %d", c.Level)
		}
		carried[schedKey{c.Level, c.Offset}] = c.StoreTs
	}
	pending := make(map[int64]*pendingHalf, len(s.Pending))
	for _, h := range s.Pending {
		p := &pendingHalf{phys: h.Phys, queueOffset: h.QueueOffset, at: h.At, group: h.Group, uniqKey: h.UniqKey,
			realTopic: h.RealTopic, stored: time.UnixMilli(h.StoredMs), immunity: time.Duration(h.ImmunityMs) * time.Millisecond,
			checks: h.Checks}
		if h.LastCheckMs != 0 {
			p.lastCheck = time.UnixMilli(h.LastCheckMs)
		}
		pending[h.Phys] = p
	}
	b.sched.progress = s.Progress
	b.sched.carriedTs = carried
	b.txn.pending = pending
	return nil
}
