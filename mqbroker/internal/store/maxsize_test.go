package store

import (
	"strings"
	"testing"
)

// Review finding 4: recovery must not treat a record written under a higher MaxMessageSize as
// defective after a restart with a lower one (mqbroker --max-message-size lowered): at the end of
// the last segment it was truncated as a torn tail, elsewhere Open stopped (and --repair would
// have destroyed it).
func TestRecovery_lowerMaxMessageSizeKeepsAcknowledgedRecords(t *testing.T) {
	for _, tc := range []struct {
		name       string
		smallAfter int // records put after the big one
	}{{"big record at the tail", 0}, {"big record followed by others", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(Options{Dir: dir, MaxMessageSize: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				mustPut(t, s, newMsg("t", 0, "small", nil))
			}
			big := strings.Repeat("x", 200<<10)
			bigAt := mustPut(t, s, newMsg("t", 0, big, nil))[0].PhysicalOffset // acknowledged
			for range tc.smallAfter {
				mustPut(t, s, newMsg("t", 0, "small", nil))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := openStore(t, Options{Dir: dir, MaxMessageSize: 100 << 10})
			want := int64(4 + tc.smallAfter)
			if n := s2.MaxOffset("t", 0); n != want {
				t.Fatalf("after reopen with a smaller MaxMessageSize: %d records of %d", n, want)
			}
			res, err := s2.Get("t", 0, 3, 1, 1<<20, nil)
			if err != nil || res.Status != Found || len(res.Records) != 1 || !strings.Contains(string(res.Records[0]), big) {
				t.Fatalf("Get of the big record after reopen: status %v, %d records, err %v", res.Status, len(res.Records), err)
			}
			// Read (carrying forward, key lookups, view by id) still finds it: its bound grows to
			// the largest record recovery found.
			if m, err := s2.Read(bigAt); err != nil || string(m.Body) != big {
				t.Fatalf("Read of the big record after reopen: %v", err)
			}
			// Put still enforces the lowered limit.
			if _, err := s2.Put(newMsg("t", 0, big, nil)); err == nil {
				t.Fatal("Put of a record above the lowered MaxMessageSize succeeded")
			}
		})
	}
}
