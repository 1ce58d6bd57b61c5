package store

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

var storeHost = netip.MustParseAddrPort("127.0.0.1:10911")

// fakeClock is a manually advanced clock.
type fakeClock struct{ ms atomic.Int64 }

func (c *fakeClock) Now() time.Time { return time.UnixMilli(c.ms.Load()) }

// openStore opens a store in dir and, on cleanup, checks its invariants and closes it.
func openStore(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		mustCheckConsumeQueues(t, s)
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// mustCheckConsumeQueues checks that every consume-queue entry points at a valid record of its
// queue with the right queue offset, and that Get returns the same bytes. Safe after Close (no-op).
func mustCheckConsumeQueues(t testing.TB, s *Store) {
	t.Helper()
	s.appendMu.Lock()
	closed := s.closed
	s.appendMu.Unlock()
	if closed {
		return
	}
	for _, qs := range s.Queues() {
		if qs.MinOffset < 0 || qs.MaxOffset < qs.MinOffset {
			t.Errorf("queue %s/%d: min %d max %d", qs.Topic, qs.QueueID, qs.MinOffset, qs.MaxOffset)
		}
		for off := qs.MinOffset; off < qs.MaxOffset; off++ {
			phys, _, ok := s.QueueEntry(qs.Topic, qs.QueueID, off)
			if !ok {
				t.Fatalf("queue %s/%d: no entry %d", qs.Topic, qs.QueueID, off)
			}
			if phys < 0 {
				continue // lost to a repaired hole
			}
			m, err := s.Read(phys)
			if err != nil {
				t.Fatalf("queue %s/%d entry %d -> %d: %v", qs.Topic, qs.QueueID, off, phys, err)
			}
			if m.Topic != qs.Topic || m.QueueID != qs.QueueID || m.QueueOffset != off || m.PhysicalOffset != phys {
				t.Fatalf("queue %s/%d entry %d -> record %s/%d@%d phys %d", qs.Topic, qs.QueueID, off, m.Topic, m.QueueID, m.QueueOffset, m.PhysicalOffset)
			}
		}
	}
}

func newMsg(topic string, qid int32, body string, props map[string]string) *message.Message {
	return &message.Message{
		Topic: topic, QueueID: qid, Body: []byte(body), Properties: props,
		BornTimestamp: 1, BornHost: netip.MustParseAddrPort("192.0.2.1:5000"), StoreHost: storeHost,
	}
}

func mustPut(t testing.TB, s *Store, msgs ...*message.Message) []PutResult {
	t.Helper()
	res, err := s.Put(msgs...)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return res
}

// queueDump returns every record of every queue, for comparing a store before and after reopen.
func queueDump(t testing.TB, s *Store) map[string][][]byte {
	t.Helper()
	out := map[string][][]byte{}
	for _, q := range s.Queues() {
		key := fmt.Sprintf("%s/%d", q.Topic, q.QueueID)
		for off := int64(0); off < q.MaxOffset; {
			r, err := s.Get(q.Topic, q.QueueID, off, 7, 1<<20, nil)
			if err != nil || r.Status != Found {
				t.Fatalf("Get %s@%d: %v %v", key, off, r.Status, err)
			}
			out[key] = append(out[key], r.Records...)
			off = r.NextBeginOffset
		}
	}
	return out
}

func TestPutGet_roundTripsAcrossQueuesAndSegmentRolls(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{}
	clock.ms.Store(1_700_000_000_000)
	opts := Options{Dir: dir, SegmentSize: 4096, Now: clock.Now}
	s := openStore(t, opts)

	type sent struct {
		topic string
		qid   int32
		body  string
	}
	var all []sent
	for i := range 300 {
		topic := fmt.Sprintf("topic-%d", i%3)
		qid := int32(i % 4)
		body := fmt.Sprintf("body-%d-%s", i, bytes.Repeat([]byte{'x'}, i%50))
		m := newMsg(topic, qid, body, map[string]string{message.PropTags: "T", message.PropUniqKey: fmt.Sprintf("U%d", i)})
		res := mustPut(t, s, m)
		if res[0].PhysicalOffset != m.PhysicalOffset || res[0].QueueOffset != m.QueueOffset || m.StoreTimestamp != clock.ms.Load() {
			t.Fatalf("Put result %+v vs message %d/%d/%d", res[0], m.PhysicalOffset, m.QueueOffset, m.StoreTimestamp)
		}
		all = append(all, sent{topic, qid, body})
		clock.ms.Add(1)
	}
	if n := len(*s.segs.Load()); n < 5 {
		t.Fatalf("only %d segments; the test must roll segments", n)
	}
	// Every queue holds its messages in order.
	next := map[string]int64{}
	for _, m := range all {
		key := fmt.Sprintf("%s/%d", m.topic, m.qid)
		r, err := s.Get(m.topic, m.qid, next[key], 1, 1<<20, nil)
		if err != nil || r.Status != Found || len(r.Records) != 1 {
			t.Fatalf("Get %s@%d = %v, %v", key, next[key], r.Status, err)
		}
		got, _, err := message.Decode(r.Records[0])
		if err != nil || string(got.Body) != m.body || got.QueueOffset != next[key] || got.StoreHost != storeHost {
			t.Fatalf("Get %s@%d = %+v, %v; want body %q", key, next[key], got, err, m.body)
		}
		next[key]++
	}
	if n := len(s.Queues()); n != 12 {
		t.Fatalf("%d queues, want 12", n)
	}

	before := queueDump(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, opts)
	if after := queueDump(t, s2); !reflect.DeepEqual(before, after) {
		t.Fatal("consume queues differ after reopen")
	}
	// Appending continues after the recovered end.
	m := newMsg("topic-0", 0, "after reopen", nil)
	mustPut(t, s2, m)
	if m.QueueOffset != 25 {
		t.Fatalf("queue offset after reopen = %d, want 25", m.QueueOffset)
	}
}

func TestPut_fillsBatchAndNotifiesOncePerQueue(t *testing.T) {
	var mu sync.Mutex
	var notified []string
	s := openStore(t, Options{Dir: t.TempDir(), OnAppend: func(topic string, q int32) {
		mu.Lock()
		notified = append(notified, fmt.Sprintf("%s/%d", topic, q))
		mu.Unlock()
	}})
	batch := []*message.Message{newMsg("b", 1, "a", nil), newMsg("b", 1, "b", nil), newMsg("b", 1, "c", nil)}
	res := mustPut(t, s, batch...)
	for i, r := range res {
		if r.QueueOffset != int64(i) || batch[i].QueueOffset != int64(i) {
			t.Fatalf("message %d: queue offset %d", i, r.QueueOffset)
		}
		if i > 0 && r.PhysicalOffset != res[i-1].PhysicalOffset+int64(res[i-1].Size)+frameHeaderSize {
			t.Fatalf("batch is not contiguous: %+v", res)
		}
	}
	mixed := []*message.Message{newMsg("b", 2, "x", nil), newMsg("b", 1, "y", nil), newMsg("b", 2, "z", nil)}
	mustPut(t, s, mixed...)
	if mixed[0].QueueOffset != 0 || mixed[1].QueueOffset != 3 || mixed[2].QueueOffset != 1 {
		t.Fatalf("mixed batch offsets %d %d %d", mixed[0].QueueOffset, mixed[1].QueueOffset, mixed[2].QueueOffset)
	}
	if want := []string{"b/1", "b/2", "b/1", "b/2"}; !reflect.DeepEqual(notified, want) {
		t.Fatalf("OnAppend calls %v, want %v", notified, want)
	}
}

func TestPut_rejectsOversizedAndInvalidMessages(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir(), SegmentSize: 4096, MaxMessageSize: 1024})
	if _, err := s.Put(newMsg("t", 0, string(make([]byte, 1024)), nil)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("big message: err = %v", err)
	}
	var batch []*message.Message
	for range 8 {
		batch = append(batch, newMsg("t", 0, string(make([]byte, 700)), nil))
	}
	if _, err := s.Put(batch...); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("batch larger than a segment: err = %v", err)
	}
	if _, err := s.Put(newMsg(string(make([]byte, 128)), 0, "", nil)); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("long topic: err = %v", err)
	}
	if s.MaxOffset("t", 0) != 0 {
		t.Fatal("a rejected message was stored")
	}
}

