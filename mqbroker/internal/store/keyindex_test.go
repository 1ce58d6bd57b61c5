package store

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

func TestKeyIndexFile_goldenBytes(t *testing.T) {
	ix, err := openKeyIndex(t.TempDir(), 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.close()
	// Hashes 5 and 9 share slot 1 (h % 4); 2 goes to slot 2.
	for _, e := range []struct {
		h    uint64
		phys int64
	}{{5, 100}, {2, 200}, {9, 300}} {
		if err := ix.add(e.h, e.phys); err != nil {
			t.Fatal(err)
		}
	}
	x := ix.files[0]
	if !x.heap {
		if err := munmap(x.b); err != nil { // flush the view to the file and read the file itself
			t.Fatal(err)
		}
		x.b = nil
		b, err := os.ReadFile(x.path)
		if err != nil {
			t.Fatal(err)
		}
		x.b, err = mmap(x.f, 0, ix.fileSize())
		if err != nil {
			t.Fatal(err)
		}
		checkIxGolden(t, b)
		return
	}
	checkIxGolden(t, x.b)
}

func checkIxGolden(t *testing.T, b []byte) {
	t.Helper()
	want := "" +
		// header: magic, version 1, 4 slots, 4 entries, 3 written, pad, min phys 100, max phys 300, pad
		"4d514958" + "00000001" + "00000004" + "00000004" + "00000003" + "00000000" +
		"0000000000000064" + "000000000000012c" + strings.Repeat("00", 24) +
		// slots 0..3: slot 1 -> entry 3 (number+1), slot 2 -> entry 2
		"00000000" + "00000003" + "00000002" + "00000000" +
		// entries: hash, phys, previous entry in the slot (number+1, 0 = none)
		"0000000000000005" + "0000000000000064" + "00000000" +
		"0000000000000002" + "00000000000000c8" + "00000000" +
		"0000000000000009" + "000000000000012c" + "00000001" +
		"0000000000000000" + "0000000000000000" + "00000000"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("index file:\n%s\nwant:\n%s", got, want)
	}
}

func TestKeyIndex_rollsFilesFindsEveryKeyAndRetentionDropsOldFiles(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{}
	s := openStore(t, Options{Dir: dir, SegmentSize: 4096, Now: clk.Now, Retention: time.Hour, ixSlots: 8, ixEntries: 16})
	var res []PutResult
	for i := range 200 {
		if i == 100 {
			clk.ms.Add((2 * time.Hour).Milliseconds())
		}
		res = append(res, mustPut(t, s, newMsg("t", int32(i%2), "x", map[string]string{
			message.PropUniqKey: fmt.Sprintf("u%d", i), message.PropKeys: fmt.Sprintf("k%d shared", i)}))...)
	}
	files := func() int {
		t.Helper()
		ents, err := os.ReadDir(filepath.Join(dir, indexDirName))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := files()
	if before < 30 { // 3 keys per message, 16 entries per file
		t.Fatalf("%d index files, want the index to roll", before)
	}
	for i, r := range res {
		for _, k := range []string{fmt.Sprintf("u%d", i), fmt.Sprintf("k%d", i)} {
			if offs := s.LookupKey(k, 0, nil); len(offs) != 1 || offs[0] != r.PhysicalOffset {
				t.Fatalf("LookupKey(%s) = %v, want [%d]", k, offs, r.PhysicalOffset)
			}
		}
	}
	if offs := s.LookupKey("shared", 0, nil); len(offs) != 200 {
		t.Fatalf("LookupKey(shared) found %d records, want 200", len(offs))
	}
	rr, err := s.Retain(clk.Now())
	if err != nil || rr.Segments == 0 {
		t.Fatalf("Retain = %+v %v", rr, err)
	}
	if after := files(); after >= before {
		t.Fatalf("%d index files after retention, %d before", after, before)
	}
	for i, r := range res {
		offs := s.LookupKey(fmt.Sprintf("u%d", i), 0, nil)
		if kept := r.PhysicalOffset >= rr.UpTo; kept != (len(offs) == 1) {
			t.Fatalf("after retention LookupKey(u%d) = %v (record at %d, first offset %d)", i, offs, r.PhysicalOffset, rr.UpTo)
		}
	}
}

func TestKeyIndex_lookupsConcurrentWithPutsAndClose(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), ixSlots: 4, ixEntries: 8})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s.LookupKey(fmt.Sprintf("k%d", i%50), 0, nil)
			}
		}()
	}
	for i := range 300 {
		if _, err := s.Put(newMsg("t", 0, "x", map[string]string{message.PropKeys: fmt.Sprintf("k%d", i%50)})); err != nil {
			t.Fatal(err)
		}
	}
	if offs := s.LookupKey("k7", 0, nil); len(offs) != 6 {
		t.Fatalf("LookupKey(k7) = %v, want 6 records", offs)
	}
	if err := s.Close(); err != nil { // unmaps while lookups may still run
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if offs := s.LookupKey("k7", 0, nil); offs != nil {
		t.Fatalf("LookupKey after Close = %v", offs)
	}
}
