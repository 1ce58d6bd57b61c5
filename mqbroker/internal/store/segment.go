package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segment is one commit-log file. start and f never change; the written size is tracked by the
// Store (activeSize for the active segment; sealed segments never change).
type segment struct {
	start int64
	path  string
	// fp is the open file: set before the segment is published for the active segment, a
	// created one and every segment recovery scans; a sealed segment that recovery skipped
	// (below the checkpoint) is opened on its first read (file), so a restart opens O(1)
	// files, not one per segment stored. It never changes once set.
	fp     atomic.Pointer[os.File]
	openMu sync.Mutex // guards opening fp, and closed
	closed bool       // Close or retention: file answers os.ErrClosed instead of opening
	// maxTs is the newest store timestamp in the segment (0: none yet); written under appendMu
	// (or by recovery), read by Retain under appendMu.
	maxTs int64
}

func segmentName(start int64) string { return fmt.Sprintf("%020d", start) }

// newSegment returns the segment of the open file f.
func newSegment(start int64, path string, f *os.File) *segment {
	seg := &segment{start: start, path: path}
	seg.fp.Store(f)
	return seg
}

// fd is the file of a segment that is open (the active segment, or one recovery scans): the
// write, sync and recovery paths, which never see a lazily opened one.
func (g *segment) fd() *os.File { return g.fp.Load() }

// file returns the segment's file, opening it (read-only: it is sealed) on first use; after
// close it answers os.ErrClosed, as a closed *os.File does, which readers map to ErrClosed or
// ErrRetained.
func (g *segment) file() (*os.File, error) {
	if f := g.fp.Load(); f != nil {
		return f, nil
	}
	g.openMu.Lock()
	defer g.openMu.Unlock()
	if f := g.fp.Load(); f != nil {
		return f, nil
	}
	if g.closed {
		return nil, os.ErrClosed
	}
	f, err := os.Open(g.path)
	if err != nil {
		return nil, fmt.Errorf("store: open segment: %w", err)
	}
	g.fp.Store(f)
	return f, nil
}

// close closes the file if it was opened and makes later file calls fail with os.ErrClosed.
func (g *segment) close() error {
	g.openMu.Lock()
	defer g.openMu.Unlock()
	g.closed = true
	if f := g.fp.Load(); f != nil {
		return f.Close()
	}
	return nil
}

// segmentFor returns the segment containing physical offset off in the snapshot, or nil.
func segmentFor(segs []*segment, off int64) *segment {
	if i := segmentIndex(segs, off); i >= 0 {
		return segs[i]
	}
	return nil
}

// segmentIndex returns the index of the segment containing off, or -1.
func segmentIndex(segs []*segment, off int64) int {
	return sort.Search(len(segs), func(i int) bool { return segs[i].start > off }) - 1
}

// errTorn marks a frame defect with no valid frame after it in its segment: a torn tail if it
// is in the last segment.
var errTorn = errors.New("torn frame")

// Hole frames. A frame header whose length has holeFlag set and whose crc field is holeMagic is a
// hole left by Options.Repair over a damaged region: length&^holeFlag bytes follow and are not a
// record. Readers skip it.
const (
	holeFlag  = 1 << 31
	holeMagic = 0x484F4C45 // "HOLE"
)

// isHole reports whether a frame header describes a hole and returns its payload length.
func isHole(hdr []byte) (int64, bool) {
	n := binary.BigEndian.Uint32(hdr)
	if n&holeFlag == 0 || binary.BigEndian.Uint32(hdr[4:]) != holeMagic {
		return 0, false
	}
	return int64(n &^ holeFlag), true
}

