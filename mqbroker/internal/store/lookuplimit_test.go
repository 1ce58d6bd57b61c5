package store

import (
	"fmt"
	"slices"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// Review finding 8: QUERY_MESSAGE read every candidate record of a key (all topics, all index
// files) before its maxNum and topic filter applied. LookupKey now takes the limit and a
// predicate and stops at the limit.
func TestLookupKey_stopsAtTheLimitAndAppliesThePredicate(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir(), SegmentSize: 4096, ixSlots: 8, ixEntries: 16})
	var all, ofB []int64
	for i := range 200 {
		topic := "a"
		if i%4 == 0 {
			topic = "b"
		}
		r := mustPut(t, s, newMsg(topic, 0, fmt.Sprintf("m%d", i), map[string]string{message.PropKeys: "shared"}))
		all = append(all, r[0].PhysicalOffset)
		if topic == "b" {
			ofB = append(ofB, r[0].PhysicalOffset)
		}
	}
	calls := 0
	got := s.LookupKey("shared", 5, func(*message.Message) bool { calls++; return true })
	if !slices.Equal(got, all[:5]) {
		t.Fatalf("LookupKey(shared, 5) = %v, want the first five %v", got, all[:5])
	}
	if calls != 5 {
		t.Fatalf("LookupKey(shared, 5) examined %d records, want 5 (it must stop at the limit)", calls)
	}
	calls = 0
	got = s.LookupKey("shared", 3, func(m *message.Message) bool { calls++; return m.Topic == "b" })
	if !slices.Equal(got, ofB[:3]) {
		t.Fatalf("LookupKey(shared, 3, topic b) = %v, want %v", got, ofB[:3])
	}
	if calls != 9 { // b is every fourth record: its third is the ninth candidate
		t.Fatalf("LookupKey(shared, 3, topic b) examined %d records, want 9", calls)
	}
	if got := s.LookupKey("shared", 0, nil); len(got) != 200 {
		t.Fatalf("LookupKey(shared, no limit) = %d records, want 200", len(got))
	}
}
