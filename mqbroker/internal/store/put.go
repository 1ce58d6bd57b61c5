package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// PutResult is where one message landed.
type PutResult struct {
	PhysicalOffset int64
	QueueOffset    int64
	Size           int32 // encoded record size (the frame header is not counted)
}

// pending is one encoded message of a Put.
type pending struct {
	m        *message.Message
	at       int // frame start in the Put's buffer
	size     int // payload size
	tsPos    int // STORETIMESTAMP position inside the payload
	tagsHash int64
	q        *consumeQueue
	qOff     int64
}

// Put appends msgs (a batch) as one contiguous write and fills each message's QueueOffset,
// PhysicalOffset and StoreTimestamp. The caller sets everything else, including StoreHost (the
// broker's reachable IPv4 address; it ends up in every consumer's offset message id).
//
// A batch lands whole or not at all as far as the caller can tell; after an OS crash a torn tail
// may keep a prefix of an unacknowledged batch (see the package documentation). With FlushSync,
// Put returns only once the batch is fsynced. Errors: ErrClosed, ErrMessageTooLarge (a record
// above MaxMessageSize or a batch larger than a segment), ErrInvalidMessage (not encodable in
// the V1 layout), or a write/fsync error; on any error no message of the batch is acknowledged.
func (s *Store) Put(msgs ...*message.Message) ([]PutResult, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	bufp := s.getBuf()
	defer s.putBuf(bufp)
	buf := (*bufp)[:0]
	var stack [8]pending
	ps := stack[:0]
	if len(msgs) > len(stack) {
		ps = make([]pending, 0, len(msgs))
	}
	// Encode outside the lock; the store-assigned fields are patched in below.
	for i, m := range msgs {
		if m == nil {
			return nil, fmt.Errorf("%w: message %d is nil", ErrInvalidMessage, i)
		}
		if len(m.Body) > s.opts.MaxMessageSize { // not worth encoding to find out
			return nil, fmt.Errorf("%w: message %d is %d bytes, limit %d", ErrMessageTooLarge, i, m.EncodedSize(), s.opts.MaxMessageSize)
		}
		at := len(buf)
		buf = append(buf, make([]byte, frameHeaderSize)...)
		var err error
		// AppendEncode validates m first; the size is checked on the result (at most the body
		// plus the bounded topic and properties over the limit), which saves the two walks over
		// the properties that separate Validate and EncodedSize calls cost.
		if buf, err = m.AppendEncode(buf); err != nil {
			return nil, fmt.Errorf("%w: message %d: %w", ErrInvalidMessage, i, err)
		}
		if n := len(buf) - at - frameHeaderSize; n > s.opts.MaxMessageSize {
			return nil, fmt.Errorf("%w: message %d is %d bytes, limit %d", ErrMessageTooLarge, i, n, s.opts.MaxMessageSize)
		}
		p := pending{m: m, at: at, size: len(buf) - at - frameHeaderSize}
		p.tsPos = message.StoreTimestampPos(int32(binary.BigEndian.Uint32(buf[at+frameHeaderSize+message.PosSysFlag:])))
		if tags := m.Properties[message.PropTags]; tags != "" {
			p.tagsHash = message.TagsHash(tags)
		}
		ps = append(ps, p)
	}
	*bufp = buf
	total := int64(len(buf))
	if total > s.opts.SegmentSize {
		return nil, fmt.Errorf("%w: batch is %d bytes, segment size %d", ErrMessageTooLarge, total, s.opts.SegmentSize)
	}

	end, err := s.appendBatch(buf, ps)
	if err != nil {
		return nil, err
	}
	if s.opts.Flush == FlushSync {
		if err := s.waitFlushed(end); err != nil {
			return nil, err
		}
	}
	s.stats.puts.Add(1)
	s.stats.msgs.Add(int64(len(ps)))

	res := make([]PutResult, len(ps))
	for i := range ps {
		p := &ps[i]
		res[i] = PutResult{PhysicalOffset: p.m.PhysicalOffset, QueueOffset: p.qOff, Size: int32(p.size)}
	}
	if s.opts.OnAppend != nil {
		for i := range ps {
			if i > 0 && ps[i].q == ps[i-1].q {
				continue // batches normally target one queue: notify once
			}
			s.opts.OnAppend(ps[i].m.Topic, ps[i].m.QueueID)
		}
	}
	return res, nil
}

