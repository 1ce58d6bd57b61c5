package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"unsafe"
)

// Consume-queue chunks live in mapped files (doc.go "Consume-queue files"): the entries are
// file-backed pages, which the kernel may write back and evict, not anonymous memory that grows
// with every stored message. Like the key index they are derived data, kept up to the checkpoint
// (checkpoint.go) and rebuilt from the commit log when there is no usable one; their
// layout is simply the in-memory cqEntry array (native byte order).
const cqDirName = "consumequeue"

// cqAlloc hands out consume-queue chunks; the Store's appendMu guards it (chunks are allocated,
// grown, refiled and released only by writers, which hold appendMu, or by recovery; what readers
// see of them changes only under idxMu too).
type cqAlloc struct {
	dir    string
	seq    int
	log    *slog.Logger
	failed int // chunks that fell back to the heap
	// unmappable: mmap is not available here (errUnsupported), so every chunk is a heap chunk
	// and neither chunk nor refile tries to create a file again.
	unmappable bool
	// orphans are the files of chunks moved to the heap by a failed grow: unmapped, but closed
	// and deleted only at the start of the next checkpoint (under ckptMu, so after the
	// previous one's fdatasyncs, which may have picked them up) or by Close. Guarded by
	// appendMu (grow's callers hold it too).
	orphans []*cqChunkFile
}

// cqChunkFile is the mapping behind one chunk (nil for a heap chunk).
type cqChunkFile struct {
	path string
	seq  int64 // the file's name
	// f is the open file while the chunk may still change or need an fdatasync; nil once it
	// is clean (full and synced: never written, grown or synced again), when the mapping alone
	// keeps it (closeClean). So the broker holds O(1) descriptors per queue, not one per 32768
	// entries, and a restart opens each full chunk only long enough to map it.
	f *os.File
	b []byte // the mapping: the whole file, capacity entries (grow maps it again)
	// clean: synced by a checkpoint while full, so it never needs another fsync. fullAtSnap is
	// the checkpoint's note of fullness. synced: the entries a checkpoint's fdatasync covered
	// (entries never change once written, so a chunk with no more needs none; an idle queue
	// costs its checkpoints nothing); lenAtSnap: the checkpoint's note of the count. All
	// guarded by the Store's appendMu.
	clean, fullAtSnap bool
	synced, lenAtSnap int
}

const cqEntrySize = int64(unsafe.Sizeof(cqEntry{}))

// cqValidCap reports whether a chunk file may hold capacity entries: a power of two from
// cqFirstChunk to cqChunk (doc.go "Consume-queue files").
func cqValidCap(capacity int64) bool {
	return capacity >= cqFirstChunk && capacity <= cqChunk && capacity&(capacity-1) == 0
}

func openCQAlloc(storeDir string, log *slog.Logger) (*cqAlloc, error) {
	dir := filepath.Join(storeDir, cqDirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: create consume queues: %w", err)
	}
	return &cqAlloc{dir: dir, log: log}, nil
}

// chunk returns an empty chunk of capacity cqFirstChunk: mapped from a new, allocated file, or,
// if that fails (no mmap here, no room), from the heap.
func (a *cqAlloc) chunk() ([]cqEntry, *cqChunkFile) {
	if a != nil && !a.unmappable {
		if c, cf, err := a.mapChunk(cqFirstChunk); err == nil {
			return c, cf
		} else if errors.Is(err, errUnsupported) {
			a.unmappable = true
		} else {
			a.mapFailed(err)
		}
	}
	return make([]cqEntry, 0, cqFirstChunk), nil
}

