package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// retentionStore writes 120 old messages (topics "old", in the first half, and "t"), then 60 new ones (topic "t"),
// across many 4 KiB segments, with the clock at oldAt and newAt.
func retentionStore(t *testing.T, dir string, opts Options) (*Store, *fakeClock, []PutResult, []PutResult) {
	t.Helper()
	clk := &fakeClock{}
	clk.ms.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	opts.Dir, opts.SegmentSize, opts.Now = dir, 4096, clk.Now
	s := openStore(t, opts)
	var old, fresh []PutResult
	for i := range 120 {
		topic := "t"
		if i%3 == 0 && i < 60 {
			topic = "old"
		}
		old = append(old, mustPut(t, s, newMsg(topic, 0, fmt.Sprintf("old %d", i), map[string]string{message.PropKeys: fmt.Sprintf("old%d", i)}))...)
	}
	clk.ms.Add((48 * time.Hour).Milliseconds())
	for i := range 60 {
		fresh = append(fresh, mustPut(t, s, newMsg("t", 0, fmt.Sprintf("new %d", i), map[string]string{message.PropKeys: fmt.Sprintf("new%d", i)}))...)
	}
	return s, clk, old, fresh
}

func TestRetain_deletesSegmentsOlderThanRetentionAndMovesMinOffsets(t *testing.T) {
	dir := t.TempDir()
	var calledUpTo int64 = -1
	s, clk, old, fresh := retentionStore(t, dir, Options{Retention: 24 * time.Hour, BeforeDelete: func(upTo int64) error {
		calledUpTo = upTo
		return nil
	}})
	segsBefore := len(segmentFiles(t, dir))
	res, err := s.Retain(clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments == 0 || res.Reason != "retention" || calledUpTo != res.UpTo {
		t.Fatalf("Retain = %+v (BeforeDelete saw %d)", res, calledUpTo)
	}
	if got := len(segmentFiles(t, dir)); got != segsBefore-res.Segments {
		t.Fatalf("%d segment files, want %d", got, segsBefore-res.Segments)
	}
	// Every old record below UpTo is gone, every new one is there.
	for i, r := range old {
		_, err := s.Read(r.PhysicalOffset)
		if gone := r.PhysicalOffset < res.UpTo; gone != errors.Is(err, ErrNotFound) {
			t.Fatalf("old %d at %d (upTo %d): Read err %v", i, r.PhysicalOffset, res.UpTo, err)
		}
		if gone := r.PhysicalOffset < res.UpTo; gone && len(s.LookupKey(fmt.Sprintf("old%d", i), 0, nil)) != 0 {
			t.Fatalf("key old%d still found after retention", i)
		}
	}
	for i := range fresh {
		if offs := s.LookupKey(fmt.Sprintf("new%d", i), 0, nil); len(offs) != 1 {
			t.Fatalf("LookupKey(new%d) = %v", i, offs)
		}
	}
	minT := s.MinOffset("t", 0)
	if minT == 0 {
		t.Fatal("min offset of t/0 did not move")
	}
	g, err := s.Get("t", 0, 0, 32, 1<<20, nil)
	if err != nil || g.Status != OffsetTooSmall || g.NextBeginOffset != minT {
		t.Fatalf("Get below min = %+v %v, want OFFSET_TOO_SMALL next %d", g.Status, err, minT)
	}
	if g, err := s.Get("t", 0, minT, 1, 1<<20, nil); err != nil || g.Status != Found {
		t.Fatalf("Get at min = %v %v", g.Status, err)
	}
	maxOld := s.MaxOffset("old", 0)
	if s.MinOffset("old", 0) != maxOld {
		t.Fatalf("queue old/0: min %d max %d, want all deleted", s.MinOffset("old", 0), maxOld)
	}
	st := s.RetentionStats()
	if st.Segments != int64(res.Segments) || st.Messages != res.Messages || st.Bytes != res.Bytes || st.Messages < 40 {
		t.Fatalf("RetentionStats = %+v, result %+v", st, res)
	}
	first, err := s.Read(s.FirstOffset())
	if err != nil || s.FirstOffset() != res.UpTo {
		t.Fatalf("first offset %d (upTo %d): %v", s.FirstOffset(), res.UpTo, err)
	}
	if at, ok := s.OldestStoreTime(); !ok || at.UnixMilli() != first.StoreTimestamp {
		t.Fatalf("OldestStoreTime = %v %v, want %v", at, ok, time.UnixMilli(first.StoreTimestamp))
	}
	maxT := s.MaxOffset("t", 0)
	s.Close()

	// After a restart the min offsets, and the max offset of the emptied queue, are the same.
	s2 := openStore(t, Options{Dir: dir, SegmentSize: 4096})
	if s2.MinOffset("t", 0) != minT || s2.MaxOffset("t", 0) != maxT {
		t.Fatalf("t/0 after restart: [%d, %d), want [%d, %d)", s2.MinOffset("t", 0), s2.MaxOffset("t", 0), minT, maxT)
	}
	if s2.MinOffset("old", 0) != maxOld || s2.MaxOffset("old", 0) != maxOld {
		t.Fatalf("old/0 after restart: [%d, %d), want [%d, %d)", s2.MinOffset("old", 0), s2.MaxOffset("old", 0), maxOld, maxOld)
	}
	r := mustPut(t, s2, newMsg("old", 0, "again", nil))
	if r[0].QueueOffset != maxOld {
		t.Fatalf("next offset of old/0 = %d, want %d", r[0].QueueOffset, maxOld)
	}
}

func TestRetain_beforeDeleteErrorKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s, clk, _, _ := retentionStore(t, dir, Options{Retention: time.Hour, BeforeDelete: func(int64) error { return errors.New("not yet") }})
	n := len(segmentFiles(t, dir))
	if _, err := s.Retain(clk.Now()); err == nil {
		t.Fatal("Retain succeeded although BeforeDelete failed")
	}
	if len(segmentFiles(t, dir)) != n || s.MinOffset("t", 0) != 0 {
		t.Fatal("Retain deleted something although BeforeDelete failed")
	}
}

