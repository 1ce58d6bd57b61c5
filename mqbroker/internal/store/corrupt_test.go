package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// fillOneSegment writes n messages into one segment of a fresh store in dir and closes it.
func fillOneSegment(t testing.TB, dir string, n int) []PutResult {
	t.Helper()
	return fillStore(t, dir, 1<<20, n)
}

// countRecords opens dir with opts and returns the number of indexed messages and the keys found.
func countRecords(t *testing.T, s *Store) int64 {
	t.Helper()
	var n int64
	for _, q := range s.Queues() {
		for off := q.MinOffset; off < q.MaxOffset; off++ {
			if phys, _, ok := s.QueueEntry(q.Topic, q.QueueID, off); ok && phys >= 0 {
				n++
			}
		}
	}
	return n
}

func TestRecover_stopsWithFileAndOffsetOnADamagedRecordFollowedByValidOnes(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	base := t.TempDir()
	const n = 1000
	res := fillOneSegment(t, base, n)
	seg := segmentFiles(t, base)[0]
	cases := []int{0, 10, n / 2, n - 2}
	for range 8 {
		cases = append(cases, rng.IntN(n-1))
	}
	for _, rec := range cases {
		r := res[rec]
		pos := r.PhysicalOffset + rng.Int64N(frameHeaderSize+int64(r.Size))
		t.Run(fmt.Sprintf("record %d byte %d", rec, pos), func(t *testing.T) {
			dir := copyDir(t, base)
			flipByte(t, filepath.Join(dir, "commitlog", filepath.Base(seg)), pos)
			s, err := Open(Options{Dir: dir, SegmentSize: 1 << 20})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a damaged record with valid records after it")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			for _, want := range []string{filepath.Base(seg), fmt.Sprintf("file offset %d ", r.PhysicalOffset), "--repair"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}

			// --repair skips exactly the damaged record and keeps every one after it.
			s = openStore(t, Options{Dir: dir, SegmentSize: 1 << 20, Repair: true})
			if got := countRecords(t, s); got != n-1 {
				t.Fatalf("%d records after repair, want %d", got, n-1)
			}
			if _, err := s.Read(r.PhysicalOffset); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Read of the lost record: %v, want ErrNotFound", err)
			}
			for _, i := range []int{rec + 1, n - 1} {
				key := fmt.Sprintf("k%d", i)
				if offs := s.LookupKey(key, 0, nil); len(offs) != 1 || offs[0] != res[i].PhysicalOffset {
					t.Fatalf("LookupKey(%s) = %v, want [%d]", key, offs, res[i].PhysicalOffset)
				}
			}
			if err := s.Scan(0, func(*message.Message) error { return nil }); err != nil {
				t.Fatalf("Scan over the hole: %v", err)
			}
			if _, err := s.Put(newMsg("t", 0, "after repair", nil)); err != nil {
				t.Fatal(err)
			}
			s.Close()
			// The repair is durable: a plain Open now works.
			s = openStore(t, Options{Dir: dir, SegmentSize: 1 << 20})
			if got := countRecords(t, s); got != n {
				t.Fatalf("%d records after reopen, want %d", got, n)
			}
		})
	}
}

func TestRecover_cutAnywhereInTheLastSegmentTruncatesToTheLastWholeRecord(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	base := t.TempDir()
	const n = 200
	res := fillOneSegment(t, base, n)
	seg := segmentFiles(t, base)[0]
	end := res[n-1].PhysicalOffset + frameHeaderSize + int64(res[n-1].Size)
	for range 25 {
		cut := rng.Int64N(end)
		dir := copyDir(t, base)
		if err := os.Truncate(filepath.Join(dir, "commitlog", filepath.Base(seg)), cut); err != nil {
			t.Fatal(err)
		}
		var want int64
		for _, r := range res {
			if r.PhysicalOffset+frameHeaderSize+int64(r.Size) <= cut {
				want++
			}
		}
		s, err := Open(Options{Dir: dir, SegmentSize: 1 << 20})
		if err != nil {
			t.Fatalf("cut at %d: Open: %v", cut, err)
		}
		if got := countRecords(t, s); got != want {
			t.Fatalf("cut at %d: %d records, want %d", cut, got, want)
		}
		mustCheckConsumeQueues(t, s)
		s.Close()
	}
}

func TestRecover_damageAtTheEndOfAnEarlierSegmentStopsAndRepairKeepsLaterSegments(t *testing.T) {
	base := t.TempDir()
	res := fillStore(t, base, 4096, 120)
	segs := segmentFiles(t, base)
	if len(segs) < 3 {
		t.Fatal("test setup: need at least 3 segments")
	}
	start1, err := strconv.ParseInt(filepath.Base(segs[1]), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	var last PutResult // the last record of segment 0
	for _, r := range res {
		if r.PhysicalOffset < start1 {
			last = r
		}
	}
	dir := copyDir(t, base)
	flipByte(t, segmentFiles(t, dir)[0], last.PhysicalOffset+20)
	if _, err := Open(Options{Dir: dir, SegmentSize: 4096}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "a later segment follows") {
		t.Fatalf("Open: %v, want ErrCorrupt naming the later segment", err)
	}
	s := openStore(t, Options{Dir: dir, SegmentSize: 4096, Repair: true})
	if got := countRecords(t, s); got != 119 {
		t.Fatalf("%d records after repair, want 119", got)
	}
}

func TestRead_boundedByMaxMessageSize_craftedOffsetDoesNotAllocateASegment(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir(), SegmentSize: 4 << 20, MaxMessageSize: 8 << 10})
	// A body whose bytes look like a frame header claiming 3 MiB, with enough data after it that
	// the claim fits below the end of the log.
	body := make([]byte, 4000)
	marker := []byte{0x00, 0x30, 0x00, 0x00, 0xAB, 0xCD, 0xEF, 0x01}
	copy(body, marker)
	m := newMsg("t", 0, string(body), nil)
	mustPut(t, s, m)
	for range 900 {
		mustPut(t, s, newMsg("t", 1, strings.Repeat("x", 4000), nil))
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(segmentFiles(t, s.opts.Dir)[0])
	if err != nil {
		t.Fatal(err)
	}
	crafted := int64(bytes.Index(raw, marker))
	if crafted <= m.PhysicalOffset {
		t.Fatalf("test setup: marker at %d", crafted)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = s.Read(crafted)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "message limit") {
		t.Fatalf("Read(crafted) = %v, want ErrNotFound naming the message limit", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 256<<10 {
		t.Fatalf("Read(crafted) allocated %d bytes", got)
	}
}