// refile copies the heap chunk c into a new, allocated file of the same capacity and returns
// the mapped copy, so that a checkpoint can name it again once there is room on the disk (a
// chunk moves to the heap when its file cannot be created or extended). The new file is
// fdatasynced by the checkpoint that names it (its entries are past any synced count). The
// caller holds appendMu, not necessarily idxMu: readers keep using c until the caller swaps
// the copy in under idxMu.
func (a *cqAlloc) refile(c []cqEntry) ([]cqEntry, *cqChunkFile, error) {
	if a.unmappable {
		return nil, nil, errUnsupported
	}
	if !cqValidCap(int64(cap(c))) {
		return nil, nil, fmt.Errorf("store: heap chunk of capacity %d", cap(c))
	}
	nc, cf, err := a.mapChunk(int64(cap(c)))
	if err != nil {
		if errors.Is(err, errUnsupported) {
			a.unmappable = true
		}
		return nil, nil, err
	}
	nc = nc[:len(c)]
	copy(nc, c)
	return nc, cf, nil
}

func (a *cqAlloc) mapFailed(err error) {
	a.failed++
	if a.failed == 1 || a.failed%1000 == 0 {
		a.log.Warn("store: consume-queue chunk kept in memory", "failures", a.failed, "err", err)
	}
}

// mapChunk creates the next chunk file with room for capacity entries and maps it.
func (a *cqAlloc) mapChunk(capacity int64) ([]cqEntry, *cqChunkFile, error) {
	seq := int64(a.seq)
	path := filepath.Join(a.dir, fmt.Sprintf("%020d", seq))
	a.seq++
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, nil, err
	}
	cf := &cqChunkFile{path: path, seq: seq, f: f}
	c, err := cf.mapCap(0, capacity)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, nil, err
	}
	return c, cf, nil
}

// mapCap extends cf's file to capacity entries and maps all of it in place of the previous
// (smaller) mapping, returning the chunk with its first n entries, which the shared mappings
// have in common through the page cache.
func (cf *cqChunkFile) mapCap(n int, capacity int64) ([]cqEntry, error) {
	b, err := cf.remap(capacity)
	if err != nil {
		return nil, err
	}
	if cf.b != nil {
		_ = munmap(cf.b) // its entries are in the file, and in the new mapping
	}
	cf.b = b
	return cqEntries(b)[:n], nil
}

// remap extends cf's file to capacity entries and returns a new mapping of all of it; cf.b, the
// previous mapping, stays valid (the caller unmaps it once no reader can use it).
func (cf *cqChunkFile) remap(capacity int64) ([]byte, error) {
	size := capacity * cqEntrySize
	// Allocated now, so a full file system fails here rather than as a SIGBUS on a store into
	// a mapped hole.
	if err := fallocate(cf.f, 0, size); err != nil {
		if !errors.Is(err, errUnsupported) {
			return nil, err
		}
		if err := cf.f.Truncate(size); err != nil {
			return nil, err
		}
	}
	return mmap(cf.f, 0, size)
}

// cqPrep is the file work for a queue's next chunk boundary, done by reserve before idxMu is
// taken and installed by add under it without a syscall.
type cqPrep struct {
	ahead     []byte       // the last chunk's file extended and mapped again (nil: none)
	spare     []cqEntry    // the next chunk, empty (nil: none)
	spareFile *cqChunkFile // spare's file (nil: heap)
	stale     []byte       // the mapping ahead replaced: unmapped once idxMu is released
}

// reserve does the file work of the next k adds ahead of them, with appendMu held and not idxMu
// (readers are not stalled by fallocate or mmap): if they fill the last chunk, its file is
// extended and mapped again or, if it is full-size, the next chunk is created. Only the first
// chunk boundary is prepared: a batch that crosses two (more entries than the free room plus
// the next chunk size) does the rest in add, under idxMu. If the work fails, add tries again
// (and falls back to the heap). Every reserve must be followed by the adds and by finishPrep.
func (q *consumeQueue) reserve(k int64) {
	if q.al == nil || q.prep != nil {
		return
	}
	last := len(q.chunks) - 1
	if last >= 0 && int64(cap(q.chunks[last])-len(q.chunks[last])) >= k {
		return
	}
	if last < 0 || cap(q.chunks[last]) == cqChunk {
		c, cf := q.al.chunk()
		q.prep = &cqPrep{spare: c, spareFile: cf}
		return
	}
	cf := q.files[last]
	if cf == nil {
		return // a heap chunk grows on the heap (a checkpoint moves it to a file)
	}
	b, err := cf.remap(min(2*int64(cap(q.chunks[last])), cqChunk))
	if err != nil {
		return // add's grow tries again
	}
	q.prep = &cqPrep{ahead: b}
}

