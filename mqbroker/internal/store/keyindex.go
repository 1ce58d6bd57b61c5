package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The key index lives in hash-slot files (ADR 0004, doc.go "Key index files") mapped into
// memory: file-backed pages, which the kernel may write back and evict, not anonymous memory
// that grows with every stored message. The files are derived data: kept across restarts up to
// the checkpoint (checkpoint.go), rebuilt from the commit log when there is none.
const (
	indexDirName     = "index"
	ixMagic          = "MQIX"
	ixVersion        = 1
	ixHeaderSize     = 64
	ixEntrySize      = 20
	defaultIxSlots   = 1 << 18 // 1 MiB of slots
	defaultIxEntries = 1 << 20 // 20 MiB of entries: 0.5-1 M messages per file
)

// keyIndex is the set of index files, oldest first; keys are added to the last one. The Store's
// idxMu guards it (writers hold it exclusively, readers shared).
type keyIndex struct {
	dir            string
	slots, entries uint32
	files          []*ixFile
	seq            int // names the next file
}

// ixFile is one index file: header, slots, entries (doc.go).
type ixFile struct {
	path string
	seq  int64 // the file's name
	// f is the open file until the file is clean (full and synced by a checkpoint: never
	// written or synced again), when the mapping alone keeps it (closeClean); nil as well for a
	// heap buffer (heap).
	f    *os.File
	heap bool // b is a heap buffer (no mmap on this platform)
	// clean: synced by a checkpoint while full; fullAtSnap: the checkpoint's note of fullness.
	// Guarded by the Store's appendMu.
	clean, fullAtSnap bool
	b                 []byte
	n                 uint32 // entries written
	minPhys, maxPhys  int64
}

// openKeyIndex returns an empty index over dir; recovery then loads the files a checkpoint names
// or removes them all (resetDerived).
func openKeyIndex(storeDir string, slots, entries uint32) (*keyIndex, error) {
	dir := filepath.Join(storeDir, indexDirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: create key index: %w", err)
	}
	return &keyIndex{dir: dir, slots: slots, entries: entries}, nil
}

func (ix *keyIndex) fileSize() int64 {
	return ixHeaderSize + 4*int64(ix.slots) + ixEntrySize*int64(ix.entries)
}

// newFile creates, allocates and maps the next index file.
func (ix *keyIndex) newFile() (*ixFile, error) {
	seq := int64(ix.seq)
	path := filepath.Join(ix.dir, fmt.Sprintf("%020d", seq))
	ix.seq++
	size := ix.fileSize()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: create key index file: %w", err)
	}
	// Allocate the blocks now: a store into a mapped hole of a full file system would be a
	// SIGBUS, an error here is not.
	if err := fallocate(f, 0, size); err != nil {
		if !errors.Is(err, errUnsupported) {
			f.Close()
			os.Remove(path)
			return nil, fmt.Errorf("store: allocate key index file: %w", err)
		}
		if err := f.Truncate(size); err != nil {
			f.Close()
			os.Remove(path)
			return nil, fmt.Errorf("store: size key index file: %w", err)
		}
	}
	x := &ixFile{path: path, seq: seq, f: f, minPhys: -1}
	if x.b, err = mmap(f, 0, size); err != nil {
		if !errors.Is(err, errUnsupported) {
			f.Close()
			os.Remove(path)
			return nil, fmt.Errorf("store: map key index file: %w", err)
		}
		// No mmap here: the same layout in a heap buffer.
		f.Close()
		os.Remove(path)
		x.f, x.b, x.heap = nil, make([]byte, size), true
	}
	copy(x.b, ixMagic)
	binary.BigEndian.PutUint32(x.b[4:], ixVersion)
	binary.BigEndian.PutUint32(x.b[8:], ix.slots)
	binary.BigEndian.PutUint32(x.b[12:], ix.entries)
	return x, nil
}

// add records that the record at phys carries a key with hash h.
func (ix *keyIndex) add(h uint64, phys int64) error {
	var x *ixFile
	if len(ix.files) > 0 {
		x = ix.files[len(ix.files)-1]
	}
	if x == nil || x.n == ix.entries {
		nx, err := ix.newFile()
		if err != nil {
			return err
		}
		ix.files = append(ix.files, nx)
		x = nx
	}
	slot := ixHeaderSize + 4*int64(h%uint64(ix.slots))
	e := ixHeaderSize + 4*int64(ix.slots) + ixEntrySize*int64(x.n)
	binary.BigEndian.PutUint64(x.b[e:], h)
	binary.BigEndian.PutUint64(x.b[e+8:], uint64(phys))
	binary.BigEndian.PutUint32(x.b[e+16:], binary.BigEndian.Uint32(x.b[slot:]))
	x.n++
	binary.BigEndian.PutUint32(x.b[slot:], x.n) // entry number + 1
	binary.BigEndian.PutUint32(x.b[16:], x.n)
	if x.minPhys < 0 {
		x.minPhys = phys
		binary.BigEndian.PutUint64(x.b[24:], uint64(phys))
	}
	x.maxPhys = max(x.maxPhys, phys)
	binary.BigEndian.PutUint64(x.b[32:], uint64(x.maxPhys))
	return nil
}

// lookup returns the physical offsets of the entries with hash h (candidates: the caller reads
// each record and compares its keys), at or above minPhys.
func (ix *keyIndex) lookup(h uint64, minPhys int64) []int64 {
	var out []int64
	for _, x := range ix.files {
		if x.maxPhys < minPhys {
			continue
		}
		slot := ixHeaderSize + 4*int64(h%uint64(ix.slots))
		for i := binary.BigEndian.Uint32(x.b[slot:]); i != 0; {
			e := ixHeaderSize + 4*int64(ix.slots) + ixEntrySize*int64(i-1)
			if binary.BigEndian.Uint64(x.b[e:]) == h {
				if phys := int64(binary.BigEndian.Uint64(x.b[e+8:])); phys >= minPhys {
					out = append(out, phys)
				}
			}
			i = binary.BigEndian.Uint32(x.b[e+16:])
		}
	}
	return out
}

// prune drops the files (not the one being written) whose entries all lie below upTo.
func (ix *keyIndex) prune(upTo int64) error {
	var errs []error
	for len(ix.files) > 1 && ix.files[0].maxPhys < upTo {
		errs = append(errs, ix.files[0].close(true))
		ix.files[0] = nil
		ix.files = ix.files[1:]
	}
	return errors.Join(errs...)
}

// close unmaps and closes every file (they are rebuilt by the next Open).
func (ix *keyIndex) close() error {
	var errs []error
	for _, x := range ix.files {
		errs = append(errs, x.close(false))
	}
	ix.files = nil
	return errors.Join(errs...)
}

// closeClean closes the file of a clean index file; its mapping stays valid (see cqChunkFile's).
// The caller holds appendMu or runs recovery.
func (x *ixFile) closeClean() {
	if x.clean && x.f != nil {
		_ = x.f.Close() // read-only from here on: a close error loses nothing
		x.f = nil
	}
}

func (x *ixFile) close(remove bool) error {
	if x.heap {
		x.b = nil
		return nil
	}
	err := munmap(x.b)
	x.b = nil
	if x.f != nil {
		err = errors.Join(err, x.f.Close())
		x.f = nil
	}
	if remove {
		err = errors.Join(err, os.Remove(x.path))
	}
	if err != nil {
		return fmt.Errorf("store: key index file %s: %w", x.path, err)
	}
	return nil
}
