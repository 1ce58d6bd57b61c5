package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// lockedBuffer is a log sink safe for the store's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// checkpointedStore writes n keyed messages (key k<i>) to small segments of a store in dir and
// closes it, leaving a checkpoint, so that the next Open skips the sealed segments.
func checkpointedStore(t *testing.T, dir string, n int) []PutResult {
	t.Helper()
	s, err := Open(Options{Dir: dir, SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	var res []PutResult
	for i := range n {
		res = append(res, mustPut(t, s, newMsg("t", int32(i%2), fmt.Sprintf("message %d", i),
			map[string]string{message.PropKeys: fmt.Sprintf("k%d", i)}))...)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(segmentFiles(t, dir)) < 3 {
		t.Fatal("test setup: want at least 3 segments")
	}
	return res
}

// Review (store, finding 1): a sealed segment below the checkpoint is opened on its first read.
// Removed after Open, a Read of one of its records said ErrNotFound ("no record there") and a
// key lookup silently answered nothing; now Read reports the open failure and LookupKey logs it.
func TestReview_lazySegmentGoneAfterOpen(t *testing.T) {
	dir := t.TempDir()
	res := checkpointedStore(t, dir, 200)
	logs := &lockedBuffer{}
	s, err := Open(Options{Dir: dir, SegmentSize: 4096, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.RecoveryStats(); !st.FromCheckpoint || st.SkippedBytes == 0 {
		t.Fatalf("test setup: recovery %+v, want sealed segments skipped", st)
	}
	first := res[0]
	if err := os.Remove(segmentFiles(t, dir)[0]); err != nil {
		t.Fatal(err)
	}
	_, err = s.Read(first.PhysicalOffset)
	if err == nil || errors.Is(err, ErrNotFound) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read of a record in a removed segment = %v, want the open error, not ErrNotFound", err)
	}
	if got := s.LookupKey("k0", 0, nil); len(got) != 0 {
		t.Fatalf("LookupKey(k0) = %v from a removed segment", got)
	}
	if out := logs.String(); !strings.Contains(out, "key lookup could not read") || !strings.Contains(out, "no such file") {
		t.Fatalf("LookupKey over a removed segment logged nothing about it; log:\n%s", out)
	}
}

// Review (store, finding 1): Open only stat()ed a sealed segment it skips, so an unreadable one
// failed its first read instead of Open. Now Open checks it can read it, as it did when it
// opened every segment. (As root, chmod cannot make a file unreadable: that part is skipped;
// a removed file fails Open either way.)
func TestReview_unreadableSegmentFailsOpen(t *testing.T) {
	t.Run("removed", func(t *testing.T) {
		dir := t.TempDir()
		checkpointedStore(t, dir, 200)
		if err := os.Remove(segmentFiles(t, dir)[1]); err != nil {
			t.Fatal(err)
		}
		if s, err := Open(Options{Dir: dir, SegmentSize: 4096}); err == nil {
			s.Close()
			t.Fatal("Open succeeded with a sealed segment removed")
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		dir := t.TempDir()
		checkpointedStore(t, dir, 200)
		path := segmentFiles(t, dir)[0]
		if err := os.Chmod(path, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(path, 0o644)
		if f, err := os.Open(path); err == nil {
			f.Close()
			t.Skip("this process can read a file with mode 0 (root): cannot make a segment unreadable")
		}
		s, err := Open(Options{Dir: dir, SegmentSize: 4096})
		if err == nil {
			s.Close()
			t.Fatal("Open succeeded with an unreadable sealed segment")
		}
		if !errors.Is(err, os.ErrPermission) {
			t.Fatalf("Open = %v, want a permission error", err)
		}
	})
}

// Review (store, finding 2): a checkpoint rejected for a transient reason (here LoadState
// failing once) made Open rebuild the derived files (renumbered, a new key-hash seed) but left
// the checkpoint file; after a crash before the next checkpoint, the following Open accepted it
// over the rebuilt files: key lookups missed. The rebuild now removes the checkpoint first.
func TestReview_staleCheckpointAfterRebuildCrash(t *testing.T) {
	dir := t.TempDir()
	res := checkpointedStore(t, dir, 200)
	s, err := Open(Options{Dir: dir, SegmentSize: 4096, CheckpointInterval: time.Hour,
		OnRecover: func(message.Header, []byte) {},
		LoadState: func([]byte) error { return errors.New("transient: state not loadable now") }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.RecoveryStats(); st.FromCheckpoint {
		t.Fatalf("test setup: recovery %+v, want a rebuild", st)
	}
	crashed := copyDir(t, dir) // the files as a kill -9 now leaves them (shared mappings included)
	c := openStore(t, Options{Dir: crashed, SegmentSize: 4096})
	for _, i := range []int{0, 57, 199} {
		if got := c.LookupKey(fmt.Sprintf("k%d", i), 0, nil); len(got) != 1 || got[0] != res[i].PhysicalOffset {
			t.Errorf("after the crash, LookupKey(k%d) = %v, want [%d] (recovery %+v)", i, got, res[i].PhysicalOffset, c.RecoveryStats())
		}
	}
	mustCheckConsumeQueues(t, c)
}

// Review (store, finding 3): Open counted the recovered log as flushed without an fsync. After
// a kill -9 with FlushAsync the tail may be in the page cache only, and the first checkpoint
// then recorded an offset a power loss could take the log back below. Open now fdatasyncs the
// active segment once (a fresh, empty log needs none).
func TestReview_checkpointAfterRestartSyncsRecoveredTail(t *testing.T) {
	dir := t.TempDir()
	fresh := openStore(t, Options{Dir: t.TempDir(), Flush: FlushAsync, FlushInterval: time.Hour})
	if got := fresh.Stats().Fsyncs; got != 0 {
		t.Errorf("a fresh store fsynced %d times at Open, want 0", got)
	}
	s, err := Open(Options{Dir: dir, Flush: FlushAsync, FlushInterval: time.Hour, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		mustPut(t, s, newMsg("t", 0, fmt.Sprintf("m%d", i), nil))
	}
	end := s.End()
	crashed := copyDir(t, dir) // kill -9: nothing fsynced
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The data ends exactly at the file end (the preallocated part used up): no torn or
	// preallocated tail to truncate, whose truncation fsyncs.
	segs := segmentFiles(t, crashed)
	if len(segs) != 1 {
		t.Fatalf("test setup: %d segments, want 1", len(segs))
	}
	if err := os.Truncate(segs[0], end); err != nil {
		t.Fatal(err)
	}
	r := openStore(t, Options{Dir: crashed, Flush: FlushAsync, FlushInterval: time.Hour, CheckpointInterval: time.Hour})
	if got := r.Stats().Fsyncs; got != 1 {
		t.Fatalf("Open of a log with an unsynced tail fsynced it %d times, want 1", got)
	}
	if r.End() != end {
		t.Fatalf("recovered end %d, want %d", r.End(), end)
	}
}

// Review (store, finding 4): Close skips its checkpoint after a failed flush, so it did not wait
// (on ckptMu) for a Retain in progress: Retain could open a deleted segment's file after Close
// had closed the files and add it to retired, leaking the descriptor (and s.retired was read by
// Close without the lock Retain writes it under). Close now takes retainMu before closing.
func TestReview_retainRacingCloseAfterFlushErrorLeaksNoFd(t *testing.T) {
	dir := t.TempDir()
	s, clk, _, _ := retentionStore(t, dir, Options{Retention: 24 * time.Hour})
	injected := errors.New("injected fsync failure")
	closeErr := make(chan error, 1)
	closing := make(chan struct{})
	s.testHookCloseBeforeRetainMu = func() { close(closing) }
	s.testHookRetainBeforeUnlink = func() {
		s.flushMu.Lock()
		s.flushErr = injected // as left by a failed fdatasync after Retain's own flush
		s.flushMu.Unlock()
		go func() { closeErr <- s.Close() }()
		// Without the fix Close runs to the end (closing the files) before the unlinks;
		// with it, Close reaches retainMu, held here, and waits for this Retain.
		select {
		case <-closing:
		case err := <-closeErr:
			closeErr <- err
		}
	}
	res, err := s.Retain(clk.Now())
	if res.Segments == 0 {
		t.Fatalf("Retain = %+v, %v; want segments deleted", res, err)
	}
	if err := <-closeErr; !errors.Is(err, injected) {
		t.Fatalf("Close = %v, want the flush error", err)
	}
	if n := openFdsUnder(t, filepath.Join(dir, "commitlog")); n != 0 {
		t.Fatalf("%d descriptors open on commit-log files after Close", n)
	}
}

// Review (store, item 7): the consume-queue and key-index directories were never fsynced after
// a file was created in them, so after a power loss a checkpoint could name a file whose
// directory entry was lost (a rebuild, no loss). The first checkpoint after new files now
// fsyncs their directory, once; checkpoints with no new file sync none.
func TestReview_checkpointSyncsDirOfNewDerivedFiles(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, CheckpointInterval: time.Hour})
	var mu sync.Mutex
	synced := map[string]int{}
	s.testHookSyncDir = func(d string) {
		mu.Lock()
		synced[filepath.Base(d)]++
		mu.Unlock()
	}
	got := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(synced)
	}
	mustPut(t, s, newMsg("t", 0, "first", map[string]string{message.PropKeys: "k"}))
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{cqDirName: 1, indexDirName: 1}
	if g := got(); !maps.Equal(g, want) {
		t.Fatalf("directory fsyncs after the first chunk and index files: %v, want %v", g, want)
	}
	mustPut(t, s, newMsg("t", 0, "second", map[string]string{message.PropKeys: "k2"}))
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if g := got(); !maps.Equal(g, want) {
		t.Fatalf("directory fsyncs after a checkpoint with no new file: %v, want %v", g, want)
	}
	mustPut(t, s, newMsg("t", 1, "new queue", nil)) // a new queue: a new chunk file
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	want[cqDirName]++
	if g := got(); !maps.Equal(g, want) {
		t.Fatalf("directory fsyncs after a new queue's chunk file: %v, want %v", g, want)
	}
}
