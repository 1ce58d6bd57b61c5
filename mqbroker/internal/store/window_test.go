package store

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// TestPut_writesAcrossWindowsAndSegments_readBackAndSurviveACrash writes
// more than a segment (so the mapped window moves and the segment rolls),
// including a batch larger than a window (written with pwrite), then checks
// every record through Get, through a copy of the files taken without Close
// (what a restart after kill -9 finds), and after a clean reopen.
func TestPut_writesAcrossWindowsAndSegments_readBackAndSurviveACrash(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flush  FlushMode
		noMmap bool
	}{{"async", FlushAsync, false}, {"sync", FlushSync, false}, {"async-pwrite", FlushAsync, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, Flush: tc.flush, SegmentSize: 3 * writeWindow, noMmap: tc.noMmap}
			s, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			var want [][]byte
			put := func(msgs ...*message.Message) {
				t.Helper()
				if _, err := s.Put(msgs...); err != nil {
					t.Fatal(err)
				}
				for _, m := range msgs {
					want = append(want, m.Body)
				}
			}
			body := func(i, n int) string { return fmt.Sprintf("%08d%s", i, bytes.Repeat([]byte{byte('a' + i%26)}, n-8)) }
			i := 0
			for written := 0; written < 2*writeWindow; i++ { // sizes 1..65 KiB, crossing page and window edges
				n := 1024 + (i*7919)%(64<<10)
				put(newMsg("t", 0, body(i, n), nil))
				written += n
			}
			var batch []*message.Message // one Put larger than a window
			for j := range 9 {
				batch = append(batch, newMsg("t", 0, body(i+j, 1<<20), nil))
			}
			put(batch...)
			i += len(batch)
			for written := 0; written < writeWindow; i++ { // into the next segment
				put(newMsg("t", 0, body(i, 4096), nil))
				written += 4096
			}
			if segs := len(*s.segs.Load()); segs < 2 {
				t.Fatalf("%d segments, want the log to have rolled", segs)
			}

			check := func(t *testing.T, s *Store) {
				t.Helper()
				got := queueDump(t, s)["t/0"]
				if len(got) != len(want) {
					t.Fatalf("%d records, want %d", len(got), len(want))
				}
				for k, rec := range got {
					m, _, err := message.Decode(rec)
					if err != nil {
						t.Fatalf("record %d: %v", k, err)
					}
					if !bytes.Equal(m.Body, want[k]) {
						t.Fatalf("record %d: body %.16q…, want %.16q…", k, m.Body, want[k])
					}
				}
			}
			check(t, s)

			crashed := t.TempDir()
			if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			check(t, openStore(t, Options{Dir: crashed, Flush: tc.flush, SegmentSize: opts.SegmentSize}))

			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			check(t, openStore(t, Options{Dir: dir, Flush: tc.flush, SegmentSize: opts.SegmentSize}))
		})
	}
}
