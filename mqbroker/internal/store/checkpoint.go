package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The checkpoint (doc.go "Checkpoint"): the commit-log offset up to which the derived files are
// flushed and consistent, and the table that says which derived file holds what, so that Open
// keeps the files and scans the commit log only from that offset.
const (
	checkpointFileName = "checkpoint"
	ckMagic            = "MQCK"
	ckVersion          = 1
)

// checkpoint is the decoded checkpoint file.
type checkpoint struct {
	offset    int64  // derived files are consistent for exactly the records below it
	seed      uint64 // key-index hash seed
	stateCRC  uint32 // CRC-32C of state.json when written (0: no state file)
	cqNextSeq int64
	ixNextSeq int64
	// maxRecord is the largest record length Read must accept: records written under a higher
	// MaxMessageSize than the current one stay readable after a checkpointed restart.
	maxRecord int64
	segs      []ckSegment
	queues    []ckQueue
	ixFiles   []ckIndexFile
	appOffset int64 // the application state reflects every record below it
	app       []byte
}

type ckSegment struct{ start, maxTs int64 }

type ckQueue struct {
	topic          string
	queueID        int32
	first, min, n  int64
	chunks         []int64 // chunk file sequence numbers
	chunkFiles     []*cqChunkFile
	lastEntryValid bool
}

type ckIndexFile struct {
	seq              int64
	n                uint32
	minPhys, maxPhys int64
}