// recover opens every segment, loads the derived files a valid checkpoint names (or rebuilds them
// from the start of the log), validates the frames from the checkpoint on, truncates a torn tail
// of the last segment and indexes what the checkpoint does not cover. It runs before any
// goroutine is started, so it takes no locks.
func (s *Store) recover() error {
	s.dir = filepath.Join(s.opts.Dir, "commitlog")
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("store: create %s: %w", s.dir, err)
	}
	if err := s.loadQueueBases(); err != nil {
		return err
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("store: list %s: %w", s.dir, err)
	}
	var starts []int64
	for _, e := range ents {
		name := e.Name()
		start, perr := strconv.ParseInt(name, 10, 64)
		if e.IsDir() || len(name) != 20 || perr != nil || start < 0 {
			s.log.Warn("store: ignoring unexpected file in commit-log directory", "name", name)
			continue
		}
		starts = append(starts, start)
	}
	slices.Sort(starts)
	for len(starts) > 0 && starts[0] < s.stateMinPhys && (len(starts) == 1 || starts[1] <= s.stateMinPhys) {
		// Deleted by retention, which crashed before unlinking it (the state file is written first).
		path := filepath.Join(s.dir, segmentName(starts[0]))
		s.log.Info("store: finishing an interrupted retention: deleting segment", "segment", path)
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		starts = starts[1:]
	}
	ck, err := s.useCheckpoint(starts)
	if err != nil {
		return err
	}

	var segs []*segment
	s.segs.Store(&segs) // so closeFiles sees whatever has been opened on error
	if len(starts) == 0 {
		seg, err := s.createSegment(s.baseEnd)
		if err != nil {
			return err
		}
		segs = append(segs, seg)
		s.segs.Store(&segs)
		s.setActive(seg, 0)
		return nil
	}
	ckTs := map[int64]int64{}
	if ck != nil {
		for _, sg := range ck.segs {
			ckTs[sg.start] = sg.maxTs
		}
	}
	scanFrom := min(s.indexFrom, s.appFrom)
	var end int64
	tailSynced := false // the last segment was truncated and fsynced
	payload := make([]byte, 64<<10)
	for i, start := range starts {
		path := filepath.Join(s.dir, segmentName(start))
		last := i == len(starts)-1
		ts, inCkpt := ckTs[start]
		if inCkpt && scanFrom > start && !last {
			// Wholly below the checkpoint (verified when written, indexed in the derived
			// files): not read, and not even opened until a read needs it (segment.file).
			fi, err := os.Stat(path)
			if err != nil {
				return fmt.Errorf("store: stat %s: %w", path, err)
			}
			if start+fi.Size() <= scanFrom {
				// Not opened, but it must be readable: Open fails on a missing or
				// unreadable segment, not its first read (doc.go "Checkpoint").
				if err := checkReadable(path); err != nil {
					return err
				}
				if i > 0 && start != end {
					return fmt.Errorf("%w: segment %s starts at %d, previous segment ends at %d", ErrCorrupt, path, start, end)
				}
				seg := &segment{start: start, path: path, maxTs: ts}
				segs = append(segs, seg)
				s.segs.Store(&segs)
				end = start + fi.Size()
				s.ckptStats.SkippedBytes += fi.Size()
				continue
			}
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("store: open segment: %w", err)
		}
		seg := newSegment(start, path, f)
		segs = append(segs, seg)
		s.segs.Store(&segs)
		if i > 0 && start != end {
			return fmt.Errorf("%w: segment %s starts at %d, previous segment ends at %d", ErrCorrupt, path, start, end)
		}
		from := int64(0)
		if inCkpt && scanFrom > start {
			// Below the checkpoint: verified when written and indexed in the derived files.
			seg.maxTs = ts
			fi, err := f.Stat()
			if err != nil {
				return fmt.Errorf("store: stat %s: %w", path, err)
			}
			from = min(scanFrom-start, fi.Size())
			s.ckptStats.SkippedBytes += from
		}
		size, perr := s.scanSegment(seg, &payload, last, from)
		if perr != nil {
			if !last || !errors.Is(perr, errTorn) {
				return fmt.Errorf("%w: %s: %w", ErrCorrupt, path, perr)
			}
			if zeroTail(f, size) {
				// Preallocated ahead of the data (preallocateLocked), not a torn write.
				s.log.Debug("store: trimming preallocated tail of commit log", "segment", path, "at", size)
			} else {
				s.log.Warn("store: truncating torn tail of commit log", "segment", path, "at", size, "reason", perr.Error())
			}
			if err := f.Truncate(size); err != nil {
				return fmt.Errorf("store: truncate torn tail of %s: %w", path, err)
			}
			if err := f.Sync(); err != nil {
				return fmt.Errorf("store: fsync %s: %w", path, err)
			}
			s.stats.fsyncs.Add(1)
			tailSynced = true
		}
		s.ckptStats.ScannedBytes += size - from
		end = start + size
		if last {
			s.setActive(seg, size)
		}
	}
	if !tailSynced && s.activeSize > 0 {
		// The tail may be in the page cache only (FlushAsync, then kill -9): make it durable
		// before flushed covers it, or the first checkpoint would record an offset that a
		// power loss could take the log back below (Open then refuses: "ends before").
		if err := fdatasync(s.active.fd()); err != nil {
			return fmt.Errorf("store: fsync %s: %w", s.active.path, err)
		}
		s.stats.fsyncs.Add(1)
	}
	if end < s.indexFrom {
		// The log ends before the checkpoint: what it covers was fsynced first, so the log
		// lost fsynced data (or files were replaced). Derived entries would point past its end.
		return fmt.Errorf("%w: the commit log ends at %d, before the checkpoint at %d", ErrCorrupt, end, s.indexFrom)
	}
	return nil
}