func TestGet_statuses(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir()})
	if r, _ := s.Get("t", 0, 0, 32, 1<<20, nil); r.Status != NoMessageInQueue || r.NextBeginOffset != 0 {
		t.Fatalf("empty queue: %+v", r)
	}
	tags := []string{"A", "B", "B", "B", "A", "C"}
	for _, tg := range tags {
		mustPut(t, s, newMsg("t", 0, "body-"+tg, map[string]string{message.PropTags: tg}))
	}
	matchA := func(h int64) bool { return h == message.TagsHash("A") }
	matchZ := func(h int64) bool { return h == message.TagsHash("Z") }
	cases := []struct {
		name       string
		offset     int64
		maxMsgs    int
		maxBytes   int
		match      func(int64) bool
		wantStatus GetStatus
		wantN      int
		wantNext   int64
	}{
		{"all", 0, 32, 1 << 20, nil, Found, 6, 6},
		{"maxMsgs", 1, 2, 1 << 20, nil, Found, 2, 3},
		{"maxBytes still returns one", 0, 32, 1, nil, Found, 1, 1},
		{"too small", -1, 32, 1 << 20, nil, OffsetTooSmall, 0, 0},
		{"overflow one", 6, 32, 1 << 20, nil, OffsetOverflowOne, 0, 6},
		{"overflow badly", 9, 32, 1 << 20, nil, OffsetOverflowBadly, 0, 6},
		{"filter skips runs", 0, 32, 1 << 20, matchA, Found, 2, 6},
		{"filter stops at maxMsgs", 0, 1, 1 << 20, matchA, Found, 1, 1},
		{"filter skips to next match", 1, 1, 1 << 20, matchA, Found, 1, 5},
		{"filter matches nothing", 0, 32, 1 << 20, matchZ, NoMatchedMessage, 0, 6},
	}
	for _, c := range cases {
		r, err := s.Get("t", 0, c.offset, c.maxMsgs, c.maxBytes, c.match)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.Status != c.wantStatus || len(r.Records) != c.wantN || r.NextBeginOffset != c.wantNext || r.MinOffset != 0 || r.MaxOffset != 6 {
			t.Errorf("%s: status %v, %d records, next %d, min %d, max %d; want %v, %d, %d, 0, 6",
				c.name, r.Status, len(r.Records), r.NextBeginOffset, r.MinOffset, r.MaxOffset, c.wantStatus, c.wantN, c.wantNext)
		}
		for _, rec := range r.Records {
			m, _, err := message.Decode(rec)
			if err != nil || (c.match != nil && !c.match(message.TagsHash(m.Tags()))) {
				t.Errorf("%s: returned %+v, %v", c.name, m, err)
			}
		}
	}
}

