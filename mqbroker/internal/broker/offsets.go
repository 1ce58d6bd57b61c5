package broker

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

const offsetsFileName = "consumer_offsets.json"

// offsetKey names one group's position in one queue.
type offsetKey struct {
	Group   string
	Topic   string
	QueueID int32
}

// offsetTable holds committed consumer offsets (the next offset to consume)
// and persists them to <dir>/consumer_offsets.json every second while
// dirty and on close. A crash loses at most the last second of commits:
// consumers then re-receive those messages (at-least-once).
type offsetTable struct {
	path string

	mu      sync.Mutex // guards offsets, dirty
	offsets map[offsetKey]int64
	dirty   bool
}

type offsetRecord struct {
	Group   string `json:"group"`
	Topic   string `json:"topic"`
	QueueID int32  `json:"queueId"`
	Offset  int64  `json:"offset"`
}

func loadOffsets(dir string) (*offsetTable, error) {
	t := &offsetTable{path: filepath.Join(dir, offsetsFileName), offsets: make(map[offsetKey]int64)}
	b, err := os.ReadFile(t.path)
	if os.IsNotExist(err) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read offsets: %w", err)
	}
	var list []offsetRecord
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("read %s: %w", t.path, err)
	}
	for _, r := range list {
		t.offsets[offsetKey{r.Group, r.Topic, r.QueueID}] = r.Offset
	}
	return t, nil
}

func (t *offsetTable) get(k offsetKey) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.offsets[k]
	return o, ok
}

// commit stores an offset; negative offsets (the client's "unknown") are ignored.
func (t *offsetTable) commit(k offsetKey, off int64) {
	if off < 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.offsets[k]; ok && old == off {
		return
	}
	t.offsets[k] = off
	t.dirty = true
}

// snapshot returns all offsets of a group (admin API).
func (t *offsetTable) snapshot() []offsetRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]offsetRecord, 0, len(t.offsets))
	for k, o := range t.offsets {
		out = append(out, offsetRecord{k.Group, k.Topic, k.QueueID, o})
	}
	return out
}

// persist writes the table if it changed.
func (t *offsetTable) persist() error {
	t.mu.Lock()
	if !t.dirty {
		t.mu.Unlock()
		return nil
	}
	list := make([]offsetRecord, 0, len(t.offsets))
	for k, o := range t.offsets {
		list = append(list, offsetRecord{k.Group, k.Topic, k.QueueID, o})
	}
	t.dirty = false
	t.mu.Unlock()
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(t.path, b); err != nil {
		t.mu.Lock()
		t.dirty = true
		t.mu.Unlock()
		return fmt.Errorf("persist offsets: %w", err)
	}
	return nil
}

// locks grants orderly consumers exclusive ownership of queues
// (LOCK_BATCH_MQ). A lock not renewed within lockTTL expires.
type lockTable struct {
	mu    sync.Mutex // guards locks
	locks map[lockKey]lockEntry
}

type lockKey struct {
	Group, Topic string
	QueueID      int32
}

type lockEntry struct {
	clientID string
	renewed  time.Time
}

const lockTTL = 60 * time.Second

type mq struct {
	Topic      string `json:"topic"`
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
}

// lock locks every queue it can for clientID and returns those it holds.
func (l *lockTable) lock(group, clientID string, queues []mq, now time.Time) []mq {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.locks == nil {
		l.locks = make(map[lockKey]lockEntry)
	}
	held := make([]mq, 0, len(queues))
	for _, q := range queues {
		k := lockKey{group, q.Topic, q.QueueID}
		e, ok := l.locks[k]
		if !ok || e.clientID == clientID || now.Sub(e.renewed) > lockTTL {
			l.locks[k] = lockEntry{clientID, now}
			held = append(held, q)
		}
	}
	return held
}

func (l *lockTable) unlock(group, clientID string, queues []mq) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, q := range queues {
		k := lockKey{group, q.Topic, q.QueueID}
		if e, ok := l.locks[k]; ok && e.clientID == clientID {
			delete(l.locks, k)
		}
	}
}

// releaseClients drops every lock held by the given clients.
func (l *lockTable) releaseClients(ids []string) {
	if len(ids) == 0 {
		return
	}
	gone := make(map[string]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, e := range l.locks {
		if gone[e.clientID] {
			delete(l.locks, k)
		}
	}
}

// waiters wakes long-polling pulls when their queue gets a message.
type waiters struct {
	mu sync.Mutex // guards ch
	ch map[queueKey]chan struct{}
}

type queueKey struct {
	Topic   string
	QueueID int32
}

// wait returns a channel closed at the next append to the queue. Take it
// before reading the queue, so an append in between is not missed.
func (w *waiters) wait(k queueKey) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(map[queueKey]chan struct{})
	}
	c, ok := w.ch[k]
	if !ok {
		c = make(chan struct{})
		w.ch[k] = c
	}
	return c
}

func (w *waiters) notify(topic string, queueID int32) {
	k := queueKey{topic, queueID}
	w.mu.Lock()
	c, ok := w.ch[k]
	if ok {
		delete(w.ch, k)
	}
	w.mu.Unlock()
	if ok {
		close(c)
	}
}