// useCheckpoint decides where recovery starts: it loads the checkpoint and the derived files it
// names (setting indexFrom and appFrom), or, with no checkpoint or a bad one, empties the
// derived files for a full rebuild (both 0). The returned checkpoint is nil in that case.
func (s *Store) useCheckpoint(starts []int64) (*checkpoint, error) {
	ck, err := readCheckpoint(s.opts.Dir)
	reason := ""
	switch {
	case err != nil:
		reason = "unreadable or corrupt checkpoint: " + err.Error()
	case ck == nil:
		reason = "no checkpoint"
	case len(starts) == 0 || ck.offset < starts[0] || ck.offset > logFileEnd(s.dir, starts):
		reason = fmt.Sprintf("checkpoint at %d is outside the commit log", ck.offset)
	default:
		if err := s.loadCheckpoint(ck); err != nil {
			reason = "derived files do not match the checkpoint: " + err.Error()
		} else if s.opts.LoadState != nil {
			if err := s.opts.LoadState(ck.app); err != nil {
				reason = "the checkpoint's application state does not load: " + err.Error()
			}
		}
	}
	if reason == "" {
		s.indexFrom = ck.offset
		s.appFrom = ck.offset
		if s.opts.OnRecover != nil {
			s.appFrom = 0 // no saved state: OnRecover sees every record
			if s.opts.LoadState != nil {
				s.appFrom = max(ck.appOffset, 0)
			}
		}
		s.ckptStats.FromCheckpoint = true
		s.ckptStats.CheckpointOffset = ck.offset
		s.ckptOffset.Store(ck.offset)
		s.log.Info("store: recovering from checkpoint", "offset", ck.offset, "state_from", s.appFrom)
		return ck, nil
	}
	if len(starts) > 0 || ck != nil {
		s.log.Warn("store: rebuilding consume queues and key index from the whole commit log", "reason", reason)
	}
	s.ckptStats.Reason = reason
	// The rejected checkpoint goes first, durably: it names derived files, file numbers and a
	// key-hash seed the rebuild replaces, and a rejection may be transient (LoadState), so after
	// a crash before the next checkpoint the next Open would accept it over the rebuilt files.
	if err := removeCheckpoint(s.opts.Dir); err != nil {
		return nil, err
	}
	if err := s.resetDerived(); err != nil {
		return nil, err
	}
	for _, q := range s.stateQueues {
		s.queueForAppendLocked(q.Topic, q.QueueID).reset(q.MinOffset)
	}
	s.indexFrom, s.appFrom = 0, 0
	return nil, nil
}

// logFileEnd is the commit-log offset where the last segment file ends (-1 if unknown).
func logFileEnd(dir string, starts []int64) int64 {
	last := starts[len(starts)-1]
	fi, err := os.Stat(filepath.Join(dir, segmentName(last)))
	if err != nil {
		return -1
	}
	return last + fi.Size()
}

