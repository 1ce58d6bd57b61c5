package store

import (
	"errors"
	"fmt"
	"os"
)

// With FlushAsync the active segment is written through a shared memory
// mapping of a window of it (Apache RocketMQ maps whole commit-log files the
// same way): copying a record into the page cache that way costs a memcpy,
// where a pwrite per Put cost ~3 µs of a ~7 µs send on the CI machines
// (BenchmarkSend in internal/broker). FlushSync keeps pwrite (doc.go says
// why).
//
// The bytes are in the page cache as soon as the copy ends, exactly as after
// a pwrite, so a process crash loses nothing acknowledged; fdatasync writes
// back pages dirtied through a mapping like any other (Linux has one page
// cache), so flushing is unchanged. Only bytes the file already holds are
// touched (the segment is preallocated ahead of its data, see
// preallocateLocked): a mapped page beyond the end of the file would raise
// SIGBUS, and preallocated blocks cannot fail with ENOSPC later. The window
// is small and moved along the segment, so the broker's resident set does
// not grow with the pages it has written. Writes that do not fit a window
// (a batch of several MiB) fall back to pwrite.
const writeWindow = 8 << 20

// window is the mapped part of the active segment; appendMu guards it.
type window struct {
	b   []byte // nil: not mapped
	off int64  // file offset of b[0], page-aligned
}

var pageSize = int64(os.Getpagesize())

// errUnsupported is what the platform's fallocate and mmap return where this
// package does not use them (platform_*.go).
var errUnsupported = errors.ErrUnsupported

// writeLocked writes buf at base of the active segment, whose file already
// extends to at least base+len(buf) (preallocateLocked). appendMu held.
func (s *Store) writeLocked(buf []byte, base int64) error {
	end := base + int64(len(buf))
	if s.opts.Flush == FlushAsync && !s.noMmap && int64(len(buf)) <= writeWindow-pageSize {
		w := &s.win
		if w.b == nil || base < w.off || end > w.off+int64(len(w.b)) {
			if err := s.remapLocked(base); err != nil {
				return err
			}
		}
		if w.b != nil && end <= w.off+int64(len(w.b)) {
			copy(w.b[base-w.off:], buf)
			return nil
		}
	}
	if _, err := s.active.fd().WriteAt(buf, base); err != nil {
		return fmt.Errorf("store: write segment %s: %w", segmentName(s.active.start), err)
	}
	return nil
}

// remapLocked maps the window of the active segment that starts at the page
// holding off. The window may extend past the end of the file (pages there
// become usable as preallocation extends the file; until then nothing
// touches them). If mmap fails (a file system without shared mappings, or a
// platform where this package does not map), writes fall back to pwrite for
// good.
func (s *Store) remapLocked(off int64) error {
	if err := s.unmapLocked(); err != nil {
		return err
	}
	start := off &^ (pageSize - 1)
	n := min(writeWindow, s.opts.SegmentSize-start)
	b, err := mmap(s.active.fd(), start, n)
	if err != nil {
		if !errors.Is(err, errUnsupported) {
			s.log.Warn("store: mapping the commit log failed, writing with pwrite", "segment", segmentName(s.active.start), "err", err)
		}
		s.noMmap = true
		return nil
	}
	s.win = window{b: b, off: start}
	return nil
}

// unmapLocked drops the window (before the segment is trimmed, sealed or
// closed). The written pages stay in the page cache, dirty until flushed.
func (s *Store) unmapLocked() error {
	if s.win.b == nil {
		return nil
	}
	err := munmap(s.win.b)
	s.win = window{}
	if err != nil {
		return fmt.Errorf("store: unmap segment %s: %w", segmentName(s.active.start), err)
	}
	return nil
}

// extendLocked makes the active segment's file at least end bytes long with
// allocated blocks, from preallocEnd on: zeros written (FlushSync: fdatasync
// then has no extent change to commit) or fallocate (FlushAsync: no I/O now;
// the background flush commits the extents), falling back to zeros where
// fallocate is not supported.
func (s *Store) extendLocked(end int64) error {
	if s.opts.Flush == FlushAsync && !s.noFallocate {
		err := fallocate(s.active.fd(), s.preallocEnd, end-s.preallocEnd)
		if err == nil {
			s.preallocEnd = end
			return nil
		}
		if !errors.Is(err, errUnsupported) {
			return fmt.Errorf("store: preallocate segment %s: %w", segmentName(s.active.start), err)
		}
		s.noFallocate = true
	}
	if s.zeros == nil {
		s.zeros = make([]byte, 1<<20)
	}
	for off := s.preallocEnd; off < end; {
		n := min(int64(len(s.zeros)), end-off)
		if _, err := s.active.fd().WriteAt(s.zeros[:n], off); err != nil {
			return fmt.Errorf("store: preallocate segment %s: %w", segmentName(s.active.start), err)
		}
		off += n
		s.preallocEnd = off
	}
	return nil
}
