package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// GetStatus mirrors Java's GetMessageStatus (the subset this store can produce).
type GetStatus int

// Get statuses. PROTOCOL.md §2.7 maps them to PULL response codes.
const (
	Found               GetStatus = iota // Records holds at least one record
	NoMatchedMessage                     // entries exist from offset but none matched the filter
	NoMessageInQueue                     // the queue is empty (or does not exist)
	OffsetTooSmall                       // offset < MinOffset
	OffsetOverflowOne                    // offset == MaxOffset: nothing new yet
	OffsetOverflowBadly                  // offset > MaxOffset
)

func (st GetStatus) String() string {
	switch st {
	case Found:
		return "FOUND"
	case NoMatchedMessage:
		return "NO_MATCHED_MESSAGE"
	case NoMessageInQueue:
		return "NO_MESSAGE_IN_QUEUE"
	case OffsetTooSmall:
		return "OFFSET_TOO_SMALL"
	case OffsetOverflowOne:
		return "OFFSET_OVERFLOW_ONE"
	case OffsetOverflowBadly:
		return "OFFSET_OVERFLOW_BADLY"
	}
	return fmt.Sprintf("GetStatus(%d)", int(st))
}

// GetResult is the answer of Get.
type GetResult struct {
	Status GetStatus
	// Records are raw V1 records, ready to be concatenated into a PULL body. They share one
	// freshly allocated buffer owned by the caller.
	Records [][]byte
	// NextBeginOffset is where the consumer should continue: after the last returned or skipped
	// entry (Found, NoMatchedMessage); MinOffset (OffsetTooSmall); offset (OffsetOverflowOne);
	// MaxOffset (OffsetOverflowBadly); 0 (NoMessageInQueue).
	NextBeginOffset int64
	MinOffset       int64
	MaxOffset       int64
}

// Get reads up to maxMsgs records, and at most maxBytes of them in total (but always at least
// one if any), from (topic, queueID) starting at logical offset. match (nil = all) filters on the
// tags hash; skipped entries still advance NextBeginOffset. At most 16000 entries are examined
// per call. match is called with the index read-locked: it must be fast and must not call the
// Store.
func (s *Store) Get(topic string, queueID int32, offset int64, maxMsgs int, maxBytes int, match func(tagsHash int64) bool) (GetResult, error) {
	// A Retain that deletes the picked records between reading the index and reading the
	// segments makes readRecords fail with ErrRetained; by then the index has dropped them, so
	// a second attempt answers OffsetTooSmall (or reads what survived).
	for attempt := 0; ; attempt++ {
		res, err := s.get(topic, queueID, offset, maxMsgs, maxBytes, match)
		if err == nil || !errors.Is(err, ErrRetained) || attempt == 2 {
			return res, err
		}
	}
}

func (s *Store) get(topic string, queueID int32, offset int64, maxMsgs int, maxBytes int, match func(tagsHash int64) bool) (GetResult, error) {
	var picked []cqEntry
	var res GetResult
	s.idxMu.RLock()
	q := s.queueLocked(topic, queueID)
	if q == nil || q.len() == 0 {
		s.idxMu.RUnlock()
		return GetResult{Status: NoMessageInQueue}, nil
	}
	maxOff := q.len()
	res.MaxOffset, res.MinOffset = maxOff, q.min
	switch {
	case offset < q.min:
		res.Status, res.NextBeginOffset = OffsetTooSmall, q.min
	case offset == maxOff:
		res.Status, res.NextBeginOffset = OffsetOverflowOne, offset
	case offset > maxOff:
		res.Status, res.NextBeginOffset = OffsetOverflowBadly, maxOff
	default:
		maxMsgs = max(maxMsgs, 1)
		picked = make([]cqEntry, 0, min(int64(maxMsgs), maxOff-offset))
		i, scanned, bytes := offset, 0, 0
		for ; i < maxOff && len(picked) < maxMsgs && scanned < maxScanPerGet; i++ {
			e := *q.at(i)
			scanned++
			if e.size == 0 {
				continue // lost to a repaired hole
			}
			if match != nil && !match(int64(e.tagsHash)) {
				continue
			}
			if len(picked) > 0 && bytes+int(e.size) > maxBytes {
				break
			}
			picked = append(picked, e)
			bytes += int(e.size)
		}
		res.NextBeginOffset = i
		if len(picked) == 0 {
			res.Status = NoMatchedMessage
		}
	}
	s.idxMu.RUnlock()
	if len(picked) == 0 {
		return res, nil
	}
	if s.testHookBeforeReadRecords != nil {
		s.testHookBeforeReadRecords()
	}
	recs, err := s.readRecords(picked)
	if err != nil {
		return GetResult{}, fmt.Errorf("store: get %s/%d@%d: %w", topic, queueID, offset, err)
	}
	res.Status = Found
	res.Records = recs
	return res, nil
}

