package store

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// breakChunkFile closes the descriptor of topic/0's chunk i, so that extending it fails as on a
// full disk (EBADF instead of ENOSPC), and returns its file.
func breakChunkFile(t *testing.T, s *Store, topic string, i int) *cqChunkFile {
	t.Helper()
	s.appendMu.Lock()
	cf := s.queueLocked(topic, 0).files[i]
	s.appendMu.Unlock()
	if err := cf.f.Close(); err != nil {
		t.Fatal(err)
	}
	return cf
}

// onHeap reports whether topic/0's chunk i is a heap chunk.
func onHeap(s *Store, topic string, i int) bool {
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	return s.queueLocked(topic, 0).files[i] == nil
}

// TestReview_heapChunkRefiledAtCheckpoint: a chunk whose file could not be extended (a brief
// ENOSPC) continues on the heap with every entry; while no new file can be created either, a
// checkpoint writes none; once one can, the checkpoint copies the chunk into a new file, writes
// a checkpoint naming it, and a restart (after Close, and after a crash) opens from it with no
// full rebuild and every entry intact, and the chunk grows in its new file.
func TestReview_heapChunkRefiledAtCheckpoint(t *testing.T) {
	skipWithoutMappedChunks(t)
	o := Options{Dir: t.TempDir(), SegmentSize: 1 << 20, CheckpointInterval: 1 << 40}
	s := mustOpen(t, o)
	defer s.Close()
	putSeq(t, s, "g", 0, cqFirstChunk) // full at its first capacity
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	cf := breakChunkFile(t, s, "g", 0)
	// The disk stays full for new files too: the chunk directory is unreachable.
	s.appendMu.Lock()
	cqDir := s.cqs.dir
	s.cqs.dir = filepath.Join(o.Dir, "full")
	s.appendMu.Unlock()
	putSeq(t, s, "g", cqFirstChunk, 300) // grows twice on the heap: 256, then 512
	if !onHeap(s, "g", 0) {
		t.Fatal("the chunk is still mapped")
	}
	checkSeq(t, s, "g", 300)
	if _, err := os.Stat(cf.path); err != nil {
		t.Fatalf("the orphaned file went before the next checkpoint: %v", err)
	}
	before := s.ckptOffset.Load()
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if got := s.ckptOffset.Load(); got != before || !onHeap(s, "g", 0) {
		t.Fatalf("checkpoint at %d (was %d), heap %v: want none written while no file can be made", got, before, onHeap(s, "g", 0))
	}
	if _, err := os.Stat(cf.path); !os.IsNotExist(err) {
		t.Fatalf("the orphaned file is still there after a checkpoint: %v", err)
	}

	s.appendMu.Lock()
	s.cqs.dir = cqDir // space is back
	s.appendMu.Unlock()
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if onHeap(s, "g", 0) {
		t.Fatal("the chunk is still on the heap after a checkpoint with room on the disk")
	}
	if got, want := s.ckptOffset.Load(), s.End(); got != want {
		t.Fatalf("checkpoint at %d, want %d (the end)", got, want)
	}
	if files, bytes := cqDirSize(t, o.Dir); files != 1 || bytes != 512*cqEntrySize {
		t.Fatalf("%d chunk files, %d bytes: want one of 512 entries", files, bytes)
	}
	checkSeq(t, s, "g", 300)

	crashed := o
	crashed.Dir = copyDir(t, o.Dir) // kill -9 right after that checkpoint
	c := mustOpen(t, crashed)
	if rs := c.RecoveryStats(); !rs.FromCheckpoint || rs.ScannedBytes != 0 {
		t.Fatalf("after a crash: recovery %+v, want from the checkpoint", rs)
	}
	checkSeq(t, c, "g", 300)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	putSeq(t, s, "g", 300, 600) // grows the new file: 1024 entries
	if onHeap(s, "g", 0) {
		t.Fatal("the refiled chunk fell back to the heap when growing")
	}
	s = reopenFromCheckpoint(t, s, o)
	checkSeq(t, s, "g", 600)
	mustCheckConsumeQueues(t, s)
}

