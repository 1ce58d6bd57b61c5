package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// stateFileName is the store's small state file (doc.go, "State file").
const stateFileName = "state.json"

// storeState is the content of the state file, version 1.
type storeState struct {
	Version int `json:"version"`
	// MinPhysicalOffset: every segment that starts below it has been deleted (recovery finishes
	// a deletion interrupted by a crash).
	MinPhysicalOffset int64 `json:"minPhysicalOffset"`
	// End is the commit-log end when the file was written: a commit log found empty continues
	// from there, so physical offsets never repeat.
	End           int64          `json:"end"`
	Queues        []stateQueue   `json:"queues"`
	DeletedTopics []stateDeleted `json:"deletedTopics,omitempty"`
}

type stateQueue struct {
	Topic     string `json:"topic"`
	QueueID   int32  `json:"queueId"`
	MinOffset int64  `json:"minOffset"`
}

type stateDeleted struct {
	Topic string `json:"topic"`
	// Before is the commit-log end when the topic was deleted: its records below it are gone.
	Before int64 `json:"before"`
}

// loadQueueBases reads the state file, if any (recovery only: no locks).
func (s *Store) loadQueueBases() error {
	path := filepath.Join(s.opts.Dir, stateFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: read %s: %w", path, err)
	}
	s.stateCRC = crc32.Checksum(b, castagnoli)
	var st storeState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	if st.Version != 1 {
		return fmt.Errorf("%w: %s: unknown version %d", ErrCorrupt, path, st.Version)
	}
	s.stateQueues = st.Queues // applied by a full rebuild (a checkpoint holds them already)
	for _, d := range st.DeletedTopics {
		s.deletedTopics[d.Topic] = d.Before
	}
	s.baseEnd = st.End
	s.stateMinPhys = st.MinPhysicalOffset
	return nil
}

// stateLocked snapshots the state file's content; idxMu held.
func (s *Store) stateLocked(minPhys, end int64) storeState {
	st := storeState{Version: 1, MinPhysicalOffset: minPhys, End: end, Queues: []stateQueue{}}
	for topic, qs := range s.topics {
		for id, q := range qs {
			if q.min > 0 {
				st.Queues = append(st.Queues, stateQueue{Topic: topic, QueueID: id, MinOffset: q.min})
			}
		}
	}
	for topic, before := range s.deletedTopics {
		st.DeletedTopics = append(st.DeletedTopics, stateDeleted{Topic: topic, Before: before})
	}
	slices.SortFunc(st.Queues, func(a, b stateQueue) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.QueueID) - int(b.QueueID)
	})
	slices.SortFunc(st.DeletedTopics, func(a, b stateDeleted) int { return strings.Compare(a.Topic, b.Topic) })
	return st
}

// writeState replaces the state file atomically (temp file, fsync, rename, fsync dir); ckptMu
// held (the next checkpoint records the file's CRC).
func (s *Store) writeState(st storeState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("store: encode state: %w", err)
	}
	b = append(b, '\n')
	s.stateCRC = crc32.Checksum(b, castagnoli)
	return writeFileAtomic(s.opts.Dir, stateFileName, b)
}

// RetentionStats says what retention has removed since Open.
type RetentionStats struct {
	Segments int64 // commit-log segments deleted
	Bytes    int64 // their size
	Messages int64 // consume-queue entries that went with them
	// LastDeletedNewest is the store time of the newest record in the last deleted segment.
	LastDeletedNewest time.Time
}

// RetainResult is what one Retain call deleted.
type RetainResult struct {
	Segments int
	Bytes    int64
	Messages int64
	UpTo     int64  // new first commit-log offset
	Reason   string // "retention" or "disk usage"
}

// DiskFullPercent is the file-system usage above which the broker refuses sends.
const DiskFullPercent = 95

// DiskUsage reports the used and total bytes of the file system holding the store, ok false
// where that is not known (platforms without statfs).
func (s *Store) DiskUsage() (used, total uint64, ok bool) { return diskUsage(s.opts.Dir) }

