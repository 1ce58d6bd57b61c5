package store

import (
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

func TestDeleteTopicEmptiesItsQueuesOnly(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, topic := range []string{"gone", "kept"} {
		if _, err := s.Put(&message.Message{Topic: topic, Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	if got := s.MaxOffset("gone", 0); got != 0 {
		t.Fatalf("deleted topic max offset %d, want 0", got)
	}
	if got := s.MaxOffset("kept", 0); got != 1 {
		t.Fatalf("other topic max offset %d, want 1", got)
	}
	res, err := s.Put(&message.Message{Topic: "gone", Body: []byte("again")})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].QueueOffset != 0 {
		t.Fatalf("re-created topic starts at %d, want 0", res[0].QueueOffset)
	}
}