// RecoveryStats says how the last Open recovered.
type RecoveryStats struct {
	FromCheckpoint   bool
	CheckpointOffset int64
	Reason           string // why not from a checkpoint
	SkippedBytes     int64  // commit-log bytes below the checkpoint, not read
	ScannedBytes     int64  // commit-log bytes read and verified
}

// RecoveryStats returns how Open recovered.
func (s *Store) RecoveryStats() RecoveryStats { return s.ckptStats }

func (s *Store) setActive(seg *segment, size int64) {
	s.active = seg
	s.activeSize = size
	s.preallocEnd = size
	s.activeSeg.Store(seg)
	s.written.Store(seg.start + size)
}

// createSegment creates an empty segment file and fsyncs the directory.
func (s *Store) createSegment(start int64) (*segment, error) {
	path := filepath.Join(s.dir, segmentName(start))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: create segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return nil, err
	}
	return newSegment(start, path, f), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: fsync dir %s: %w", dir, err)
	}
	return nil
}

// scanSegment validates and indexes every frame of seg. It returns the size of the valid prefix.
// A defective frame (incomplete, bad length, bad CRC, or a CRC-valid record that fails the record
// checks) followed by nothing valid in the segment is reported with an error wrapping errTorn
// (the caller truncates it if seg is the last segment). A defective frame followed by a valid
// one, or one in a segment that is not the last, is corruption: an error naming the offset,
// unless Options.Repair is set, in which case the damaged bytes are overwritten with a hole frame
// (logged, fsynced) and the scan continues after them.
func (s *Store) scanSegment(seg *segment, payload *[]byte, last bool, from int64) (int64, error) {
	fi, err := seg.fd().Stat()
	if err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	fileSize := fi.Size()
	pos := from
	for pos < fileSize {
		r := bufio.NewReaderSize(io.NewSectionReader(seg.fd(), pos, fileSize-pos), 1<<20)
		next, bad := s.scanFrames(seg, r, pos, fileSize, payload)
		if bad == nil {
			return next, nil
		}
		pos = next
		resync := s.findNextFrame(seg, pos+1, fileSize, payload)
		if resync < 0 && last {
			return pos, fmt.Errorf("%w: %w", errTorn, bad)
		}
		name := filepath.Join(s.dir, segmentName(seg.start))
		if resync < 0 {
			resync = fileSize
		}
		if !s.opts.Repair {
			what := "a later segment follows"
			if resync < fileSize {
				what = fmt.Sprintf("a valid record follows at file offset %d", resync)
			}
			return pos, fmt.Errorf("damaged record in %s at file offset %d (commit-log offset %d): %v; %s, so this is not a torn tail: "+
				"restore the file, or start with --repair to skip the damaged bytes", name, pos, seg.start+pos, bad, what)
		}
		if resync-pos < frameHeaderSize || resync-pos-frameHeaderSize >= holeFlag {
			return pos, fmt.Errorf("damaged record in %s at file offset %d: %v; only %d bytes to the next record, too few or too many to mark as a hole",
				name, pos, bad, resync-pos)
		}
		if err := s.writeHole(seg, pos, resync); err != nil {
			return pos, err
		}
		s.holes++
		s.log.Error("store: repair: skipped damaged bytes of the commit log; the records in them are lost",
			"segment", name, "file_offset", pos, "commit_log_offset", seg.start+pos, "bytes", resync-pos, "reason", bad.Error())
		pos = resync
	}
	return pos, nil
}

