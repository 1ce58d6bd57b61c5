package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// Review finding 2: DeleteTopic records "before" = the commit-log end. With FlushAsync that end
// may not be durable; after a power loss that loses the unflushed tail, records of the
// re-created topic would land below the cut and vanish at the next restart. DeleteTopic
// therefore fsyncs the log up to the cut before writing the state file.
func TestDeleteTopic_cutNeverLiesAboveTheDurableEnd(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Flush: FlushAsync, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(newMsg("x", 0, "a", nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(newMsg("y", 0, strings.Repeat("b", 4000), nil)); err != nil { // within the flush window
		t.Fatal(err)
	}
	if err := s.DeleteTopic("x"); err != nil {
		t.Fatal(err)
	}
	s.flushMu.Lock()
	durable := s.flushed // what a power loss now keeps
	s.flushMu.Unlock()
	// Simulated power loss: the state file (fsynced) survives, the unflushed tail does not.
	crash := t.TempDir()
	if err := os.MkdirAll(filepath.Join(crash, "commitlog"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(crash, stateFileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	seg, err := os.ReadFile(filepath.Join(dir, "commitlog", segmentName(0)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(crash, "commitlog", segmentName(0)), seg[:durable], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(Options{Dir: crash, Flush: FlushSync})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Put(newMsg("x", 0, "c: acknowledged after the restart", map[string]string{message.PropKeys: "kc"})); err != nil {
		t.Fatal(err)
	}
	if n := len(s2.LookupKey("kc", 0, nil)); n != 1 {
		t.Errorf("LookupKey of the new record = %d results, want 1", n)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(Options{Dir: crash})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if n := s3.MaxOffset("x", 0); n != 1 {
		t.Errorf("after a second restart topic x has %d records, want 1 (the acknowledged record c lies below DeleteTopic's cut)", n)
	}
}
