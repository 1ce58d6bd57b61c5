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
	seq  int64 // the file's name
	f    *os.File
	b    []byte
	// clean: synced by a checkpoint while full, so it never needs another fsync. fullAtSnap is
	// the checkpoint's note of fullness. Both guarded by the Store's appendMu.
	clean, fullAtSnap bool
}

func openCQAlloc(storeDir string, log *slog.Logger) (*cqAlloc, error) {
	dir := filepath.Join(storeDir, cqDirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: create consume queues: %w", err)
	}
	return &cqAlloc{dir: dir, log: log}, nil
}

// chunk returns an empty chunk of capacity cqChunk: mapped from a new, fully allocated file, or,
// if that fails (no mmap here, no room), from the heap.
func (a *cqAlloc) chunk() ([]cqEntry, *cqChunkFile) {
	if a != nil {
		if c, cf, err := a.mapChunk(); err == nil {
			return c, cf
		} else if !errors.Is(err, errUnsupported) {
			a.failed++
			if a.failed == 1 || a.failed%1000 == 0 {
				a.log.Warn("store: consume-queue chunk kept in memory", "failures", a.failed, "err", err)
			}
		}
	}
	return make([]cqEntry, 0, cqChunk), nil
}

func (a *cqAlloc) mapChunk() ([]cqEntry, *cqChunkFile, error) {
	size := int64(cqChunk) * int64(unsafe.Sizeof(cqEntry{}))
	seq := int64(a.seq)
	path := filepath.Join(a.dir, fmt.Sprintf("%020d", seq))
	a.seq++
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) ([]cqEntry, *cqChunkFile, error) {
		f.Close()
		os.Remove(path)
		return nil, nil, err
	}
	// Allocated now, so a full file system fails here rather than as a SIGBUS on a store into
	// a mapped hole.
	if err := fallocate(f, 0, size); err != nil {
		if !errors.Is(err, errUnsupported) {
			return fail(err)
		}
		if err := f.Truncate(size); err != nil {
			return fail(err)
		}
	}
	b, err := mmap(f, 0, size)
	if err != nil {
		return fail(err)
	}
	c := unsafe.Slice((*cqEntry)(unsafe.Pointer(unsafe.SliceData(b))), cqChunk)[:0]
	return c, &cqChunkFile{path: path, seq: seq, f: f, b: b}, nil
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

// close unmaps and closes a chunk's file, keeping it (a checkpoint may name it).
func (cf *cqChunkFile) close() error {
	if cf == nil || cf.b == nil {
		return nil
	}
	err := errors.Join(munmap(cf.b), cf.f.Close())
	cf.b = nil
	if err != nil {
		return fmt.Errorf("store: consume-queue chunk %s: %w", cf.path, err)
	}
	return nil
}
