package store

import (
	"testing"
	"time"
)

// AppendStalled reports a Put that waits for the append lock (held here
// as a segment roll's fsync or a checkpoint would hold it) and stops
// reporting once the Put is through.
func TestAppendStalled_whileAPutWaitsForTheAppendLock(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir(), SegmentSize: 1 << 20})
	if _, err := s.Put(newMsg("T", 0, "first", nil)); err != nil {
		t.Fatal(err)
	}
	if s.AppendStalled(0) {
		t.Fatal("stalled with no Put in progress")
	}
	s.appendMu.Lock()
	done := make(chan error, 1)
	go func() {
		_, err := s.Put(newMsg("T", 0, "second", nil))
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !s.AppendStalled(time.Millisecond) {
		if time.Now().After(deadline) {
			s.appendMu.Unlock()
			t.Fatal("a Put waiting 10 s for the append lock is not reported stalled")
		}
		time.Sleep(time.Millisecond)
	}
	if s.AppendStalled(time.Hour) {
		t.Error("stalled for more than an hour")
	}
	s.appendMu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.AppendStalled(0) {
		t.Fatal("still stalled after the Put finished")
	}
}
