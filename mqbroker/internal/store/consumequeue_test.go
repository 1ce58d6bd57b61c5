package store

import (
	"fmt"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// TestConsumeQueue_acrossChunks fills one queue past two chunk boundaries
// and checks every way of reading it there: Get spanning a boundary, tag
// filtering, QueueEntry, OffsetForTimestamp, and the same after reopening
// (the index is rebuilt by recovery). openStore's cleanup also reads every
// entry back through QueueEntry and Read.
func TestConsumeQueue_acrossChunks(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{}
	clock.ms.Store(1_700_000_000_000)
	opts := Options{Dir: dir, Now: clock.Now}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2*cqChunk + 100
	for i := 0; i < n; {
		var batch []*message.Message
		for ; len(batch) < 500 && i < n; i++ {
			tags := "even"
			if i%2 == 1 {
				tags = "odd"
			}
			batch = append(batch, newMsg("t", 0, fmt.Sprint(i), map[string]string{message.PropTags: tags}))
		}
		if _, err := s.Put(batch...); err != nil {
			t.Fatal(err)
		}
		clock.ms.Add(1000) // each batch one second later
	}

	check := func(t *testing.T, s *Store) {
		t.Helper()
		if got := s.MaxOffset("t", 0); got != n {
			t.Fatalf("MaxOffset = %d, want %d", got, n)
		}
		for _, from := range []int64{0, cqChunk - 3, 2*cqChunk - 1, n - 2} {
			r, err := s.Get("t", 0, from, 6, 1<<20, nil)
			if err != nil || r.Status != Found {
				t.Fatalf("Get from %d: %v %v", from, r.Status, err)
			}
			for k, rec := range r.Records {
				m, _, err := message.Decode(rec)
				if err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprint(from + int64(k)); string(m.Body) != want || m.QueueOffset != from+int64(k) {
					t.Fatalf("Get from %d, record %d: body %q offset %d, want %s", from, k, m.Body, m.QueueOffset, want)
				}
			}
		}
		odd := message.TagsHash("odd")
		r, err := s.Get("t", 0, cqChunk-2, 3, 1<<20, func(h int64) bool { return h == odd })
		if err != nil || r.Status != Found || len(r.Records) != 3 {
			t.Fatalf("filtered Get: %v %d records %v", r.Status, len(r.Records), err)
		}
		for _, rec := range r.Records {
			if m, _, _ := message.Decode(rec); m.Properties[message.PropTags] != "odd" {
				t.Fatalf("filtered Get returned tags %q", m.Properties[message.PropTags])
			}
		}
		// Batch b (500 messages) was stored at base + b seconds.
		b := int64(cqChunk/500 + 1)
		if got, want := s.OffsetForTimestamp("t", 0, 1_700_000_000_000+1000*b), 500*b; got != want {
			t.Fatalf("OffsetForTimestamp(batch %d) = %d, want %d", b, got, want)
		}
		if _, ts, ok := s.QueueEntry("t", 0, 500*b); !ok || ts != 1_700_000_000_000+1000*b {
			t.Fatalf("QueueEntry(%d) = %d %v", 500*b, ts, ok)
		}
	}
	check(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(t, openStore(t, opts))
}