// TestReview_orphanedChunkFileReleasedByReadOnlyCheckpoint: the file of a chunk moved to the
// heap is deleted by the next checkpoint even when that checkpoint writes nothing (the store
// turned read-only), not only by one that reaches its snapshot.
func TestReview_orphanedChunkFileReleasedByReadOnlyCheckpoint(t *testing.T) {
	skipWithoutMappedChunks(t)
	s := openStore(t, Options{Dir: t.TempDir(), SegmentSize: 1 << 20, CheckpointInterval: 1 << 40})
	putSeq(t, s, "g", 0, cqFirstChunk)
	cf := breakChunkFile(t, s, "g", 0)
	putSeq(t, s, "g", cqFirstChunk, cqFirstChunk+1)
	if !onHeap(s, "g", 0) {
		t.Fatal("the chunk is still mapped")
	}
	s.setFatal(errors.New("test: read-only"))
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cf.path); !os.IsNotExist(err) {
		t.Fatalf("the orphaned file is still there after a read-only checkpoint: %v", err)
	}
	checkSeq(t, s, "g", cqFirstChunk+1)
}

// TestReview_growExtendsTheFileBeforeTakingIdxMu: Put extends (fallocate) and maps again a
// chunk file that its batch fills, or creates the next chunk file, before it takes idxMu, while
// readers still see the old chunk; only the swap happens under idxMu, and the replaced mapping
// is unmapped after it. Readers running Get throughout every growth step (and a batch that
// crosses two chunk boundaries, the second done under idxMu) see every entry.
func TestReview_growExtendsTheFileBeforeTakingIdxMu(t *testing.T) {
	skipWithoutMappedChunks(t)
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, SegmentSize: 1 << 20, CheckpointInterval: 1 << 40})
	putSeq(t, s, "g", 0, cqFirstChunk)
	s.appendMu.Lock()
	q := s.queueLocked("g", 0)
	q.reserve(1)
	fi, err := q.files[0].f.Stat()
	prepared, capNow := q.prep != nil && q.prep.ahead != nil, cap(q.chunks[0])
	s.appendMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if !prepared || fi.Size() != 2*cqFirstChunk*cqEntrySize || capNow != cqFirstChunk {
		t.Fatalf("after reserve: prepared %v, file %d bytes, chunk capacity %d: want the file extended, the chunk unchanged", prepared, fi.Size(), capNow)
	}
	mustPut(t, s, newMsg("g", 0, "g128", nil)) // installs the prepared mapping
	s.appendMu.Lock()
	capNow, left := cap(q.chunks[0]), q.prep
	s.appendMu.Unlock()
	if capNow != 2*cqFirstChunk || left != nil {
		t.Fatalf("after the Put: chunk capacity %d, prep %v: want %d, none", capNow, left, 2*cqFirstChunk)
	}
	checkSeq(t, s, "g", cqFirstChunk+1)

	var stop atomic.Bool
	var wg sync.WaitGroup
	var readErr atomic.Pointer[error]
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); !stop.Load(); i += 97 {
				n := s.MaxOffset("g", 0)
				g, err := s.Get("g", 0, i%n, 4, 1<<20, nil)
				if err == nil && (g.Status != Found || len(g.Records) == 0) {
					err = errors.New("get: " + g.Status.String())
				}
				if err != nil {
					readErr.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	putSeq(t, s, "g", cqFirstChunk+1, cqChunk+cqFirstChunk+10) // every size, then a new chunk
	batch := make([]*message.Message, 600)                     // an empty queue: 128, 256, 512 in one Put
	for i := range batch {
		batch[i] = newMsg("h", 0, "x", nil)
	}
	mustPut(t, s, batch...)
	stop.Store(true)
	wg.Wait()
	if p := readErr.Load(); p != nil {
		t.Fatal(*p)
	}
	checkSeq(t, s, "g", cqChunk+cqFirstChunk+10)
	if got := s.MaxOffset("h", 0); got != 600 {
		t.Fatalf("h has %d entries, want 600", got)
	}
	if files, bytes := cqDirSize(t, dir); files != 3 || bytes != (cqChunk+2*cqFirstChunk+1024)*cqEntrySize {
		t.Fatalf("%d chunk files, %d bytes: want g's 768 KiB chunk and one of 256 entries (138 used), h's of 1024", files, bytes)
	}
}