// finishPrep unmaps what add replaced; appendMu held, idxMu released since (no reader can hold
// the old mapping).
func (q *consumeQueue) finishPrep() {
	if q.prep == nil {
		return
	}
	for _, b := range [][]byte{q.prep.stale, q.prep.ahead} { // ahead: only if add never got there
		if b != nil {
			_ = munmap(b)
		}
	}
	if q.prep.spare != nil && q.prep.spareFile != nil {
		_ = q.prep.spareFile.release() // derived data: a leftover file is removed by the next Open
	}
	q.prep = nil
}

// cqEntries views a mapping as its entries (len = capacity).
func cqEntries(b []byte) []cqEntry {
	return unsafe.Slice((*cqEntry)(unsafe.Pointer(unsafe.SliceData(b))), int64(len(b))/cqEntrySize)
}

// grow returns the full chunk c with twice its capacity (at most cqChunk): its file extended
// and mapped again, or, if that fails, a heap copy (no checkpoint can then be written until
// one moves the chunk back into a file: refile). The caller holds idxMu exclusively (no reader
// uses the old mapping) and appendMu, or runs recovery; Put prepares most grows before idxMu
// instead (consumeQueue.reserve).
func (a *cqAlloc) grow(c []cqEntry, cf *cqChunkFile) ([]cqEntry, *cqChunkFile) {
	capacity := min(2*int64(cap(c)), cqChunk)
	if cf != nil {
		nc, err := cf.mapCap(len(c), capacity)
		if err == nil {
			return nc, cf
		}
		a.mapFailed(err)
	}
	h := make([]cqEntry, len(c), capacity)
	copy(h, c)
	if cf != nil {
		_ = munmap(cf.b)
		cf.b = nil
		a.orphans = append(a.orphans, cf)
	}
	return h, nil
}

// releaseOrphans closes and deletes the files of chunks that grow moved to the heap.
func releaseOrphans(cfs []*cqChunkFile) {
	for _, cf := range cfs {
		// Derived data no checkpoint will name again: a leftover is removed by the next Open.
		_ = errors.Join(cf.closeFile(), os.Remove(cf.path))
	}
}

// closeFile closes cf's file if it is open; the mapping stays valid.
func (cf *cqChunkFile) closeFile() error {
	if cf.f == nil {
		return nil
	}
	err := cf.f.Close()
	cf.f = nil
	return err
}

// closeClean closes the file of a clean chunk (full and synced by a checkpoint): nothing writes,
// grows or syncs it again, and release removes it by path. Its mapping stays valid (a shared
// mapping keeps its own reference to the file). The caller holds appendMu or runs recovery.
func (cf *cqChunkFile) closeClean() {
	if cf.clean {
		_ = cf.closeFile() // read-only from here on: a close error loses nothing
	}
}

// release unmaps, closes and deletes a chunk's file.
func (cf *cqChunkFile) release() error {
	if cf == nil {
		return nil
	}
	err := errors.Join(munmap(cf.b), cf.closeFile(), os.Remove(cf.path))
	cf.b = nil
	if err != nil {
		return fmt.Errorf("store: consume-queue chunk %s: %w", cf.path, err)
	}
	return nil
}

// close unmaps and closes a chunk's file, keeping it (a checkpoint may name it).
func (cf *cqChunkFile) close() error {
	if cf == nil || cf.b == nil {
		return nil
	}
	err := errors.Join(munmap(cf.b), cf.closeFile())
	cf.b = nil
	if err != nil {
		return fmt.Errorf("store: consume-queue chunk %s: %w", cf.path, err)
	}
	return nil
}