// appendBatch assigns offsets, writes buf and indexes it, all under appendMu. It returns the
// commit-log end offset after the batch.
func (s *Store) appendBatch(buf []byte, ps []pending) (int64, error) {
	s.stall.begin()
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	defer s.stall.end()
	if s.closed {
		return 0, ErrClosed
	}
	if errp := s.fatal.Load(); errp != nil {
		return 0, fmt.Errorf("store: failed earlier, read-only: %w", *errp)
	}
	if s.activeSize > 0 && s.activeSize+int64(len(buf)) > s.opts.SegmentSize {
		if err := s.rollLocked(); err != nil {
			return 0, err
		}
	}
	seg, base := s.active, s.activeSize
	// The wall clock per message: a clock that jumped forward and back must not pin every later
	// timestamp (and with it delays and check-backs) to the jump.
	ts := s.opts.Now().UnixMilli()

	// Assign queue offsets. Queues are created under idxMu; len(entries) is stable because only
	// appendMu holders append.
	for i := range ps {
		p := &ps[i]
		if i > 0 && ps[i-1].m.QueueID == p.m.QueueID && ps[i-1].m.Topic == p.m.Topic {
			p.q = ps[i-1].q
		} else {
			p.q = s.queueForAppend(p.m.Topic, p.m.QueueID)
		}
		p.qOff = p.q.len()
		for j := i - 1; j >= 0; j-- { // batches normally target one queue: j = i-1 hits
			if ps[j].q == p.q {
				p.qOff = ps[j].qOff + 1
				break
			}
		}

		phys := seg.start + base + int64(p.at)
		rec := buf[p.at+frameHeaderSize : p.at+frameHeaderSize+p.size]
		binary.BigEndian.PutUint64(rec[message.PosQueueOffset:], uint64(p.qOff))
		binary.BigEndian.PutUint64(rec[message.PosPhysicalOffset:], uint64(phys))
		binary.BigEndian.PutUint64(rec[p.tsPos:], uint64(ts))
		binary.BigEndian.PutUint32(buf[p.at:], uint32(p.size))
		binary.BigEndian.PutUint32(buf[p.at+4:], crc32.Checksum(rec, castagnoli))
	}

	if err := s.preallocateLocked(base + int64(len(buf))); err != nil {
		return 0, err
	}
	if werr := s.writeLocked(buf, base); werr != nil {
		// A failed pwrite may have written part of buf: cut it off (after dropping any
		// mapping, which must not cover a truncated part of the file).
		if err := s.unmapLocked(); err != nil {
			werr = errors.Join(werr, err)
		}
		if terr := seg.fd().Truncate(base); terr != nil {
			s.setFatal(errors.Join(werr, fmt.Errorf("store: roll back failed write: %w", terr)))
		}
		s.preallocEnd = base
		return 0, werr
	}

	// Chunk files are extended or created here, before idxMu: readers wait for no syscall. A
	// queue's last pending has its highest offset, so it reserves for the whole batch.
	for i := len(ps) - 1; i >= 0; i-- {
		p := &ps[i]
		p.q.reserve(p.qOff - p.q.len() + 1)
	}
	s.idxMu.Lock()
	for i := range ps {
		p := &ps[i]
		phys := seg.start + base + int64(p.at)
		p.q.add(cqEntry{phys: phys, tagsHash: int32(p.tagsHash), storeTs: ts, size: int32(p.size)})
		if k := p.m.Properties[message.PropUniqKey]; k != "" {
			s.addKeyLocked(hashKey(s.hashSeed, k), phys)
		}
		for k := range strings.FieldsSeq(p.m.Properties[message.PropKeys]) {
			s.addKeyLocked(hashKey(s.hashSeed, k), phys)
		}
	}
	s.idxMu.Unlock()
	for i := range ps {
		ps[i].q.finishPrep()
	}

	s.activeSize = base + int64(len(buf))
	seg.maxTs = ts
	end := seg.start + s.activeSize
	s.written.Store(end)
	for i := range ps {
		p := &ps[i]
		p.m.QueueOffset = p.qOff
		p.m.PhysicalOffset = seg.start + base + int64(p.at)
		p.m.StoreTimestamp = ts
	}
	return end, nil
}

