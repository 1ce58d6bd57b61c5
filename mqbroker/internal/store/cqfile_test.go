package store

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

func cqFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, cqDirName))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestConsumeQueueChunks_liveInFilesThatRetentionDeleteTopicAndOpenRelease(t *testing.T) {
	_, probe, err := (&cqAlloc{dir: t.TempDir()}).mapChunk(cqChunk)
	if err != nil {
		t.Skipf("no mapped chunks here: %v", err)
	}
	if err := probe.release(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	clk := &fakeClock{}
	s := openStore(t, Options{Dir: dir, SegmentSize: 1 << 20, Now: clk.Now, Retention: time.Hour})
	batch := make([]*message.Message, 64)
	put := func(topic string, n int) {
		for i := 0; i < n; i += len(batch) {
			for j := range batch {
				batch[j] = newMsg(topic, 0, "x", nil)
			}
			mustPut(t, s, batch...)
		}
	}
	put("big", cqChunk+cqChunk/2) // two chunks
	put("small", 10)
	if got := cqFiles(t, dir); got != 3 {
		t.Fatalf("%d chunk files, want 3 (2 for big, 1 for small)", got)
	}
	if err := s.DeleteTopic("small"); err != nil {
		t.Fatal(err)
	}
	if got := cqFiles(t, dir); got != 2 {
		t.Fatalf("%d chunk files after DeleteTopic, want 2", got)
	}
	clk.ms.Add((2 * time.Hour).Milliseconds())
	put("big", cqChunk) // fills the second chunk and starts a third, in new segments
	res, err := s.Retain(clk.Now())
	if err != nil || res.Segments == 0 {
		t.Fatalf("Retain = %+v %v", res, err)
	}
	if min := s.MinOffset("big", 0); min < cqChunk {
		t.Fatalf("min offset %d, want at least one whole chunk deleted", min)
	}
	if got := cqFiles(t, dir); got != 2 {
		t.Fatalf("%d chunk files after retention, want 2", got)
	}
	mustCheckConsumeQueues(t, s)
	g, err := s.Get("big", 0, s.MinOffset("big", 0), 32, 1<<20, nil)
	if err != nil || g.Status != Found || len(g.Records) != 32 {
		t.Fatalf("Get at the min: %v %d records %v", g.Status, len(g.Records), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if g, err := s.Get("big", 0, 0, 1, 1<<20, nil); err != nil || g.Status != NoMessageInQueue {
		t.Fatalf("Get after Close = %v %v, want no queue (mappings released)", g.Status, err)
	}
	s2 := openStore(t, Options{Dir: dir, SegmentSize: 1 << 20})
	if got := cqFiles(t, dir); got != 2 {
		t.Fatalf("%d chunk files after reopening, want 2 (rebuilt)", got)
	}
	if s2.MaxOffset("big", 0) != 2*cqChunk+cqChunk/2 {
		t.Fatalf("max offset %d after reopening", s2.MaxOffset("big", 0))
	}
}

// Review finding 5: every queue's first chunk was a fully allocated 768 KiB file, so many small
// queues (auto-created topics) reserved disk that disk-usage retention then paid for with real
// messages. The first chunk now starts with cqFirstChunk entries and doubles as it fills.
func TestConsumeQueue_firstChunkStartsSmallAndGrowsAsItFills(t *testing.T) {
	if _, probe, err := (&cqAlloc{dir: t.TempDir()}).mapChunk(cqFirstChunk); err != nil {
		t.Skipf("no mapped chunks here: %v", err)
	} else if err := probe.release(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, SegmentSize: 4 << 20})
	apparent := func() (files int, bytes int64) {
		t.Helper()
		ents, err := os.ReadDir(filepath.Join(dir, cqDirName))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			bytes += fi.Size()
		}
		return len(ents), bytes
	}
	for i := range 200 {
		mustPut(t, s, newMsg(fmt.Sprintf("topic-%d", i), 0, "x", nil))
	}
	entry := int64(unsafe.Sizeof(cqEntry{}))
	if files, bytes := apparent(); files != 200 || bytes != 200*cqFirstChunk*entry {
		t.Fatalf("200 one-message queues: %d files, %d bytes; want 200 files of %d bytes (was 768 KiB each)", files, bytes, cqFirstChunk*entry)
	}
	// One queue grows through every doubling into a second chunk; its entries survive each remap.
	batch := make([]*message.Message, 64)
	for n := 0; n < cqChunk+100; n += len(batch) {
		for j := range batch {
			batch[j] = newMsg("grow", 0, fmt.Sprintf("g%d", n+j), nil)
		}
		mustPut(t, s, batch...)
	}
	want := int64(cqChunk+100+63) / 64 * 64
	if files, bytes := apparent(); files != 202 || bytes != 200*cqFirstChunk*entry+2*cqChunk*entry {
		t.Fatalf("after growing one queue past a chunk: %d files, %d bytes; want 202 files, two of them %d bytes", files, bytes, cqChunk*entry)
	}
	if got := s.MaxOffset("grow", 0); got != want {
		t.Fatalf("grow has %d entries, want %d", got, want)
	}
	for _, off := range []int64{0, cqFirstChunk - 1, cqFirstChunk, 1000, cqChunk - 1, cqChunk, want - 1} {
		g, err := s.Get("grow", 0, off, 1, 1<<20, nil)
		if err != nil || g.Status != Found {
			t.Fatalf("Get(grow, %d) = %v, %v", off, g.Status, err)
		}
		m, _, err := message.Decode(g.Records[0])
		if err != nil || string(m.Body) != fmt.Sprintf("g%d", off) {
			t.Fatalf("Get(grow, %d) = %q, %v", off, m.Body, err)
		}
	}
	mustCheckConsumeQueues(t, s)
}

// A queue kept on the heap (no mapping) grows its first chunk the same way.
func TestConsumeQueue_heapFirstChunkGrowsToo(t *testing.T) {
	q := &consumeQueue{}
	for i := range cqChunk + 5 {
		q.add(cqEntry{phys: int64(i), size: 1})
	}
	if len(q.chunks) != 2 || len(q.chunks[0]) != cqChunk || cap(q.chunks[0]) != cqChunk || len(q.chunks[1]) != 5 {
		t.Fatalf("chunks: %d, first len %d cap %d", len(q.chunks), len(q.chunks[0]), cap(q.chunks[0]))
	}
	for i := range int64(cqChunk + 5) {
		if q.at(i).phys != i {
			t.Fatalf("entry %d = %d", i, q.at(i).phys)
		}
	}
}
