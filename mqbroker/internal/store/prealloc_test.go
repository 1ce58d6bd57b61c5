package store

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// segmentFiles lists the commit-log files of dir with their sizes.
func segmentSizes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "commitlog"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fi.Size()
	}
	return out
}

func TestPut_preallocatesAhead_andSealedOrClosedSegmentsAreExact(t *testing.T) {
	for _, mode := range []FlushMode{FlushAsync, FlushSync} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(Options{Dir: dir, Flush: mode, SegmentSize: 8 << 20})
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Put(newMsg("t", 0, "first", nil))
			if err != nil {
				t.Fatal(err)
			}
			end := res[0].PhysicalOffset + int64(frameHeaderSize) + int64(res[0].Size)
			for name, size := range segmentSizes(t, dir) {
				if size <= end {
					t.Fatalf("segment %s is %d bytes, want preallocated beyond the data end %d", name, size, end)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			for name, size := range segmentSizes(t, dir) {
				if size != end {
					t.Fatalf("closed segment %s is %d bytes, want exactly %d", name, size, end)
				}
			}
		})
	}
}

func TestSyncFlush_crashWithPreallocatedTail_recoversEveryRecord(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Flush: FlushSync, SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300 // several segment rolls with 1 MiB segments and ~4 KiB bodies
	body := string(make([]byte, 4000))
	for i := range n {
		if _, err := s.Put(newMsg("t", int32(i%2), fmt.Sprintf("%d%s", i, body), nil)); err != nil {
			t.Fatal(err)
		}
	}
	// "Crash": copy the files as they are (zero-filled tail included) without closing.
	crashed := t.TempDir()
	if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	r := openStore(t, Options{Dir: crashed, Flush: FlushSync, SegmentSize: 1 << 20})
	if got := r.MaxOffset("t", 0) + r.MaxOffset("t", 1); got != n {
		t.Fatalf("recovered %d records, want %d", got, n)
	}
	if _, err := r.Put(newMsg("t", 0, "after", nil)); err != nil {
		t.Fatal(err)
	}
}