func TestRetain_crashAfterStateFileFinishesDeletionOnOpen(t *testing.T) {
	dir := t.TempDir()
	s, clk, _, _ := retentionStore(t, dir, Options{Retention: time.Hour})
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	crashed := copyDir(t, dir) // the segments as before Retain
	res, err := s.Retain(clk.Now())
	if err != nil || res.Segments == 0 {
		t.Fatalf("Retain = %+v %v", res, err)
	}
	minT := s.MinOffset("t", 0)
	state, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(crashed, "commitlog", segmentName(res.UpTo)+"x"))
	if err := os.WriteFile(filepath.Join(crashed, stateFileName), state, 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, Options{Dir: crashed, SegmentSize: 4096})
	if got := s2.FirstOffset(); got != res.UpTo {
		t.Fatalf("first offset after recovery %d, want %d", got, res.UpTo)
	}
	if s2.MinOffset("t", 0) != minT {
		t.Fatalf("min offset %d, want %d", s2.MinOffset("t", 0), minT)
	}
}

func TestRetain_diskUsageAboveLimitDeletesOldestSegments(t *testing.T) {
	if _, _, ok := diskUsage(t.TempDir()); !ok {
		t.Skip("no statfs here")
	}
	dir := t.TempDir()
	// 1 %: any real file system is above it, so every sealed segment goes, however young.
	s, clk, _, _ := retentionStore(t, dir, Options{MaxDiskUsage: 1})
	res, err := s.Retain(clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reason != "disk usage" || len(segmentFiles(t, dir)) != 1 {
		t.Fatalf("Retain = %+v, %d segments left", res, len(segmentFiles(t, dir)))
	}
	if _, err := s.Put(newMsg("t", 0, "still writable", nil)); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteTopic_dropsQueuesAndKeysAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, SegmentSize: 4096})
	for i := range 30 {
		mustPut(t, s, newMsg("gone", int32(i%2), "x", map[string]string{message.PropKeys: fmt.Sprintf("g%d", i)}))
		mustPut(t, s, newMsg("kept", 0, "y", map[string]string{message.PropKeys: fmt.Sprintf("k%d", i)}))
	}
	if err := s.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		for _, q := range s.Queues() {
			if q.Topic == "gone" {
				t.Fatalf("queue %+v of the deleted topic still listed", q)
			}
		}
		if offs := s.LookupKey("g3", 0, nil); len(offs) != 0 {
			t.Fatalf("key of the deleted topic found: %v", offs)
		}
		if offs := s.LookupKey("k3", 0, nil); len(offs) != 1 || s.MaxOffset("kept", 0) != 30 {
			t.Fatalf("other topic damaged: %v, max %d", offs, s.MaxOffset("kept", 0))
		}
	}
	check(s)
	if r := mustPut(t, s, newMsg("gone", 0, "new life", nil)); r[0].QueueOffset != 0 {
		t.Fatalf("recreated topic starts at %d, want 0", r[0].QueueOffset)
	}
	s.Close()
	s2 := openStore(t, Options{Dir: dir, SegmentSize: 4096})
	if s2.MaxOffset("gone", 0) != 1 || s2.MaxOffset("gone", 1) != 0 {
		t.Fatalf("after restart gone/0 has %d, gone/1 %d entries, want 1 and 0", s2.MaxOffset("gone", 0), s2.MaxOffset("gone", 1))
	}
	if offs := s2.LookupKey("g3", 0, nil); len(offs) != 0 {
		t.Fatalf("key of the deleted topic found after restart: %v", offs)
	}
	if err := s2.DeleteTopic(""); err == nil {
		t.Fatal("DeleteTopic(\"\") succeeded")
	}
}