func (c *checkpoint) encode() []byte {
	b := make([]byte, 0, 256)
	b = append(b, ckMagic...)
	b = binary.BigEndian.AppendUint32(b, ckVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(c.offset))
	b = binary.BigEndian.AppendUint64(b, c.seed)
	b = binary.BigEndian.AppendUint32(b, c.stateCRC)
	b = binary.BigEndian.AppendUint64(b, uint64(c.cqNextSeq))
	b = binary.BigEndian.AppendUint64(b, uint64(c.ixNextSeq))
	b = binary.BigEndian.AppendUint64(b, uint64(c.maxRecord))
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.segs)))
	for _, sg := range c.segs {
		b = binary.BigEndian.AppendUint64(b, uint64(sg.start))
		b = binary.BigEndian.AppendUint64(b, uint64(sg.maxTs))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.queues)))
	for _, q := range c.queues {
		b = binary.BigEndian.AppendUint16(b, uint16(len(q.topic)))
		b = append(b, q.topic...)
		b = binary.BigEndian.AppendUint32(b, uint32(q.queueID))
		b = binary.BigEndian.AppendUint64(b, uint64(q.first))
		b = binary.BigEndian.AppendUint64(b, uint64(q.min))
		b = binary.BigEndian.AppendUint64(b, uint64(q.n))
		b = binary.BigEndian.AppendUint32(b, uint32(len(q.chunks)))
		for _, c := range q.chunks {
			b = binary.BigEndian.AppendUint64(b, uint64(c))
		}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.ixFiles)))
	for _, x := range c.ixFiles {
		b = binary.BigEndian.AppendUint64(b, uint64(x.seq))
		b = binary.BigEndian.AppendUint32(b, x.n)
		b = binary.BigEndian.AppendUint64(b, uint64(x.minPhys))
		b = binary.BigEndian.AppendUint64(b, uint64(x.maxPhys))
	}
	b = binary.BigEndian.AppendUint64(b, uint64(c.appOffset))
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.app)))
	b = append(b, c.app...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// ckReader decodes big-endian fields, remembering the first short read.
type ckReader struct {
	b   []byte
	err error
}

func (r *ckReader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = errors.New("truncated")
		return make([]byte, max(n, 0))
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
func (r *ckReader) u16() uint16 { return binary.BigEndian.Uint16(r.take(2)) }
func (r *ckReader) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *ckReader) i64() int64  { return int64(binary.BigEndian.Uint64(r.take(8))) }

// count reads a table length, bounded by what is left (each entry is at least min bytes).
func (r *ckReader) count(min int) int {
	n := int(r.u32())
	if r.err == nil && n > len(r.b)/min {
		r.err = fmt.Errorf("count %d exceeds the file", n)
		return 0
	}
	return n
}

func decodeCheckpoint(b []byte) (*checkpoint, error) {
	if len(b) < 12 || string(b[:4]) != ckMagic {
		return nil, errors.New("bad magic")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errors.New("crc mismatch")
	}
	r := &ckReader{b: body[4:]}
	if v := r.u32(); v != ckVersion {
		return nil, fmt.Errorf("unknown version %d", v)
	}
	c := &checkpoint{offset: r.i64(), seed: uint64(r.i64()), stateCRC: r.u32(), cqNextSeq: r.i64(), ixNextSeq: r.i64(), maxRecord: r.i64()}
	for range r.count(16) {
		c.segs = append(c.segs, ckSegment{start: r.i64(), maxTs: r.i64()})
	}
	for range r.count(34) {
		q := ckQueue{topic: string(r.take(int(r.u16())))}
		q.queueID = int32(r.u32())
		q.first, q.min, q.n = r.i64(), r.i64(), r.i64()
		for range r.count(8) {
			q.chunks = append(q.chunks, r.i64())
		}
		c.queues = append(c.queues, q)
	}
	for range r.count(28) {
		c.ixFiles = append(c.ixFiles, ckIndexFile{seq: r.i64(), n: r.u32(), minPhys: r.i64(), maxPhys: r.i64()})
	}
	c.appOffset = r.i64()
	c.app = append([]byte(nil), r.take(int(r.u32()))...)
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return c, nil
}

// writeFileAtomic replaces dir/name with b: temp file, fsync, rename, fsync dir.
func writeFileAtomic(dir, name string, b []byte) error {
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	return syncDir(dir)
}

// errNoCheckpoint: a derived chunk lives on the heap (no file), so no checkpoint can describe it.
var errNoCheckpoint = errors.New("a consume-queue chunk is not in a file")

// Checkpoint makes the derived files durable and records up to where they are consistent, so
// that the next Open reads only what was written after it. The flusher calls it every
// Options.CheckpointInterval, and Close, Retain and DeleteTopic call it too.
func (s *Store) Checkpoint() error {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	return s.checkpointLocked()
}

// checkpointLocked writes a checkpoint; ckptMu held.
func (s *Store) checkpointLocked() error {
	// Files of chunks that grow moved to the heap since the previous checkpoint, which is
	// finished (ckptMu) and was the last that could have fdatasynced them: released first, so
	// that a read-only store, or one whose SaveState fails, does not keep them.
	s.appendMu.Lock()
	orphans := s.cqs.orphans
	s.cqs.orphans = nil
	s.appendMu.Unlock()
	releaseOrphans(orphans)
	if s.fatal.Load() != nil {
		return nil // the store is read-only: keep the last checkpoint
	}
	// The application's state first: it reflects every record below appOffset, and the
	// derived snapshot taken next is at or beyond it.
	var app []byte
	appOffset := int64(-1)
	if s.opts.SaveState != nil {
		var err error
		if appOffset, app, err = s.opts.SaveState(s); err != nil {
			return fmt.Errorf("store: checkpoint: save state: %w", err)
		}
	}
	c, cqFiles, ixFiles, err := s.snapshotCheckpoint()
	if err != nil {
		if errors.Is(err, errNoCheckpoint) {
			if !s.ckptWarned {
				s.ckptWarned = true
				s.log.Warn("store: no checkpoint: derived data is not all in files; the next Open rebuilds it")
			}
			return nil
		}
		return err
	}
	if appOffset < 0 {
		appOffset = c.offset
	}
	c.appOffset, c.app = min(appOffset, c.offset), app
	// The commit log up to the offset, then the derived files, then the checkpoint that names
	// them: after a crash at any point the previous checkpoint still holds.
	if c.offset > s.flushedOffset() {
		if err := s.syncOnce(); err != nil {
			return err
		}
	}
	var errs []error
	for _, cf := range cqFiles {
		if err := fdatasync(cf.f); err != nil {
			errs = append(errs, err)
		}
	}
	for _, x := range ixFiles {
		if err := fdatasync(x.f); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: checkpoint: fsync derived files: %w", err)
	}
	s.markClean(cqFiles, ixFiles)
	if err := s.syncDerivedDirs(c); err != nil {
		return err
	}
	if err := writeFileAtomic(s.opts.Dir, checkpointFileName, c.encode()); err != nil {
		return err
	}
	s.ckptWarned = false // warn again when checkpoints stop again
	s.ckptOffset.Store(c.offset)
	return nil
}

// syncDerivedDirs fsyncs the consume-queue and key-index directories if a file was created in
// them (its sequence number taken) since they were last synced by this process, so that the
// checkpoint about to name the files does not outlive their directory entries after a power
// loss (which would cost a full rebuild, not data). Files are created under appendMu, on the
// Put path; this costs at most one directory fsync each per checkpoint, off it. ckptMu held.
func (s *Store) syncDerivedDirs(c *checkpoint) error {
	for _, d := range []struct {
		dir    string
		next   int64
		synced *int64
	}{{s.cqs.dir, c.cqNextSeq, &s.cqDirSynced}, {s.keys.dir, c.ixNextSeq, &s.ixDirSynced}} {
		if d.next <= *d.synced {
			continue
		}
		if s.testHookSyncDir != nil {
			s.testHookSyncDir(d.dir)
		}
		if err := syncDir(d.dir); err != nil {
			return fmt.Errorf("store: checkpoint: %w", err)
		}
		*d.synced = d.next
	}
	return nil
}

func (s *Store) flushedOffset() int64 {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	return s.flushed
}

// snapshotCheckpoint captures the derived state under appendMu (every index mutation holds it)
// and returns it with the files that may hold unsynced entries. Heap chunks are first moved
// into files (refileHeapChunksLocked); one that cannot be makes it fail with errNoCheckpoint.
func (s *Store) snapshotCheckpoint() (*checkpoint, []*cqChunkFile, []*ixFile, error) {
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	if s.idxClosed {
		return nil, nil, nil, ErrClosed
	}
	s.refileHeapChunksLocked()
	c := &checkpoint{offset: s.written.Load(), seed: s.hashSeed, stateCRC: s.stateCRC,
		cqNextSeq: int64(s.cqs.seq), ixNextSeq: int64(s.keys.seq),
		// Puts of this run are at most MaxMessageSize; older records at most maxRecovered.
		maxRecord: max(int64(s.opts.MaxMessageSize), s.maxRecovered)}
	for _, sg := range *s.segs.Load() {
		c.segs = append(c.segs, ckSegment{start: sg.start, maxTs: sg.maxTs})
	}
	var cqFiles []*cqChunkFile
	for topic, qs := range s.topics {
		for id, q := range qs {
			cq := ckQueue{topic: topic, queueID: id, first: q.first, min: q.min, n: q.n}
			for i, cf := range q.files {
				if cf == nil {
					return nil, nil, nil, errNoCheckpoint
				}
				cq.chunks = append(cq.chunks, cf.seq)
				if l := len(q.chunks[i]); !cf.clean && l != cf.synced {
					cf.fullAtSnap, cf.lenAtSnap = l == cqChunk, l
					cqFiles = append(cqFiles, cf)
				}
			}
			c.queues = append(c.queues, cq)
		}
	}
	slices.SortFunc(c.queues, func(a, b ckQueue) int {
		if d := strings.Compare(a.topic, b.topic); d != 0 {
			return d
		}
		return int(a.queueID) - int(b.queueID)
	})
	var ixFiles []*ixFile
	for _, x := range s.keys.files {
		if x.heap {
			return nil, nil, nil, errNoCheckpoint
		}
		c.ixFiles = append(c.ixFiles, ckIndexFile{seq: x.seq, n: x.n, minPhys: x.minPhys, maxPhys: x.maxPhys})
		if !x.clean {
			x.fullAtSnap = x.n == s.keys.entries
			ixFiles = append(ixFiles, x)
		}
	}
	return c, cqFiles, ixFiles, nil
}

// refileHeapChunksLocked copies every heap chunk into a new file of its capacity (cqAlloc.refile)
// and swaps the mapped copies in under idxMu, so that checkpoints resume once a chunk that fell
// back to the heap (a brief ENOSPC) can be in a file again; appendMu held (no entry changes).
// The file I/O runs before idxMu is taken. A chunk that still cannot be moved stays on the heap
// (failures logged as for chunk) and the next checkpoint tries again.
func (s *Store) refileHeapChunksLocked() {
	type move struct {
		q  *consumeQueue
		i  int
		c  []cqEntry
		cf *cqChunkFile
	}
	if s.cqs.unmappable {
		return
	}
	var moves []move
refile:
	for _, qs := range s.topics {
		for _, q := range qs {
			for i, cf := range q.files {
				if cf != nil {
					continue
				}
				c, cf, err := s.cqs.refile(q.chunks[i])
				if err != nil {
					if !errors.Is(err, errUnsupported) {
						s.cqs.mapFailed(err)
					}
					break refile // the disk is still full: the others would fail too (under appendMu)
				}
				moves = append(moves, move{q, i, c, cf})
			}
		}
	}
	if len(moves) == 0 {
		return
	}
	s.idxMu.Lock()
	for _, m := range moves {
		m.q.chunks[m.i], m.q.files[m.i] = m.c, m.cf
	}
	s.idxMu.Unlock()
	s.log.Info("store: consume-queue chunks moved from memory back to files", "chunks", len(moves))
}

// markClean remembers the files that were full when synced: they never change again.
func (s *Store) markClean(cqFiles []*cqChunkFile, ixFiles []*ixFile) {
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	for _, cf := range cqFiles {
		cf.clean, cf.synced = cf.fullAtSnap, cf.lenAtSnap
		cf.closeClean()
	}
	for _, x := range ixFiles {
		x.clean = x.fullAtSnap
		x.closeClean()
	}
}

// readCheckpoint returns the checkpoint file's content, nil if there is none.
func readCheckpoint(dir string) (*checkpoint, error) {
	b, err := os.ReadFile(filepath.Join(dir, checkpointFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeCheckpoint(b)
}

// removeCheckpoint deletes the checkpoint file, if any, and fsyncs dir so that the deletion is
// durable before the derived files are rebuilt.
func removeCheckpoint(dir string) error {
	err := os.Remove(filepath.Join(dir, checkpointFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: remove the rejected checkpoint: %w", err)
	}
	return syncDir(dir)
}

// loadCheckpoint maps the derived files the checkpoint names into the (empty) index, truncated
// to the checkpoint's positions, and deletes every other derived file. On error the caller
// releases what was loaded and rebuilds everything. Recovery only: no locks.
func (s *Store) loadCheckpoint(c *checkpoint) error {
	if c.stateCRC != s.stateCRC {
		return errors.New("state.json changed after the checkpoint")
	}
	if c.cqNextSeq < 0 || c.cqNextSeq > 1<<40 || c.ixNextSeq < 0 || c.ixNextSeq > 1<<40 {
		return errors.New("implausible file sequence numbers")
	}
	if c.maxRecord < 0 || c.maxRecord > MaxRecordCeiling {
		return errors.New("implausible max record length")
	}
	s.hashSeed = c.seed
	s.maxRecovered = max(s.maxRecovered, c.maxRecord)
	s.cqs.seq = int(c.cqNextSeq)
	s.keys.seq = int(c.ixNextSeq)
	keepCQ := map[string]bool{}
	for _, cq := range c.queues {
		k := len(cq.chunks)
		if cq.min < cq.first || cq.n < cq.min || cq.first < 0 ||
			int64(k) != (cq.n-cq.first+cqChunk-1)/cqChunk {
			return fmt.Errorf("queue %s/%d: inconsistent positions", cq.topic, cq.queueID)
		}
		q := s.queueForAppendLocked(cq.topic, cq.queueID)
		q.first, q.min, q.n = cq.first, cq.min, cq.first
		for i, seq := range cq.chunks {
			if seq < 0 || seq >= c.cqNextSeq {
				return fmt.Errorf("queue %s/%d: chunk %d out of range", cq.topic, cq.queueID, seq)
			}
			l := int64(cqChunk)
			if i == k-1 {
				l = cq.n - cq.first - int64(k-1)*cqChunk
			}
			entries, cf, err := s.cqs.openChunk(seq, l)
			if err != nil {
				return err
			}
			keepCQ[filepath.Base(cf.path)] = true
			q.chunks = append(q.chunks, entries)
			q.files = append(q.files, cf)
			q.n += l
		}
		if q.n > q.min {
			e := q.at(q.n - 1)
			if e.size != 0 && e.phys >= c.offset || e.phys < -1 {
				return fmt.Errorf("queue %s/%d: last entry at %d beyond the checkpoint %d", cq.topic, cq.queueID, e.phys, c.offset)
			}
		}
	}
	if err := removeOthers(s.cqs.dir, keepCQ); err != nil {
		return err
	}
	keepIx := map[string]bool{}
	for _, fx := range c.ixFiles {
		if fx.seq < 0 || fx.seq >= c.ixNextSeq || fx.n > s.keys.entries {
			return fmt.Errorf("key index file %d: implausible", fx.seq)
		}
		x, err := s.keys.openFile(fx)
		if err != nil {
			return err
		}
		s.keys.files = append(s.keys.files, x)
		keepIx[filepath.Base(x.path)] = true
	}
	return removeOthers(s.keys.dir, keepIx)
}

// removeOthers deletes the files of dir that keep does not name.
func removeOthers(dir string, keep map[string]bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, e := range ents {
		if !keep[e.Name()] {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("store: %w", err)
			}
		}
	}
	return nil
}

// resetDerived drops whatever loadCheckpoint loaded and empties the derived directories, for a
// full rebuild. Recovery only.
func (s *Store) resetDerived() error {
	for _, qs := range s.topics {
		for _, q := range qs {
			for _, cf := range q.files {
				_ = cf.close() // the directory is emptied next
			}
			q.chunks, q.files = nil, nil
		}
	}
	s.topics = make(map[string]map[int32]*consumeQueue)
	_ = s.keys.close()
	s.cqs.seq, s.keys.seq = 0, 0
	for _, d := range []string{s.cqs.dir, s.keys.dir} {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("store: reset derived files: %w", err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("store: reset derived files: %w", err)
		}
	}
	s.hashSeed = newHashSeed()
	return nil
}

// openChunk maps an existing consume-queue chunk file that holds n entries (the checkpoint's
// count). Its size must be a capacity a chunk can have (cqValidCap) of at least n entries: it
// may have grown after the checkpoint, never shrunk. Old data dirs, whose chunks were all
// allocated full from the start, pass as chunks of the largest capacity.
func (a *cqAlloc) openChunk(seq, n int64) ([]cqEntry, *cqChunkFile, error) {
	path := filepath.Join(a.dir, fmt.Sprintf("%020d", seq))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("consume-queue chunk: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("consume-queue chunk %s: %w", path, err)
	}
	if capacity := fi.Size() / cqEntrySize; fi.Size()%cqEntrySize != 0 || !cqValidCap(capacity) || capacity < n {
		f.Close()
		return nil, nil, fmt.Errorf("consume-queue chunk %s: wrong size %d for %d entries", path, fi.Size(), n)
	}
	b, err := mmap(f, 0, fi.Size())
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("consume-queue chunk %s: %w", path, err)
	}
	// The checkpoint's n entries were fdatasynced before it was written: a full chunk is clean
	// (its file is closed, the mapping kept), a partial one needs a sync only once it has more.
	cf := &cqChunkFile{path: path, seq: seq, f: f, b: b, synced: int(n), clean: n == cqChunk}
	cf.closeClean()
	return cqEntries(b)[:n], cf, nil
}

// openFile maps an existing key-index file and cuts it back to the checkpoint's entries.
func (ix *keyIndex) openFile(fx ckIndexFile) (*ixFile, error) {
	path := filepath.Join(ix.dir, fmt.Sprintf("%020d", fx.seq))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("key index: %w", err)
	}
	size := ix.fileSize()
	if fi, err := f.Stat(); err != nil || fi.Size() != size {
		f.Close()
		return nil, fmt.Errorf("key index file %s: wrong size", path)
	}
	b, err := mmap(f, 0, size)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("key index file %s: %w", path, err)
	}
	x := &ixFile{path: path, seq: fx.seq, f: f, b: b, n: fx.n, minPhys: fx.minPhys, maxPhys: fx.maxPhys}
	if string(b[:4]) != ixMagic || binary.BigEndian.Uint32(b[4:]) != ixVersion ||
		binary.BigEndian.Uint32(b[8:]) != ix.slots || binary.BigEndian.Uint32(b[12:]) != ix.entries {
		x.close(false)
		return nil, fmt.Errorf("key index file %s: header does not match", path)
	}
	if binary.BigEndian.Uint32(b[16:]) != fx.n {
		// Entries were added after the checkpoint (and may be partly on disk): the slot heads
		// may name them, so rebuild the slots from the entries the checkpoint covers, whose
		// chain links were durable when it was written.
		slots := b[ixHeaderSize : ixHeaderSize+4*int64(ix.slots)]
		clear(slots)
		for i := uint32(0); i < fx.n; i++ {
			e := ixHeaderSize + 4*int64(ix.slots) + ixEntrySize*int64(i)
			h := binary.BigEndian.Uint64(b[e:])
			slot := 4 * int64(h%uint64(ix.slots))
			binary.BigEndian.PutUint32(b[e+16:], binary.BigEndian.Uint32(slots[slot:]))
			binary.BigEndian.PutUint32(slots[slot:], i+1)
		}
		binary.BigEndian.PutUint32(b[16:], fx.n)
		binary.BigEndian.PutUint64(b[24:], uint64(fx.minPhys))
		binary.BigEndian.PutUint64(b[32:], uint64(fx.maxPhys))
	}
	// A full file the checkpoint names was synced before it was written: clean, kept by its
	// mapping alone.
	x.clean = fx.n == ix.entries
	x.closeClean()
	return x, nil
}

// seqOf parses a derived file's 20-digit name.
func seqOf(path string) int64 {
	n, _ := strconv.ParseInt(filepath.Base(path), 10, 64)
	return n
}