// DiskFull reports whether the store's file system is above DiskFullPercent.
func (s *Store) DiskFull() bool {
	used, total, ok := s.DiskUsage()
	return ok && total > 0 && used*100 > DiskFullPercent*total
}

// Retain deletes whole sealed segments (never the active one), oldest first: those whose newest
// record is older than Options.Retention, and more while the file system is above
// Options.MaxDiskUsage. Options.BeforeDelete runs first. The consume-queue entries and key-index
// entries of deleted records go too, and each queue's min offset moves to its first surviving
// entry (recorded in the state file, so it survives a restart).
func (s *Store) Retain(now time.Time) (RetainResult, error) {
	s.retainMu.Lock()
	defer s.retainMu.Unlock()

	s.appendMu.Lock()
	if s.closed {
		s.appendMu.Unlock()
		return RetainResult{}, ErrClosed
	}
	for _, f := range s.retired {
		f.Close()
	}
	s.retired = nil
	segs := *s.segs.Load()
	maxTs := make([]int64, len(segs))
	for i, seg := range segs {
		maxTs[i] = seg.maxTs
	}
	s.appendMu.Unlock()

	size := func(i int) int64 { return segs[i+1].start - segs[i].start }
	k, reason := 0, "retention"
	if s.opts.Retention > 0 {
		cutoff := now.Add(-s.opts.Retention).UnixMilli()
		for k < len(segs)-1 && maxTs[k] < cutoff {
			k++
		}
	}
	if s.opts.MaxDiskUsage > 0 {
		if used, total, ok := s.DiskUsage(); ok && total > 0 && used*100 > uint64(s.opts.MaxDiskUsage)*total {
			need := int64(used - uint64(s.opts.MaxDiskUsage)*total/100)
			var freed int64
			for i := range k {
				freed += size(i)
			}
			for k < len(segs)-1 && freed < need {
				freed += size(k)
				k++
				reason = "disk usage"
			}
		}
	}
	if k == 0 {
		return RetainResult{}, nil
	}
	upTo := segs[k].start
	if s.opts.BeforeDelete != nil {
		if err := s.opts.BeforeDelete(upTo); err != nil {
			return RetainResult{}, fmt.Errorf("store: retention: before deleting segments below %d: %w", upTo, err)
		}
	}
	// The copies BeforeDelete carried forward must be durable before the state file and the
	// unlinks make the originals' deletion durable (FlushAsync: they may be in the page cache only).
	if err := s.Flush(); err != nil {
		return RetainResult{}, fmt.Errorf("store: retention: flush before deleting segments below %d: %w", upTo, err)
	}

	s.ckptMu.Lock() // no checkpoint between the index change and the state file
	defer s.ckptMu.Unlock()
	res := RetainResult{Segments: k, UpTo: upTo, Reason: reason}
	for i := range k {
		res.Bytes += size(i)
	}
	s.appendMu.Lock()
	if s.closed {
		s.appendMu.Unlock()
		return RetainResult{}, ErrClosed
	}
	cur := *s.segs.Load() // may have grown (carried-forward records), never shrunk: Retain is serialized
	s.idxMu.Lock()
	for _, qs := range s.topics {
		for _, q := range qs {
			before := q.min
			q.dropBelow(upTo)
			res.Messages += q.min - before
		}
	}
	s.pruneKeysLocked(upTo)
	for topic, before := range s.deletedTopics {
		if before <= upTo {
			delete(s.deletedTopics, topic) // none of its old records is left
		}
	}
	s.retention.Segments += int64(k)
	s.retention.Bytes += res.Bytes
	s.retention.Messages += res.Messages
	s.retention.LastDeletedNewest = time.UnixMilli(maxTs[k-1])
	st := s.stateLocked(upTo, s.written.Load())
	s.idxMu.Unlock()
	rest := append([]*segment(nil), cur[k:]...)
	s.segs.Store(&rest)
	s.appendMu.Unlock()
	if s.testHookRetainBeforeUnlink != nil {
		s.testHookRetainBeforeUnlink()
	}

	// The state file first: a crash after it and before the unlinks is finished by recovery.
	if err := s.writeState(st); err != nil {
		return res, err
	}
	var errs []error
	for _, seg := range segs[:k] {
		// Open before the unlink (a segment recovery skipped may never have been read), so a
		// read that loaded the segment list just before still finds its file, as for any other.
		f, ferr := seg.file()
		if err := os.Remove(filepath.Join(s.dir, segmentName(seg.start))); err != nil {
			errs = append(errs, fmt.Errorf("store: retention: %w", err))
		}
		if ferr != nil {
			_ = seg.close() // readers get os.ErrClosed: ErrRetained, as after the next Retain
			continue
		}
		s.appendMu.Lock()
		s.retired = append(s.retired, f)
		s.appendMu.Unlock()
	}
	if err := syncDir(s.dir); err != nil {
		errs = append(errs, err)
	}
	s.log.Info("store: retention deleted commit-log segments", "segments", k, "bytes", res.Bytes,
		"messages", res.Messages, "first_offset", upTo, "reason", reason)
	// The old checkpoint names derived files that are gone: replace it now (a crash before
	// this falls back to a full rebuild, see doc.go "Checkpoint").
	if err := s.checkpointLocked(); err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// pruneKeysLocked drops the key-index files whose entries all lie below upTo (lookups skip
// the entries below it in the others); idxMu held.
func (s *Store) pruneKeysLocked(upTo int64) {
	if err := s.keys.prune(upTo); err != nil {
		s.log.Warn("store: retention: dropping key index files", "err", err)
	}
}

// RetentionStats returns what retention has removed since Open.
func (s *Store) RetentionStats() RetentionStats {
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	return s.retention
}

// OldestStoreTime returns the store time of the oldest record still stored (the first of the
// first segment), ok false if the store is empty.
func (s *Store) OldestStoreTime() (time.Time, bool) {
	segs := *s.segs.Load()
	if len(segs) == 0 {
		return time.Time{}, false
	}
	var at time.Time
	found := false
	_ = s.Scan(segs[0].start, func(m *message.Message) error {
		at, found = time.UnixMilli(m.StoreTimestamp), true
		return errStopScan
	})
	return at, found
}

var errStopScan = errors.New("stop scan")

// FirstOffset is the commit-log offset of the oldest stored byte.
func (s *Store) FirstOffset() int64 { return (*s.segs.Load())[0].start }

// DeleteTopic drops the topic's consume queues and makes its records unreachable by key; the
// records themselves stay in the commit log until retention deletes their segments. The
// deletion is recorded in the state file, so it survives a restart. Sending to the topic again
// starts new queues at offset 0.
func (s *Store) DeleteTopic(topic string) error {
	if topic == "" {
		return fmt.Errorf("%w: empty topic", ErrInvalidMessage)
	}
	s.retainMu.Lock()
	defer s.retainMu.Unlock()
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	s.appendMu.Lock()
	if s.closed {
		s.appendMu.Unlock()
		return ErrClosed
	}
	s.idxMu.Lock()
	end := s.written.Load()
	for _, q := range s.topics[topic] {
		q.releaseAll()
	}
	delete(s.topics, topic)
	s.deletedTopics[topic] = end
	st := s.stateLocked((*s.segs.Load())[0].start, end)
	s.idxMu.Unlock()
	s.appendMu.Unlock()
	// The cut must not lie above the durable end of the log: after a power loss that lost the
	// unflushed tail, records of the re-created topic would land below it and be dropped.
	if err := s.waitFlushed(end); err != nil {
		return fmt.Errorf("store: delete topic %s: flush: %w", topic, err)
	}
	if err := s.writeState(st); err != nil {
		return err
	}
	return s.checkpointLocked()
}

// reachable reports whether the record of topic at phys is still indexed (not deleted by
// DeleteTopic); idxMu held.
func (s *Store) reachableLocked(topic string, phys int64) bool {
	cut, ok := s.deletedTopics[topic]
	return !ok || phys >= cut
}

// LogBytes is the size of the commit log still stored (from the first segment's start to the
// end of the log).
func (s *Store) LogBytes() int64 { return s.written.Load() - s.FirstOffset() }