func TestStateFile_goldenBytes(t *testing.T) {
	dir := t.TempDir()
	s := &Store{opts: Options{Dir: dir}, topics: map[string]map[int32]*consumeQueue{
		"b": {1: {min: 7, n: 9}}, "a": {0: {min: 3, n: 3}, 2: {min: 0, n: 5}},
	}, deletedTopics: map[string]int64{"gone": 4096}}
	if err := s.writeState(s.stateLocked(8192, 12345)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{
  "version": 1,
  "minPhysicalOffset": 8192,
  "end": 12345,
  "queues": [
    {
      "topic": "a",
      "queueId": 0,
      "minOffset": 3
    },
    {
      "topic": "b",
      "queueId": 1,
      "minOffset": 7
    }
  ],
  "deletedTopics": [
    {
      "topic": "gone",
      "before": 4096
    }
  ]
}
`
	if string(got) != want {
		t.Fatalf("state file:\n%s\nwant:\n%s", got, want)
	}
}

func TestHoleFrame_goldenBytes(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "seg"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(40); err != nil {
		t.Fatal(err)
	}
	s := &Store{}
	if err := s.writeHole(newSegment(0, f.Name(), f), 8, 40); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(f.Name())
	want := []byte{0x80, 0, 0, 24, 'H', 'O', 'L', 'E'}
	if string(b[8:16]) != string(want) {
		t.Fatalf("hole header % x, want % x", b[8:16], want)
	}
	if n, ok := isHole(b[8:16]); !ok || n != 24 {
		t.Fatalf("isHole = %d %v", n, ok)
	}
}

func TestRetain_concurrentWithPutAndGet(t *testing.T) {
	clk := &fakeClock{}
	s := openStore(t, Options{Dir: t.TempDir(), SegmentSize: 4096, Retention: time.Second, Now: clk.Now})
	stop := make(chan struct{})
	errc := make(chan error, 2)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				errc <- nil
				return
			default:
			}
			clk.ms.Add(100)
			if _, err := s.Put(newMsg("t", 0, fmt.Sprintf("m%d", i), map[string]string{message.PropKeys: fmt.Sprintf("k%d", i)})); err != nil {
				errc <- err
				return
			}
		}
	}()
	go func() {
		var off int64
		for {
			select {
			case <-stop:
				errc <- nil
				return
			default:
			}
			g, err := s.Get("t", 0, off, 16, 1<<20, nil)
			if err != nil {
				errc <- fmt.Errorf("Get(%d): %w", off, err)
				return
			}
			if g.Status == Found || g.Status == OffsetTooSmall || g.Status == NoMatchedMessage {
				off = g.NextBeginOffset
			}
			s.LookupKey(fmt.Sprintf("k%d", off), 0, nil)
		}
	}()
	deleted := 0
	for deleted < 20 {
		res, err := s.Retain(clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		deleted += res.Segments
	}
	close(stop)
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// Review finding 2: Retain must fsync the commit log after BeforeDelete carried records forward
// and before the state file and the unlinks make the originals' deletion durable (FlushAsync).
func TestRetain_carriedCopiesAreDurableBeforeTheOriginalsGo(t *testing.T) {
	dir := t.TempDir()
	var s *Store
	var carriedEnd int64
	s, clk, _, _ := retentionStore(t, dir, Options{Retention: 24 * time.Hour, Flush: FlushAsync, FlushInterval: time.Hour,
		BeforeDelete: func(upTo int64) error {
			r, err := s.Put(newMsg("RMQ_SYS_TRANS_HALF_TOPIC", 0, "carried half", nil))
			if err != nil {
				return err
			}
			carriedEnd = r[0].PhysicalOffset + frameHeaderSize + int64(r[0].Size)
			return nil
		}})
	if err := s.Flush(); err != nil { // everything written so far is durable
		t.Fatal(err)
	}
	res, err := s.Retain(clk.Now())
	if err != nil || res.Segments == 0 {
		t.Fatalf("Retain = %+v, %v", res, err)
	}
	s.flushMu.Lock()
	flushed := s.flushed
	s.flushMu.Unlock()
	if flushed < carriedEnd {
		t.Errorf("segments below %d unlinked and state file fsynced, but the commit log is fsynced only to %d < %d (end of the carried copy)", res.UpTo, flushed, carriedEnd)
	}
}

// Review finding 2: when that fsync fails, Retain fails and deletes nothing.
func TestRetain_failsAndDeletesNothingWhenTheCarriedCopiesCannotBeFlushed(t *testing.T) {
	dir := t.TempDir()
	var s *Store
	injected := errors.New("injected fsync failure")
	s, clk, old, _ := retentionStore(t, dir, Options{Retention: 24 * time.Hour, Flush: FlushAsync, FlushInterval: time.Hour,
		BeforeDelete: func(upTo int64) error {
			if _, err := s.Put(newMsg("RMQ_SYS_TRANS_HALF_TOPIC", 0, "carried half", nil)); err != nil {
				return err
			}
			s.flushMu.Lock()
			s.flushErr = injected // as left by a failed fdatasync
			s.flushMu.Unlock()
			return nil
		}})
	segsBefore := len(segmentFiles(t, dir))
	res, err := s.Retain(clk.Now())
	if !errors.Is(err, injected) || res.Segments != 0 {
		t.Fatalf("Retain = %+v, %v; want the flush error and nothing deleted", res, err)
	}
	if got := len(segmentFiles(t, dir)); got != segsBefore {
		t.Fatalf("%d segment files after a failed Retain, want %d", got, segsBefore)
	}
	if _, err := s.Read(old[0].PhysicalOffset); err != nil {
		t.Fatalf("first record after a failed Retain: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("state file written by a failed Retain: %v", err)
	}
	s.flushMu.Lock()
	s.flushErr = nil // let Close succeed
	s.flushMu.Unlock()
}

// Review finding 10: a Get whose entries Retain deletes between the index read and the segment
// reads answered ErrCorrupt ("no segment"), which the broker turned into SYSTEM_ERROR. It now
// answers OffsetTooSmall with the new min, as a Get that came after the Retain.
func TestGet_racingRetainAnswersOffsetTooSmallNotCorrupt(t *testing.T) {
	dir := t.TempDir()
	s, clk, _, _ := retentionStore(t, dir, Options{Retention: 24 * time.Hour})
	var retained RetainResult
	var retainErr error
	ran := false
	s.testHookBeforeReadRecords = func() {
		if !ran {
			ran = true
			retained, retainErr = s.Retain(clk.Now())
		}
	}
	res, err := s.Get("t", 0, 0, 32, 1<<20, nil)
	if retainErr != nil || retained.Segments == 0 {
		t.Fatalf("Retain in the hook = %+v, %v", retained, retainErr)
	}
	if err != nil {
		t.Fatalf("Get racing Retain: %v", err)
	}
	if min := s.MinOffset("t", 0); res.Status != OffsetTooSmall || res.NextBeginOffset != min || min == 0 {
		t.Fatalf("Get racing Retain = %v next %d, want OffsetTooSmall next %d (> 0)", res.Status, res.NextBeginOffset, min)
	}
}

// Review finding 10: readRecords names the race with ErrRetained, not ErrCorrupt.
func TestReadRecords_belowTheFirstSegmentIsErrRetained(t *testing.T) {
	dir := t.TempDir()
	s, clk, _, _ := retentionStore(t, dir, Options{Retention: 24 * time.Hour})
	s.idxMu.RLock()
	e := *s.queueLocked("t", 0).at(0)
	s.idxMu.RUnlock()
	if res, err := s.Retain(clk.Now()); err != nil || e.phys >= res.UpTo {
		t.Fatalf("Retain = %+v, %v (entry at %d)", res, err, e.phys)
	}
	_, err := s.readRecords([]cqEntry{e})
	if !errors.Is(err, ErrRetained) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("readRecords below the first segment: %v, want ErrRetained", err)
	}
}