// scanFrames indexes valid frames from pos until the end of the file (returning fileSize, nil) or
// the first defective frame (returning its position and the defect).
func (s *Store) scanFrames(seg *segment, r *bufio.Reader, pos, fileSize int64, payload *[]byte) (int64, error) {
	var hdr [frameHeaderSize]byte
	for pos < fileSize {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return pos, fmt.Errorf("frame header at %d: %w", pos, err)
		}
		if n, ok := isHole(hdr[:]); ok {
			if pos+frameHeaderSize+n > fileSize {
				return pos, fmt.Errorf("hole at %d: length %d with %d bytes left", pos, n, fileSize-pos-frameHeaderSize)
			}
			if _, err := r.Discard(int(n)); err != nil {
				return pos, fmt.Errorf("hole at %d: %w", pos, err)
			}
			s.holes++
			pos += frameHeaderSize + n
			continue
		}
		n := int64(binary.BigEndian.Uint32(hdr[0:]))
		sum := binary.BigEndian.Uint32(hdr[4:])
		if n < message.MinRecordSize || n > MaxRecordCeiling || pos+frameHeaderSize+n > fileSize {
			return pos, fmt.Errorf("frame at %d: length %d with %d bytes left", pos, n, fileSize-pos-frameHeaderSize)
		}
		if int64(cap(*payload)) < n {
			*payload = make([]byte, n)
		}
		p := (*payload)[:n]
		if _, err := io.ReadFull(r, p); err != nil {
			return pos, fmt.Errorf("frame payload at %d: %w", pos, err)
		}
		if crc32.Checksum(p, castagnoli) != sum {
			return pos, fmt.Errorf("frame at %d: crc mismatch", pos)
		}
		if err := s.indexRecovered(seg, seg.start+pos, p); err != nil {
			return pos, fmt.Errorf("record at %d: %w", pos, err)
		}
		s.maxRecovered = max(s.maxRecovered, n)
		pos += frameHeaderSize + n
	}
	return pos, nil
}

// findNextFrame returns the first position at or after from where a valid frame starts (a
// plausible length, the V1 magic code, PHYSICALOFFSET equal to the position, a matching CRC and
// a record that decodes), or -1. Only recovery after a defect calls it.
func (s *Store) findNextFrame(seg *segment, from, fileSize int64, payload *[]byte) int64 {
	const chunk = 1 << 20
	probe := make([]byte, frameHeaderSize+message.PosPhysicalOffset+8)
	buf := make([]byte, chunk+len(probe))
	for base := from; base+int64(len(probe)) <= fileSize; base += chunk {
		n, _ := seg.fd().ReadAt(buf, base)
		for i := 0; i+len(probe) <= n && i < chunk; i++ {
			h := buf[i:]
			l := int64(binary.BigEndian.Uint32(h))
			pos := base + int64(i)
			if l < message.MinRecordSize || l > MaxRecordCeiling || pos+frameHeaderSize+l > fileSize ||
				int32(binary.BigEndian.Uint32(h[frameHeaderSize+message.PosMagic:])) != message.MagicV1 ||
				int64(binary.BigEndian.Uint64(h[frameHeaderSize+message.PosPhysicalOffset:])) != seg.start+pos {
				continue
			}
			if int64(cap(*payload)) < l {
				*payload = make([]byte, l)
			}
			p := (*payload)[:l]
			if _, err := seg.fd().ReadAt(p, pos+frameHeaderSize); err != nil {
				continue
			}
			if crc32.Checksum(p, castagnoli) != binary.BigEndian.Uint32(h[4:]) {
				continue
			}
			if hd, err := message.DecodeHeader(p); err != nil || int64(hd.Size) != l {
				continue
			}
			return pos
		}
	}
	return -1
}

// writeHole overwrites [from, to) of seg with a hole frame and fsyncs it.
func (s *Store) writeHole(seg *segment, from, to int64) error {
	var hdr [frameHeaderSize]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(to-from-frameHeaderSize)|holeFlag)
	binary.BigEndian.PutUint32(hdr[4:], holeMagic)
	if _, err := seg.fd().WriteAt(hdr[:], from); err != nil {
		return fmt.Errorf("store: repair %s: %w", segmentName(seg.start), err)
	}
	if err := seg.fd().Sync(); err != nil {
		return fmt.Errorf("store: repair %s: fsync: %w", segmentName(seg.start), err)
	}
	return nil
}

