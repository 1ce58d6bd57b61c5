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
// with every stored message. Like the key index they are derived data, removed and rebuilt by
// every Open from the commit log, so they need no recovery rule and their layout is simply the
// in-memory cqEntry array (native byte order).
const cqDirName = "consumequeue"

// cqAlloc hands out consume-queue chunks; the Store's idxMu guards it (chunks are allocated and
// released only by writers, which hold idxMu exclusively, or by recovery).
type cqAlloc struct {
	dir    string
	seq    int
	log    *slog.Logger
	failed int // chunks that fell back to the heap
}

// cqChunkFile is the mapping behind one chunk (nil for a heap chunk).
type cqChunkFile struct {
	path string
	f    *os.File
	b    []byte
}

func openCQAlloc(storeDir string, log *slog.Logger) (*cqAlloc, error) {
	dir := filepath.Join(storeDir, cqDirName)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("store: reset consume queues: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: create consume queues: %w", err)
	}
	return &cqAlloc{dir: dir, log: log}, nil
}

// chunk returns an empty chunk of the given capacity (cqFirstChunk or cqChunk entries): mapped
// from a new, fully allocated file, or, if that fails (no mmap here, no room), from the heap.
func (a *cqAlloc) chunk(capacity int) ([]cqEntry, *cqChunkFile) {
	if a != nil {
		if c, cf, err := a.mapChunk(capacity); err == nil {
			return c, cf
		} else if !errors.Is(err, errUnsupported) {
			a.mapFailed(err)
		}
	}
	return make([]cqEntry, 0, capacity), nil
}

func (a *cqAlloc) mapFailed(err error) {
	a.failed++
	if a.failed == 1 || a.failed%1000 == 0 {
		a.log.Warn("store: consume-queue chunk kept in memory", "failures", a.failed, "err", err)
	}
}

func (a *cqAlloc) mapChunk(capacity int) ([]cqEntry, *cqChunkFile, error) {
	path := filepath.Join(a.dir, fmt.Sprintf("%020d", a.seq))
	a.seq++
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, nil, err
	}
	cf := &cqChunkFile{path: path, f: f}
	c, err := cf.mapCap(nil, capacity)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, nil, err
	}
	return c, cf, nil
}

// mapCap extends cf's file to capacity entries, maps it and returns the chunk, with the entries
// of c (the chunk of the previous, smaller mapping, which it unmaps).
func (cf *cqChunkFile) mapCap(c []cqEntry, capacity int) ([]cqEntry, error) {
	size := int64(capacity) * int64(unsafe.Sizeof(cqEntry{}))
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
	b, err := mmap(cf.f, 0, size)
	if err != nil {
		return nil, err
	}
	if cf.b != nil {
		_ = munmap(cf.b) // a shared mapping: its entries are in the file, seen by the new one
	}
	cf.b = b
	return unsafe.Slice((*cqEntry)(unsafe.Pointer(unsafe.SliceData(b))), capacity)[:len(c)], nil
}

// grow returns c with twice its capacity (at most cqChunk) and its entries: the same file mapped
// larger, or a heap copy if that fails (the file is then released). idxMu held exclusively: no
// reader uses the old mapping.
func (a *cqAlloc) grow(c []cqEntry, cf *cqChunkFile) ([]cqEntry, *cqChunkFile) {
	capacity := min(2*cap(c), cqChunk)
	if cf != nil {
		nc, err := cf.mapCap(c, capacity)
		if err == nil {
			return nc, cf
		}
		if a != nil {
			a.mapFailed(err)
		}
	}
	h := make([]cqEntry, len(c), capacity)
	copy(h, c)
	_ = cf.release() // derived data: a leftover file is removed by the next Open
	return h, nil
}

// release unmaps, closes and deletes a chunk's file.
func (cf *cqChunkFile) release() error {
	if cf == nil {
		return nil
	}
	err := errors.Join(munmap(cf.b), cf.f.Close(), os.Remove(cf.path))
	cf.b = nil
	if err != nil {
		return fmt.Errorf("store: consume-queue chunk %s: %w", cf.path, err)
	}
	return nil
}