func TestRead_findsOnlyRecordStarts(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir()})
	res := mustPut(t, s, newMsg("t", 0, "one", nil), newMsg("t", 0, "two", nil))
	m, err := s.Read(res[1].PhysicalOffset)
	if err != nil || string(m.Body) != "two" {
		t.Fatalf("Read = %+v, %v", m, err)
	}
	for _, off := range []int64{-1, 1, res[1].PhysicalOffset + 8, res[1].PhysicalOffset + int64(res[1].Size) + 8, 1 << 40} {
		if _, err := s.Read(off); !errors.Is(err, ErrNotFound) {
			t.Errorf("Read(%d): err = %v, want ErrNotFound", off, err)
		}
	}
}

func TestScan_visitsRecordsInLogOrderFromAnOffset(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir(), SegmentSize: 1024})
	var offs []int64
	for i := range 40 {
		r := mustPut(t, s, newMsg(fmt.Sprintf("t%d", i%2), 0, fmt.Sprint(i), nil))
		offs = append(offs, r[0].PhysicalOffset)
	}
	var got []int64
	if err := s.Scan(offs[10], func(m *message.Message) error { got = append(got, m.PhysicalOffset); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, offs[10:]) {
		t.Fatalf("Scan visited %v, want %v", got, offs[10:])
	}
	stop := errors.New("stop")
	if err := s.Scan(0, func(*message.Message) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Scan error = %v", err)
	}
	if err := s.Scan(offs[1]+1, func(*message.Message) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Scan from mid-record: err = %v", err)
	}
}