// readRecords reads the payloads of es into one buffer, one pread per run of adjacent frames.
func (s *Store) readRecords(es []cqEntry) ([][]byte, error) {
	segs := *s.segs.Load()
	total := 0
	for _, e := range es {
		total += frameHeaderSize + int(e.size)
	}
	buf := make([]byte, total)
	recs := make([][]byte, len(es))
	at := 0
	for i := 0; i < len(es); {
		si := segmentIndex(segs, es[i].phys)
		if si < 0 {
			// Below the first segment: Retain deleted it after the entries were picked.
			return nil, fmt.Errorf("%w: offset %d is below the first segment at %d", ErrRetained, es[i].phys, segs[0].start)
		}
		seg, segEnd := segs[si], int64(math.MaxInt64)
		if si+1 < len(segs) {
			segEnd = segs[si+1].start
		}
		// Extend the run while the next frame follows directly in the same segment.
		j, runLen := i+1, frameHeaderSize+int(es[i].size)
		for j < len(es) && es[j].phys == es[j-1].phys+frameHeaderSize+int64(es[j-1].size) && es[j].phys < segEnd {
			runLen += frameHeaderSize + int(es[j].size)
			j++
		}
		f, err := seg.file()
		if err == nil {
			_, err = f.ReadAt(buf[at:at+runLen], es[i].phys-seg.start)
		}
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				if es[i].phys < s.FirstOffset() {
					// A later Retain closed the deleted segment this read had loaded.
					return nil, fmt.Errorf("%w: offset %d is below the first segment", ErrRetained, es[i].phys)
				}
				return nil, ErrClosed
			}
			return nil, fmt.Errorf("read at %d: %w", es[i].phys, err)
		}
		for k := i; k < j; k++ {
			n := int(es[k].size)
			frame := buf[at : at+frameHeaderSize+n]
			if int(binary.BigEndian.Uint32(frame)) != n ||
				crc32.Checksum(frame[frameHeaderSize:], castagnoli) != binary.BigEndian.Uint32(frame[4:]) {
				return nil, fmt.Errorf("%w: record at %d does not match its index entry", ErrCorrupt, es[k].phys)
			}
			recs[k] = frame[frameHeaderSize:len(frame):len(frame)]
			at += len(frame)
		}
		i = j
	}
	return recs, nil
}

// Read returns the record whose frame starts at physOffset, or an error wrapping ErrNotFound.
func (s *Store) Read(physOffset int64) (*message.Message, error) {
	p, err := s.readFrame(physOffset)
	if err != nil {
		return nil, err
	}
	m, _, err := message.Decode(p)
	if err != nil || m.PhysicalOffset != physOffset {
		return nil, fmt.Errorf("%w: no record at offset %d", ErrNotFound, physOffset)
	}
	return m, nil
}

