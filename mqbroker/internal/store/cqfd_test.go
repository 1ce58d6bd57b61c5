package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openChunkFds counts this process's descriptors open on consume-queue chunk files of dir.
func openChunkFds(t *testing.T, dir string) int {
	t.Helper()
	return openFdsUnder(t, filepath.Join(dir, cqDirName))
}

// openFdsUnder counts this process's descriptors open on files in dir.
func openFdsUnder(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	prefix := dir + string(filepath.Separator)
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(target, prefix) {
			n++
		}
	}
	return n
}

// Issue 16 (restart within 20 % of the 1 M figure at 10 M): every chunk kept its file open, so
// a restart opened one descriptor per 32768 stored entries (308 at 10 M messages, growing the
// process's descriptor table past 256), and the first checkpoint after it fdatasynced every
// chunk again. A chunk that is full and synced (clean) is now kept by its mapping alone: its
// file is closed after the checkpoint that synced it, and a restart opens it only to map it
// and counts the checkpoint's entries as synced. Reads, retention and the next restart still
// work on the closed chunks.
func TestConsumeQueue_fullSyncedChunksKeepNoDescriptorAcrossRestarts(t *testing.T) {
	skipWithoutMappedChunks(t)
	dir := t.TempDir()
	clk := &fakeClock{}
	opts := Options{Dir: dir, SegmentSize: 1 << 20, Now: clk.Now, Retention: time.Hour, CheckpointInterval: 1 << 40}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	n := 3*cqChunk + 5 // three full chunks and a partial one
	putSeq(t, s, "g", 0, n)
	if got := openChunkFds(t, dir); got != 4 {
		t.Fatalf("before a checkpoint: %d chunk files open, want 4 (none synced yet)", got)
	}
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if got := openChunkFds(t, dir); got != 1 {
		t.Fatalf("after a checkpoint: %d chunk files open, want 1 (the partial chunk)", got)
	}
	checkSeq(t, s, "g", n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := openChunkFds(t, dir); got != 0 {
		t.Fatalf("after Close: %d chunk files open", got)
	}

	s = openStore(t, opts)
	if !s.RecoveryStats().FromCheckpoint {
		t.Fatalf("not recovered from the checkpoint: %s", s.RecoveryStats().Reason)
	}
	if got := openChunkFds(t, dir); got != 1 {
		t.Fatalf("after a restart: %d chunk files open, want 1 (the partial chunk)", got)
	}
	if _, cqFiles, _, err := s.snapshotCheckpoint(); err != nil || len(cqFiles) != 0 {
		t.Fatalf("first checkpoint after the restart would sync %d chunk files (%v), want 0: the checkpoint synced them", len(cqFiles), err)
	}
	checkSeq(t, s, "g", n)
	putSeq(t, s, "g", n, n+1)
	if _, cqFiles, _, err := s.snapshotCheckpoint(); err != nil || len(cqFiles) != 1 {
		t.Fatalf("after one more entry: %d chunk files to sync (%v), want 1", len(cqFiles), err)
	}
	// Retention deletes the closed chunks' files by path.
	clk.ms.Add((2 * time.Hour).Milliseconds())
	putSeq(t, s, "g", n+1, n+2*cqChunk) // new segments, newer than the retention
	if _, err := s.Retain(clk.Now()); err != nil {
		t.Fatal(err)
	}
	total := int64(n + 2*cqChunk)
	min := s.MinOffset("g", 0)
	if min < int64(cqChunk) {
		t.Fatalf("min offset %d after retention, want the first chunk gone", min)
	}
	if got, want := cqFiles(t, dir), int((total-1)/cqChunk-min/cqChunk+1); got != want {
		t.Fatalf("%d chunk files after retention (min offset %d), want %d: the deleted chunks' files gone", got, min, want)
	}
}

// Issue 16: Open opened every commit-log segment (45 at 10 M messages of 1 KiB with the broker's
// 256 MiB segments) though it reads none below the checkpoint. It now opens only those it scans
// (from the checkpoint on, and the active one); a skipped segment is opened by its first read,
// and after Close a read finds the store closed, not a file opened again. Retention deletes a
// segment nobody read, and a later restart still sees a contiguous log.
func TestOpen_opensOnlyTheSegmentsItScansAndTheRestOnFirstRead(t *testing.T) {
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	dir := t.TempDir()
	clk := &fakeClock{}
	opts := Options{Dir: dir, SegmentSize: 1 << 20, Now: clk.Now, Retention: time.Hour, CheckpointInterval: 1 << 40}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	n := 40000
	putSeq(t, s, "g", 0, n)
	segs := len(*s.segs.Load())
	if segs < 4 {
		t.Fatalf("%d segments, want at least 4", segs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "commitlog")

	s, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := openFdsUnder(t, logDir); got != 1 {
		t.Fatalf("after a restart from a checkpoint: %d of %d segments open, want 1 (the active one)", got, segs)
	}
	g, err := s.Get("g", 0, 0, 1, 1<<20, nil)
	if err != nil || g.Status != Found || len(g.Records) != 1 {
		t.Fatalf("Get(0) = %v, %v", g.Status, err)
	}
	if got := openFdsUnder(t, logDir); got != 2 {
		t.Fatalf("after reading the first segment: %d segments open, want 2", got)
	}
	checkSeq(t, s, "g", n) // reads every segment
	// Retention of segments, some never read since the restart (after a second restart).
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := openFdsUnder(t, logDir); got != 0 {
		t.Fatalf("after Close: %d segments open", got)
	}
	if _, err := s.Read(0); err == nil {
		t.Fatal("Read after Close succeeded")
	}
	if got := openFdsUnder(t, logDir); got != 0 {
		t.Fatalf("a Read after Close opened a segment: %d open", got)
	}
	if s, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	clk.ms.Add((2 * time.Hour).Milliseconds())
	putSeq(t, s, "g", n, n+2000)
	res, err := s.Retain(clk.Now())
	if err != nil || res.Segments == 0 {
		t.Fatalf("Retain = %+v, %v: want segments deleted", res, err)
	}
	if min := s.MinOffset("g", 0); min == 0 {
		t.Fatal("min offset did not move")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, opts)
	if !s2.RecoveryStats().FromCheckpoint {
		t.Fatalf("not from the checkpoint: %s", s2.RecoveryStats().Reason)
	}
	min := s2.MinOffset("g", 0)
	g, err = s2.Get("g", 0, min, 1, 1<<20, nil)
	if err != nil || g.Status != Found {
		t.Fatalf("Get(min %d) after retention and a restart = %v, %v", min, g.Status, err)
	}
}

// The key-index files likewise (10 at 10 M messages with a UNIQ_KEY each): a full one that a
// checkpoint synced keeps no descriptor, before and after a restart, and lookups in it still
// work.
func TestKeyIndex_fullSyncedFilesKeepNoDescriptorAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentSize: 1 << 20, CheckpointInterval: 1 << 40, ixSlots: 16, ixEntries: 64}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3*64 + 10 // three full files and a partial one
	for i := range n {
		mustPut(t, s, newMsg("k", 0, "x", map[string]string{"KEYS": fmt.Sprintf("key-%d", i)}))
	}
	if s.keys.files[0].heap {
		t.Skip("no mapped index files here")
	}
	ixDir := filepath.Join(dir, "index")
	if got := openFdsUnder(t, ixDir); got != 4 {
		t.Fatalf("before a checkpoint: %d index files open, want 4", got)
	}
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if got := openFdsUnder(t, ixDir); got != 1 {
		t.Fatalf("after a checkpoint: %d index files open, want 1 (the partial one)", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, opts)
	if !s.RecoveryStats().FromCheckpoint {
		t.Fatalf("not from the checkpoint: %s", s.RecoveryStats().Reason)
	}
	if got := openFdsUnder(t, ixDir); got != 1 {
		t.Fatalf("after a restart: %d index files open, want 1", got)
	}
	for _, i := range []int{0, 70, n - 1} {
		if got := s.LookupKey(fmt.Sprintf("key-%d", i), 10, nil); len(got) != 1 {
			t.Fatalf("LookupKey(key-%d) = %v after the restart, want one offset", i, got)
		}
	}
}