func TestLookupKey_findsUniqKeyAndKeysAfterReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir})
	r1 := mustPut(t, s, newMsg("t", 0, "a", map[string]string{message.PropUniqKey: "U1", message.PropKeys: "order-1 user-9"}))
	r2 := mustPut(t, s, newMsg("t", 1, "b", map[string]string{message.PropKeys: "order-1"}))
	check := func(s *Store) {
		t.Helper()
		for key, want := range map[string][]int64{
			"U1": {r1[0].PhysicalOffset}, "user-9": {r1[0].PhysicalOffset},
			"order-1": {r1[0].PhysicalOffset, r2[0].PhysicalOffset}, "nope": nil, "": nil,
		} {
			if got := s.LookupKey(key, 0, nil); !reflect.DeepEqual(got, want) {
				t.Errorf("LookupKey(%q) = %v, want %v", key, got, want)
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openStore(t, Options{Dir: dir}))
}

func TestOffsetForTimestamp_binarySearchesTheStoreTimes(t *testing.T) {
	clock := &fakeClock{}
	s := openStore(t, Options{Dir: t.TempDir(), Now: clock.Now})
	for _, ms := range []int64{100, 200, 200, 300} {
		clock.ms.Store(ms)
		mustPut(t, s, newMsg("t", 0, "x", nil))
	}
	for ms, want := range map[int64]int64{0: 0, 100: 0, 101: 1, 200: 1, 250: 3, 300: 3, 301: 4} {
		if got := s.OffsetForTimestamp("t", 0, ms); got != want {
			t.Errorf("OffsetForTimestamp(%d) = %d, want %d", ms, got, want)
		}
	}
	if _, _, ok := s.QueueEntry("t", 0, 4); ok {
		t.Error("QueueEntry past the end is ok")
	}
}

// Issue 16: a forward clock jump used to pin every later timestamp (max(now, last)), also
// across restarts, which stopped delays and check-backs until the clock caught up.
func TestStoreTimestamp_aForwardClockJumpDoesNotPinLaterTimestamps(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{}
	s, err := Open(Options{Dir: dir, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	day := (24 * time.Hour).Milliseconds()
	for _, ms := range []int64{1000, 1000 + day, 1001} { // +24 h, then corrected
		clock.ms.Store(ms)
		mustPut(t, s, newMsg("t", 0, "x", nil))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clock.ms.Store(1002)
	s = openStore(t, Options{Dir: dir, Now: clock.Now})
	mustPut(t, s, newMsg("t", 0, "after restart", nil))
	var ts []int64
	for off := range int64(4) {
		_, st, ok := s.QueueEntry("t", 0, off)
		if !ok {
			t.Fatalf("no entry %d", off)
		}
		ts = append(ts, st)
	}
	if want := []int64{1000, 1000 + day, 1001, 1002}; !reflect.DeepEqual(ts, want) {
		t.Fatalf("store timestamps %v, want %v (the wall clock per message)", ts, want)
	}
}

// Issue 16: KEYS were split on any whitespace at Put but only on spaces at recovery.
func TestLookupKey_keysSplitOnAnyWhitespace_sameAfterRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	m := newMsg("t", 0, "x", map[string]string{message.PropKeys: "a\tb  c\nd"})
	mustPut(t, s, m)
	check := func(s *Store) {
		t.Helper()
		for _, k := range []string{"a", "b", "c", "d"} {
			if offs := s.LookupKey(k, 0, nil); len(offs) != 1 || offs[0] != m.PhysicalOffset {
				t.Errorf("LookupKey(%q) = %v, want [%d]", k, offs, m.PhysicalOffset)
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openStore(t, Options{Dir: dir}))
}

func TestClose_thenPutFailsWithErrClosed(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Flush: FlushSync})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, newMsg("t", 0, "x", nil))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(newMsg("t", 0, "y", nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestOptions_validateReportsEveryProblem(t *testing.T) {
	o := Options{SegmentSize: 10, Flush: FlushMode(9), MaxMessageSize: 5}
	err := o.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"Dir", "SegmentSize", "flush mode", "MaxMessageSize"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	for in, want := range map[string]FlushMode{"async": FlushAsync, "SYNC": FlushSync} {
		if got, err := ParseFlushMode(in); err != nil || got != want {
			t.Errorf("ParseFlushMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseFlushMode("sometimes"); err == nil {
		t.Error("ParseFlushMode accepted junk")
	}
}

func TestPut_concurrentSyncPutsShareFsyncs(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir(), Flush: FlushSync, SegmentSize: 256 << 10})
	const goroutines, perG = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				if _, err := s.Put(newMsg("t", int32(g%4), fmt.Sprintf("%d-%d", g, i), nil)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := s.Stats()
	t.Logf("%d puts, %d fsyncs", st.Puts, st.Fsyncs)
	if st.Puts != goroutines*perG {
		t.Fatalf("puts = %d", st.Puts)
	}
	if st.Fsyncs >= st.Puts {
		t.Fatalf("fsyncs = %d for %d puts: no group commit", st.Fsyncs, st.Puts)
	}
	var total int64
	for q := range int32(4) {
		total += s.MaxOffset("t", q)
	}
	if total != goroutines*perG {
		t.Fatalf("%d messages stored, want %d", total, goroutines*perG)
	}
}

func TestPut_syncPutsArrivingDuringAnFsyncShareTheNextOne(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir(), Flush: FlushSync})
	const goroutines = 32
	var first atomic.Bool
	s.testHookBeforeSync = func() {
		if first.Swap(true) {
			return
		}
		// Hold the first fsync until every Put is written and waiting.
		for {
			s.flushMu.Lock()
			n := s.flushWaiters
			s.flushMu.Unlock()
			if n == goroutines {
				return
			}
			runtime.Gosched()
		}
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			if _, err := s.Put(newMsg("t", int32(g%4), "x", nil)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.Puts != goroutines || st.Fsyncs > 2 {
		t.Fatalf("%d puts took %d fsyncs, want at most 2", st.Puts, st.Fsyncs)
	}
}

func TestGet_concurrentWithPut(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir(), SegmentSize: 8192})
	const n = 500
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			if _, err := s.Put(newMsg("t", 0, fmt.Sprint(i), nil)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var off int64
	for off < n {
		r, err := s.Get("t", 0, off, 16, 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range r.Records {
			m, _, err := message.Decode(rec)
			if err != nil || string(m.Body) != fmt.Sprint(off) {
				t.Fatalf("offset %d: %+v %v", off, m, err)
			}
			off++
		}
		if r.Status == OffsetOverflowOne || r.Status == NoMessageInQueue {
			select {
			case <-done:
				if s.MaxOffset("t", 0) == off && off < n {
					t.Fatalf("writer stopped at %d", off)
				}
			default:
			}
		}
	}
	<-done
}

// segmentFiles returns the commit-log segment paths in order.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "commitlog", "*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	return paths
}

// fillStore writes n messages to a fresh store in dir and closes it; it returns the results.
func fillStore(t testing.TB, dir string, segSize int64, n int) []PutResult {
	t.Helper()
	s, err := Open(Options{Dir: dir, SegmentSize: segSize})
	if err != nil {
		t.Fatal(err)
	}
	var res []PutResult
	for i := range n {
		r, err := s.Put(newMsg("t", int32(i%2), fmt.Sprintf("message %d", i), map[string]string{message.PropKeys: fmt.Sprintf("k%d", i)}))
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, r...)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The tests that use it damage the log and check the recovery rule of a full scan; records
	// below a checkpoint are not re-verified (doc.go "Checkpoint", checkpoint_test.go).
	if err := os.Remove(filepath.Join(dir, checkpointFileName)); err != nil {
		t.Fatal(err)
	}
	return res
}

// reopenAndAppend opens dir, expects want messages in total, appends one more and checks it.
func reopenAndAppend(t *testing.T, dir string, want int64) {
	t.Helper()
	s, err := Open(Options{Dir: dir, SegmentSize: 4096})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if got := s.MaxOffset("t", 0) + s.MaxOffset("t", 1); got != want {
		t.Fatalf("%d messages after recovery, want %d", got, want)
	}
	m := newMsg("t", 0, "after repair", nil)
	if _, err := s.Put(m); err != nil {
		t.Fatalf("Put after repair: %v", err)
	}
	if got, err := s.Read(m.PhysicalOffset); err != nil || string(got.Body) != "after repair" {
		t.Fatalf("Read after repair: %+v %v", got, err)
	}
	mustCheckConsumeQueues(t, s)
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestRecover_truncatesTornTailAtEveryByteOfTheLastRecord(t *testing.T) {
	base := t.TempDir()
	const n = 30
	res := fillStore(t, base, 4096, n)
	segs := segmentFiles(t, base)
	last := res[n-1]
	lastSegStart := int64(0)
	fmt.Sscan(filepath.Base(segs[len(segs)-1]), &lastSegStart)
	if last.PhysicalOffset == lastSegStart {
		t.Fatal("test setup: the last record must not be first in its segment")
	}
	from := last.PhysicalOffset - lastSegStart
	to := from + frameHeaderSize + int64(last.Size)
	for cut := from; cut < to; cut++ {
		dir := copyDir(t, base)
		if err := os.Truncate(segmentFiles(t, dir)[len(segs)-1], cut); err != nil {
			t.Fatal(err)
		}
		reopenAndAppend(t, dir, n-1)
	}
}

func TestRecover_truncatesAFlippedByteInTheLastRecord(t *testing.T) {
	base := t.TempDir()
	const n = 30
	res := fillStore(t, base, 4096, n)
	segs := segmentFiles(t, base)
	var lastSegStart int64
	fmt.Sscan(filepath.Base(segs[len(segs)-1]), &lastSegStart)
	last := res[n-1]
	from := last.PhysicalOffset - lastSegStart
	for pos := from; pos < from+frameHeaderSize+int64(last.Size); pos += 7 {
		dir := copyDir(t, base)
		flipByte(t, segmentFiles(t, dir)[len(segs)-1], pos)
		reopenAndAppend(t, dir, n-1)
	}
}

func TestRecover_failsWithErrCorruptOnDamageInAnEarlierSegment(t *testing.T) {
	base := t.TempDir()
	fillStore(t, base, 4096, 120)
	if len(segmentFiles(t, base)) < 3 {
		t.Fatal("test setup: need at least 3 segments")
	}
	damage := map[string]func(t *testing.T, dir string){
		"flipped byte": func(t *testing.T, dir string) { flipByte(t, segmentFiles(t, dir)[0], 100) },
		"truncated": func(t *testing.T, dir string) {
			if err := os.Truncate(segmentFiles(t, dir)[1], 50); err != nil {
				t.Fatal(err)
			}
		},
		"missing segment": func(t *testing.T, dir string) {
			if err := os.Remove(segmentFiles(t, dir)[1]); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			dir := copyDir(t, base)
			f(t, dir)
			s, err := Open(Options{Dir: dir, SegmentSize: 4096})
			if !errors.Is(err, ErrCorrupt) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("Open: err = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestRecover_acceptsEmptyTrailingSegment(t *testing.T) {
	dir := t.TempDir()
	res := fillStore(t, dir, 4096, 10)
	end := res[9].PhysicalOffset + frameHeaderSize + int64(res[9].Size)
	if err := os.WriteFile(filepath.Join(dir, "commitlog", segmentName(end)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	reopenAndAppend(t, dir, 10)
}

func flipByte(t testing.TB, path string, pos int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[pos] ^= 0x5A
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func FuzzRecover(f *testing.F) {
	f.Add([]byte{1, 2, 3}, uint16(0), false)
	f.Add([]byte{0, 0, 0, 200, 0, 0, 0, 0}, uint16(0), true)
	f.Add(bytes.Repeat([]byte{0xFF}, 300), uint16(40), false)
	f.Fuzz(func(t *testing.T, data []byte, at uint16, appendMode bool) {
		dir := t.TempDir()
		fillStore(t, dir, 2048, 12)
		segs := segmentFiles(t, dir)
		path := segs[len(segs)-1]
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if appendMode {
			b = append(b, data...)
		} else {
			pos := int(at) % (len(b) + 1)
			b = append(b[:pos], data...)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(Options{Dir: dir, SegmentSize: 2048})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v (want success or ErrCorrupt)", err)
			}
			return
		}
		defer s.Close()
		mustCheckConsumeQueues(t, s)
		if err := s.Scan(0, func(m *message.Message) error { return nil }); err != nil {
			t.Fatalf("Scan after recovery: %v", err)
		}
		if _, err := s.Put(newMsg("t", 0, "after", nil)); err != nil {
			t.Fatalf("Put after recovery: %v", err)
		}
	})
}