// readFrame returns the CRC-checked payload of the frame at off.
func (s *Store) readFrame(off int64) ([]byte, error) {
	end := s.written.Load()
	if off < 0 || off+frameHeaderSize+message.MinRecordSize > end {
		return nil, fmt.Errorf("%w: no record at offset %d", ErrNotFound, off)
	}
	seg := segmentFor(*s.segs.Load(), off)
	if seg == nil {
		return nil, fmt.Errorf("%w: no record at offset %d", ErrNotFound, off)
	}
	f, err := seg.file()
	if err != nil {
		// A segment that cannot be opened (moved, removed, unreadable) holds the record:
		// not a "no record there" answer, which callers may act on.
		if errors.Is(err, os.ErrClosed) {
			if off < s.FirstOffset() {
				return nil, fmt.Errorf("%w: no record at offset %d: %w", ErrNotFound, off, ErrRetained)
			}
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("store: read at %d: %w", off, err)
	}
	var hdr [frameHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], off-seg.start); err != nil {
		return nil, fmt.Errorf("%w: no record at offset %d: %w", ErrNotFound, off, err)
	}
	n := int64(binary.BigEndian.Uint32(hdr[:]))
	if limit := max(int64(s.opts.MaxMessageSize), s.maxRecovered); n > limit {
		// Never allocate what a crafted offset claims: a record is at most MaxMessageSize, or
		// as large as the largest one recovery found (written under a higher limit).
		return nil, fmt.Errorf("%w: no record at offset %d (its length field says %d bytes, above the %d-byte message limit)",
			ErrNotFound, off, n, limit)
	}
	if n < message.MinRecordSize || off+frameHeaderSize+n > end {
		return nil, fmt.Errorf("%w: no record at offset %d", ErrNotFound, off)
	}
	p := make([]byte, n)
	if _, err := f.ReadAt(p, off-seg.start+frameHeaderSize); err != nil {
		return nil, fmt.Errorf("%w: no record at offset %d: %w", ErrNotFound, off, err)
	}
	if crc32.Checksum(p, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
		return nil, fmt.Errorf("%w: no record at offset %d", ErrNotFound, off)
	}
	return p, nil
}

// Scan calls fn for every record in commit-log order, starting at physical offset from (which
// must be 0 or a record start) and ending at the end of the log as of the call. An error from fn
// stops the scan and is returned.
func (s *Store) Scan(from int64, fn func(m *message.Message) error) error {
	end := s.written.Load()
	segs := *s.segs.Load()
	if from < 0 || from > end {
		return fmt.Errorf("%w: scan from %d: outside the commit log [0, %d]", ErrNotFound, from, end)
	}
	var hdr [frameHeaderSize]byte
	var payload []byte
	for i, seg := range segs {
		segEnd := end
		if i+1 < len(segs) {
			segEnd = min(end, segs[i+1].start)
		}
		if segEnd <= from || seg.start >= end {
			continue
		}
		pos := max(from, seg.start)
		f, err := seg.file()
		if err != nil {
			return fmt.Errorf("store: scan at %d: %w", pos, err)
		}
		r := bufio.NewReaderSize(io.NewSectionReader(f, pos-seg.start, segEnd-pos), 256<<10)
		for pos < segEnd {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return fmt.Errorf("store: scan at %d: %w", pos, err)
			}
			if hn, ok := isHole(hdr[:]); ok {
				if _, err := r.Discard(int(hn)); err != nil {
					return fmt.Errorf("store: scan at %d: hole: %w", pos, err)
				}
				pos += frameHeaderSize + hn
				continue
			}
			n := int64(binary.BigEndian.Uint32(hdr[:]))
			if n < message.MinRecordSize || n > MaxRecordCeiling || pos+frameHeaderSize+n > segEnd {
				return fmt.Errorf("%w: scan at %d: no frame starts there", ErrNotFound, pos)
			}
			if int64(cap(payload)) < n {
				payload = make([]byte, n)
			}
			p := payload[:n]
			if _, err := io.ReadFull(r, p); err != nil {
				return fmt.Errorf("store: scan at %d: %w", pos, err)
			}
			if crc32.Checksum(p, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
				return fmt.Errorf("%w: scan at %d: no frame starts there", ErrNotFound, pos)
			}
			m, _, err := message.Decode(p)
			if err != nil {
				return fmt.Errorf("%w: scan at %d: %w", ErrCorrupt, pos, err)
			}
			if err := fn(m); err != nil {
				return err
			}
			pos += frameHeaderSize + n
		}
	}
	return nil
}