// rollLocked seals the active segment (fsync) and starts a new one at the current end.
func (s *Store) rollLocked() error {
	old := s.active
	if err := s.trimPreallocLocked(); err != nil {
		s.setFatal(err)
		return err
	}
	if err := old.fd().Sync(); err != nil {
		err = fmt.Errorf("store: fsync segment %s: %w", segmentName(old.start), err)
		s.setFatal(err)
		return err
	}
	s.stats.fsyncs.Add(1)
	seg, err := s.createSegment(old.start + s.activeSize)
	if err != nil {
		return err
	}
	segs := append(append([]*segment(nil), *s.segs.Load()...), seg)
	s.segs.Store(&segs)
	s.setActive(seg, 0)
	return nil
}

func (s *Store) setFatal(err error) {
	s.fatal.CompareAndSwap(nil, &err)
	s.log.Error("store: turning read-only", "err", err)
}

// queueForAppend returns the queue, creating it; the caller holds appendMu (not idxMu).
func (s *Store) queueForAppend(topic string, queueID int32) *consumeQueue {
	if q := s.queueLocked(topic, queueID); q != nil {
		return q
	}
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	return s.queueForAppendLocked(topic, queueID)
}

// queueForAppendLocked returns the queue, creating it; the caller holds appendMu and idxMu (or
// runs during recovery).
func (s *Store) queueForAppendLocked(topic string, queueID int32) *consumeQueue {
	qs := s.topics[topic]
	if qs == nil {
		qs = make(map[int32]*consumeQueue)
		s.topics[topic] = qs
	}
	q := qs[queueID]
	if q == nil {
		q = &consumeQueue{al: s.cqs}
		qs[queueID] = q
	}
	return q
}

// hashKey is the key-index hash: FNV-1a over the store's seed and the key, finished with the
// splitmix64 mixer so that the low bits (the slot) depend on every input bit. It must be stable
// across restarts, which rules out hash/maphash (its seeds cannot be persisted).
func (s *Store) hashKey(k []byte) uint64 { return hashKey(s.hashSeed, k) }

func hashKey[T string | []byte](seed uint64, k T) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := range 8 {
		h ^= (seed >> (8 * i)) & 0xff
		h *= prime
	}
	for i := 0; i < len(k); i++ {
		h ^= uint64(k[i])
		h *= prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}

// newHashSeed returns a random key-index seed.
func newHashSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// addKeyLocked records that the record at phys carries a key with hash h; idxMu held. The
// record is already written, so a failure (no room for a new index file) cannot fail its Put:
// it is logged, and lookups by key miss the record.
func (s *Store) addKeyLocked(h uint64, phys int64) {
	if err := s.keys.add(h, phys); err != nil {
		s.keyErrs++
		if s.keyErrs == 1 || s.keyErrs%10000 == 0 {
			s.log.Error("store: key index: record not indexed by key", "offset", phys, "failures", s.keyErrs, "err", err)
		}
	}
}

// forEachKey calls fn for each whitespace-separated key in v, exactly as Put splits KEYS
// (strings.Fields), so that recovery indexes the same keys.
func forEachKey(v []byte, fn func([]byte)) {
	for _, k := range bytes.Fields(v) {
		fn(k)
	}
}

func (s *Store) getBuf() *[]byte {
	if p, ok := s.bufPool.Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 0, 4096)
	return &b
}

func (s *Store) putBuf(p *[]byte) {
	if cap(*p) > 1<<20 {
		return
	}
	s.bufPool.Put(p)
}