// indexRecovered checks a CRC-valid record and adds it to the index.
func (s *Store) indexRecovered(seg *segment, phys int64, p []byte) error {
	h, err := message.DecodeHeader(p)
	if err != nil {
		return err
	}
	if h.Size != len(p) {
		return fmt.Errorf("TOTALSIZE %d but frame length %d", h.Size, len(p))
	}
	if h.PhysicalOffset != phys {
		return fmt.Errorf("PHYSICALOFFSET %d but frame at %d", h.PhysicalOffset, phys)
	}
	seg.maxTs = max(seg.maxTs, h.StoreTimestamp)
	if s.opts.OnRecover != nil && phys >= s.appFrom {
		s.opts.OnRecover(h, p)
	}
	if phys < s.indexFrom {
		return nil // in the derived files (checkpoint)
	}
	if cut, ok := s.deletedTopics[string(h.Topic)]; ok && phys < cut {
		return nil // deleted by DeleteTopic
	}
	q := s.queueForAppendLocked(string(h.Topic), h.QueueID)
	switch {
	case h.QueueOffset == q.len():
	case h.QueueOffset > q.len() && q.empty():
		// The queue's earlier records were deleted by retention.
		q.reset(h.QueueOffset)
	case h.QueueOffset > q.len() && s.holes > 0:
		// Records lost to a repaired hole: keep the queue offsets of the ones after it.
		q.skipTo(h.QueueOffset)
	default:
		return fmt.Errorf("QUEUEOFFSET %d but queue %s/%d has %d entries", h.QueueOffset, h.Topic, h.QueueID, q.len())
	}
	var tagsHash int64
	if tags, ok := message.PropertyValue(h.Properties, message.PropTags); ok {
		tagsHash = message.TagsHashBytes(tags)
	}
	q.add(cqEntry{phys: phys, tagsHash: int32(tagsHash), storeTs: h.StoreTimestamp, size: int32(h.Size)})
	if v, ok := message.PropertyValue(h.Properties, message.PropUniqKey); ok && len(v) > 0 {
		s.addKeyLocked(s.hashKey(v), phys)
	}
	if v, ok := message.PropertyValue(h.Properties, message.PropKeys); ok {
		forEachKey(v, func(k []byte) { s.addKeyLocked(s.hashKey(k), phys) })
	}
	return nil
}

// zeroTail reports whether every byte of f from off to its end is zero.
func zeroTail(f *os.File, off int64) bool {
	buf := make([]byte, 64<<10)
	for {
		n, err := f.ReadAt(buf, off)
		for _, b := range buf[:n] {
			if b != 0 {
				return false
			}
		}
		off += int64(n)
		if err != nil {
			return errors.Is(err, io.EOF)
		}
	}
}

// preallocChunk is how far ahead preallocateLocked extends the active segment.
const preallocChunk = 4 << 20

// preallocateLocked makes sure the active segment's file extends to at least need bytes, with
// blocks allocated, by extending it up to preallocChunk more (within the segment size) at a
// time. FlushAsync writes go through a mapping of the file, which must not touch pages past its
// end (window.go). With FlushSync the extension is written zeros: overwriting blocks that are
// already allocated and written lets fdatasync skip the metadata commit that an append (a new
// file size, new extents) needs, about 90 instead of 140 µs per sync here. The zeros are no
// risk to recovery: a zero frame header ends the log (see recover).
func (s *Store) preallocateLocked(need int64) error {
	if need <= s.preallocEnd {
		return nil
	}
	return s.extendLocked(min(s.opts.SegmentSize, max(need, s.preallocEnd+preallocChunk)))
}

// trimPreallocLocked cuts the active segment's preallocated tail, so that a sealed or closed
// segment is exactly as long as its data.
func (s *Store) trimPreallocLocked() error {
	if err := s.unmapLocked(); err != nil {
		return err
	}
	if s.active == nil || s.preallocEnd <= s.activeSize {
		return nil
	}
	if err := s.active.fd().Truncate(s.activeSize); err != nil {
		return fmt.Errorf("store: trim segment %s: %w", segmentName(s.active.start), err)
	}
	s.preallocEnd = s.activeSize
	return nil
}