// MinOffset returns the first logical offset of the queue still stored (entries below it were
// deleted by retention).
func (s *Store) MinOffset(topic string, queueID int32) int64 {
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	if q := s.queueLocked(topic, queueID); q != nil {
		return q.min
	}
	return 0
}

// MaxOffset returns the next logical offset to be written (the number of entries).
func (s *Store) MaxOffset(topic string, queueID int32) int64 {
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	if q := s.queueLocked(topic, queueID); q != nil {
		return q.len()
	}
	return 0
}

// OffsetForTimestamp returns the first offset whose store timestamp is >= ms, or MaxOffset if
// none, by binary search (as Java does): store timestamps come from the wall clock per message,
// so after the clock stepped back the answer is one of the offsets around the step.
func (s *Store) OffsetForTimestamp(topic string, queueID int32, ms int64) int64 {
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	q := s.queueLocked(topic, queueID)
	if q == nil {
		return 0
	}
	return q.min + int64(sort.Search(int(q.len()-q.min), func(i int) bool { return q.at(q.min+int64(i)).storeTs >= ms }))
}

// QueueEntry returns the commit-log offset and store timestamp of one consume-queue entry. An
// entry for a record lost to a repaired hole has physOffset -1.
func (s *Store) QueueEntry(topic string, queueID int32, offset int64) (physOffset int64, storeTs int64, ok bool) {
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	q := s.queueLocked(topic, queueID)
	if q == nil || offset < q.min || offset >= q.len() {
		return 0, 0, false
	}
	e := q.at(offset)
	return e.phys, e.storeTs, true
}

// Queues lists every consume queue, sorted by topic and queue id.
func (s *Store) Queues() []QueueStat {
	s.idxMu.RLock()
	var out []QueueStat
	for topic, qs := range s.topics {
		for id, q := range qs {
			out = append(out, QueueStat{Topic: topic, QueueID: id, MinOffset: q.min, MaxOffset: q.len()})
		}
	}
	s.idxMu.RUnlock()
	slices.SortFunc(out, func(a, b QueueStat) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.QueueID) - int(b.QueueID)
	})
	return out
}

// LookupKey returns, in commit-log order, the physical offsets of the first limit records
// (limit <= 0: all) whose UNIQ_KEY or one of whose KEYS equals key and for which match (nil =
// all) returns true. Candidates are read in commit-log order and the lookup stops at limit, so
// a request costs at most limit matching reads plus the non-matching candidates before them.
// match is called with no lock held and may call the Store's read methods.
func (s *Store) LookupKey(key string, limit int, match func(m *message.Message) bool) []int64 {
	if key == "" {
		return nil
	}
	h := hashKey(s.hashSeed, key)
	first := s.FirstOffset()
	s.idxMu.RLock()
	cands := s.keys.lookup(h, first)
	s.idxMu.RUnlock()
	slices.Sort(cands)
	cands = slices.Compact(cands)
	var out []int64
	var failed int
	var firstErr error
	defer func() {
		if failed > 0 {
			s.log.Warn("store: key lookup could not read candidate records; the answer may miss them",
				"key", key, "failed", failed, "err", firstErr)
		}
	}()
	for _, off := range cands {
		if limit > 0 && len(out) >= limit {
			break
		}
		m, err := s.Read(off)
		if err != nil {
			// Not found or corrupt: a hash collision or an entry past a truncated tail.
			// Anything else (a segment gone or unreadable) is a read failure: logged.
			if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrClosed) {
				if failed == 0 {
					firstErr = err
				}
				failed++
			}
			continue
		}
		s.idxMu.RLock()
		ok := s.reachableLocked(m.Topic, off)
		s.idxMu.RUnlock()
		if ok && (m.UniqKey() == key || slices.Contains(m.Keys(), key)) && (match == nil || match(m)) {
			out = append(out, off)
		}
	}
	return out
}
