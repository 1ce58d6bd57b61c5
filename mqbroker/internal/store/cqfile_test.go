package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"

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
	_, probe, err := (&cqAlloc{dir: t.TempDir()}).mapChunk()
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
