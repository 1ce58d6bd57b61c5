package store

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

func TestCheckpointFile_goldenBytes(t *testing.T) {
	c := &checkpoint{offset: 4096, seed: 0x0102030405060708, stateCRC: 0xAABBCCDD, cqNextSeq: 2, ixNextSeq: 1, maxRecord: 0x410000,
		segs:      []ckSegment{{start: 0, maxTs: 1700000000000}},
		queues:    []ckQueue{{topic: "t", queueID: 1, first: 0, min: 0, n: 3, chunks: []int64{1}}},
		ixFiles:   []ckIndexFile{{seq: 0, n: 3, minPhys: 0, maxPhys: 200}},
		appOffset: 4000, app: []byte("{}")}
	want := "4d51434b" + "00000001" + // magic, version
		"0000000000001000" + "0102030405060708" + "aabbccdd" + // offset, seed, state CRC
		"0000000000000002" + "0000000000000001" + // next chunk and index file numbers
		"0000000000410000" + // max record length
		"00000001" + "0000000000000000" + "0000018bcfe56800" + // segments
		"00000001" + "0001" + "74" + "00000001" + "0000000000000000" + "0000000000000000" + "0000000000000003" +
		"00000001" + "0000000000000001" + // queues
		"00000001" + "0000000000000000" + "00000003" + "0000000000000000" + "00000000000000c8" + // index files
		"0000000000000fa0" + "00000002" + "7b7d" // application state
	b := c.encode()
	got := hex.EncodeToString(b[:len(b)-4])
	if got != want {
		t.Fatalf("encoding:\n got %s\nwant %s", got, want)
	}
	d, err := decodeCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(d) != fmt.Sprint(c) {
		t.Fatalf("decoded %+v, want %+v", d, c)
	}
	for i := range b {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x10
		if _, err := decodeCheckpoint(bad); err == nil {
			t.Fatalf("flipped byte %d: decoded", i)
		}
	}
	for i := range len(b) {
		if _, err := decodeCheckpoint(b[:i]); err == nil {
			t.Fatalf("cut at %d: decoded", i)
		}
	}
}

// ckFill writes n keyed messages over 3 queues to s, starting at message number from.
func ckFill(t testing.TB, s *Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		mustPut(t, s, newMsg("t", int32(i%3), fmt.Sprintf("message %d", i),
			map[string]string{message.PropKeys: fmt.Sprintf("k%d x%d", i, i), message.PropUniqKey: fmt.Sprintf("u%d", i)}))
	}
}

// ckVerify checks that s holds exactly messages 0..n-1, in queue order, each findable by key.
func ckVerify(t testing.TB, s *Store, n int) {
	t.Helper()
	mustCheckConsumeQueues(t, s)
	var total int64
	next := map[int32]int{0: 0, 1: 1, 2: 2}
	for q := int32(0); q < 3; q++ {
		max := s.MaxOffset("t", q)
		total += max
		for off := int64(0); off < max; off++ {
			phys, _, ok := s.QueueEntry("t", q, off)
			if !ok {
				t.Fatalf("queue %d offset %d missing", q, off)
			}
			m, err := s.Read(phys)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("message %d", next[q]); string(m.Body) != want {
				t.Fatalf("queue %d offset %d: %q, want %q", q, off, m.Body, want)
			}
			next[q] += 3
		}
	}
	if total != int64(n) {
		t.Fatalf("%d messages, want %d", total, n)
	}
	for _, i := range []int{0, n / 3, n / 2, n - 1} {
		for _, k := range []string{fmt.Sprintf("k%d", i), fmt.Sprintf("x%d", i), fmt.Sprintf("u%d", i)} {
			offs := s.LookupKey(k, 0, nil)
			if len(offs) != 1 {
				t.Fatalf("LookupKey(%q) = %v, want one offset", k, offs)
			}
		}
	}
}

func mustOpen(t testing.TB, o Options) *Store {
	t.Helper()
	s, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// TestCheckpoint_crashAfterCheckpointScansOnlyTheRestAndLosesNothing: kill -9 (the data dir
// copied without Close) at many points after a checkpoint, in both flush modes and with small
// segments and index files, so that checkpoints fall before, inside and after rolls.
func TestCheckpoint_crashAfterCheckpointScansOnlyTheRestAndLosesNothing(t *testing.T) {
	for _, mode := range []FlushMode{FlushAsync, FlushSync} {
		for _, ckAt := range []int{1, 40, 100, 199} {
			for _, after := range []int{0, 1, 57, 150} {
				t.Run(fmt.Sprintf("%v/checkpoint at %d/then %d", mode, ckAt, after), func(t *testing.T) {
					o := Options{Dir: t.TempDir(), SegmentSize: 8192, Flush: mode, CheckpointInterval: 1 << 40,
						ixSlots: 16, ixEntries: 64}
					s := mustOpen(t, o)
					defer s.Close()
					ckFill(t, s, 0, ckAt)
					if err := s.Checkpoint(); err != nil {
						t.Fatal(err)
					}
					ckFill(t, s, ckAt, after)
					o.Dir = copyDir(t, o.Dir) // crash: no Close
					c := mustOpen(t, o)
					defer c.Close()
					rs := c.RecoveryStats()
					if !rs.FromCheckpoint || rs.SkippedBytes == 0 {
						t.Fatalf("recovery %+v: want from the checkpoint", rs)
					}
					ckVerify(t, c, ckAt+after)
					ckFill(t, c, ckAt+after, 20) // appends continue on the kept files
					ckVerify(t, c, ckAt+after+20)
					if err := c.Close(); err != nil {
						t.Fatal(err)
					}
					c = mustOpen(t, o)
					if rs := c.RecoveryStats(); !rs.FromCheckpoint || rs.ScannedBytes != 0 {
						t.Fatalf("after Close: recovery %+v: want from the checkpoint, nothing scanned", rs)
					}
					ckVerify(t, c, ckAt+after+20)
				})
			}
		}
	}
}

// TestCheckpoint_derivedFilesBehindAndGarbagePastThePositions: after a power loss the derived
// files hold what the checkpoint covers (fsynced) and anything past it: nothing, stale bytes or
// later entries. Recovery must only trust the checkpoint's positions.
func TestCheckpoint_derivedFilesBehindAndGarbagePastThePositions(t *testing.T) {
	rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
	o := Options{Dir: t.TempDir(), SegmentSize: 8192, CheckpointInterval: 1 << 40, ixSlots: 16, ixEntries: 64}
	s := mustOpen(t, o)
	defer s.Close()
	ckFill(t, s, 0, 90)
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	ck, err := readCheckpoint(o.Dir)
	if err != nil || ck == nil {
		t.Fatal(err)
	}
	ckFill(t, s, 90, 40)
	for _, garbage := range []string{"zeros", "random"} {
		t.Run(garbage, func(t *testing.T) {
			dir := copyDir(t, o.Dir)
			fill := func(b []byte) {
				if garbage == "zeros" {
					clear(b)
				} else {
					for i := range b {
						b[i] = byte(rng.Uint32())
					}
				}
			}
			es := int64(unsafe.Sizeof(cqEntry{}))
			for _, q := range ck.queues {
				last := q.chunks[len(q.chunks)-1]
				inLast := q.n - q.first - int64(len(q.chunks)-1)*cqChunk
				rewrite(t, filepath.Join(dir, cqDirName, fmt.Sprintf("%020d", last)), inLast*es, 40*es, fill)
			}
			ix := ck.ixFiles[len(ck.ixFiles)-1]
			p := filepath.Join(dir, indexDirName, fmt.Sprintf("%020d", ix.seq))
			rewrite(t, p, ixHeaderSize+4*16+ixEntrySize*int64(ix.n), ixEntrySize*int64(64-ix.n), fill)
			rewrite(t, p, ixHeaderSize, 4*16, func(b []byte) { // slot heads naming later entries
				for i := 0; i < len(b); i += 4 {
					b[i+3] = byte(ix.n) + byte(rng.IntN(int(64-ix.n)))
				}
			})
			c := mustOpen(t, Options{Dir: dir, SegmentSize: 8192, ixSlots: 16, ixEntries: 64})
			defer c.Close()
			if !c.RecoveryStats().FromCheckpoint {
				t.Fatalf("recovery %+v", c.RecoveryStats())
			}
			ckVerify(t, c, 130)
		})
	}
}

func rewrite(t testing.TB, path string, off, n int64, fn func([]byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fn(b[off : off+n])
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpoint_missingOrBadFallsBackToAFullRebuild: no checkpoint, a damaged one, a missing
// or resized derived file, a state file newer than the checkpoint: Open rebuilds everything.
func TestCheckpoint_missingOrBadFallsBackToAFullRebuild(t *testing.T) {
	o := Options{Dir: t.TempDir(), SegmentSize: 8192, CheckpointInterval: 1 << 40, ixSlots: 16, ixEntries: 64}
	s := mustOpen(t, o)
	defer s.Close()
	ckFill(t, s, 0, 100)
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	ckFill(t, s, 100, 10)
	cases := map[string]func(t *testing.T, dir string){
		"no checkpoint": func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, checkpointFileName))
		},
		"flipped byte": func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, checkpointFileName), 30)
		},
		"cut": func(t *testing.T, dir string) {
			os.Truncate(filepath.Join(dir, checkpointFileName), 20)
		},
		"missing chunk": func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, cqDirName, fmt.Sprintf("%020d", 0)))
		},
		"short index file": func(t *testing.T, dir string) {
			os.Truncate(filepath.Join(dir, indexDirName, fmt.Sprintf("%020d", 0)), 100)
		},
		"state file changed": func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, stateFileName), []byte(`{"version":1,"minPhysicalOffset":0,"end":0,"queues":[]}`), 0o644)
		},
		"commit log shorter than the checkpoint": func(t *testing.T, dir string) {
			segs := segmentFiles(t, dir)
			for _, p := range segs[1:] {
				os.Remove(p)
			}
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			dir := copyDir(t, o.Dir)
			damage(t, dir)
			c, err := Open(Options{Dir: dir, SegmentSize: 8192, ixSlots: 16, ixEntries: 64})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			rs := c.RecoveryStats()
			if rs.FromCheckpoint || rs.Reason == "" || rs.SkippedBytes != 0 {
				t.Fatalf("recovery %+v: want a full rebuild with a reason", rs)
			}
			t.Log(rs.Reason)
			if name != "commit log shorter than the checkpoint" {
				ckVerify(t, c, 110)
			} else {
				mustCheckConsumeQueues(t, c)
			}
		})
	}
}

// TestCheckpoint_tornTailAfterTheCheckpointIsTruncated and damage followed by valid records
// after it still stops Open.
func TestCheckpoint_tornTailAfterTheCheckpointIsTruncated(t *testing.T) {
	o := Options{Dir: t.TempDir(), SegmentSize: 1 << 20, CheckpointInterval: 1 << 40}
	s := mustOpen(t, o)
	defer s.Close()
	ckFill(t, s, 0, 30)
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	var res []PutResult
	for i := 30; i < 40; i++ {
		res = append(res, mustPut(t, s, newMsg("t", int32(i%3), fmt.Sprintf("message %d", i),
			map[string]string{message.PropKeys: fmt.Sprintf("k%d x%d", i, i), message.PropUniqKey: fmt.Sprintf("u%d", i)}))...)
	}
	last := res[len(res)-1]
	for cut := last.PhysicalOffset; cut < last.PhysicalOffset+frameHeaderSize+int64(last.Size); cut += 7 {
		dir := copyDir(t, o.Dir)
		if err := os.Truncate(segmentFiles(t, dir)[0], cut); err != nil {
			t.Fatal(err)
		}
		c := mustOpen(t, Options{Dir: dir, SegmentSize: 1 << 20})
		if !c.RecoveryStats().FromCheckpoint {
			t.Fatalf("recovery %+v", c.RecoveryStats())
		}
		ckVerify(t, c, 39)
		c.Close()
	}
	dir := copyDir(t, o.Dir)
	flipByte(t, segmentFiles(t, dir)[0], res[3].PhysicalOffset+20)
	_, err := Open(Options{Dir: dir, SegmentSize: 1 << 20})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "valid record follows") {
		t.Fatalf("damage after the checkpoint followed by valid records: Open = %v, want ErrCorrupt", err)
	}
}

// TestCheckpoint_retentionAndDeleteTopicAreInTheCheckpoint: what retention and DeleteTopic
// removed stays removed after a crash-like restart from their checkpoint.
func TestCheckpoint_retentionAndDeleteTopicAreInTheCheckpoint(t *testing.T) {
	o := Options{Dir: t.TempDir(), SegmentSize: 4096, CheckpointInterval: 1 << 40, MaxDiskUsage: 0}
	s := mustOpen(t, o)
	defer s.Close()
	ckFill(t, s, 0, 100)
	mustPut(t, s, newMsg("gone", 0, "x", nil))
	if err := s.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	before := s.MinOffset("t", 0)
	dir := copyDir(t, o.Dir)
	c := mustOpen(t, Options{Dir: dir, SegmentSize: 4096})
	defer c.Close()
	if !c.RecoveryStats().FromCheckpoint {
		t.Fatalf("recovery %+v", c.RecoveryStats())
	}
	if c.MaxOffset("gone", 0) != 0 || c.MinOffset("t", 0) != before {
		t.Fatalf("after restart: gone max %d, t/0 min %d (want 0, %d)", c.MaxOffset("gone", 0), c.MinOffset("t", 0), before)
	}
	ckVerify(t, c, 100)
}

// TestCheckpoint_retentionIsInTheCheckpoint: after Retain, a crash-like restart recovers from
// the checkpoint Retain wrote, with the min offsets, the key index and the segment ages it had
// (a second Retain deletes nothing more: the ages came from the checkpoint, not zero).
func TestCheckpoint_retentionIsInTheCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s, clk, old, fresh := retentionStore(t, dir, Options{Retention: 24 * time.Hour, CheckpointInterval: 1 << 40})
	res, err := s.Retain(clk.Now())
	if err != nil || res.Segments == 0 {
		t.Fatalf("Retain: %+v %v", res, err)
	}
	min := s.MinOffset("t", 0)
	c := mustOpen(t, Options{Dir: copyDir(t, dir), SegmentSize: 4096, Retention: 24 * time.Hour, Now: clk.Now})
	defer c.Close()
	if rs := c.RecoveryStats(); !rs.FromCheckpoint {
		t.Fatalf("recovery %+v", rs)
	}
	if got := c.MinOffset("t", 0); got != min {
		t.Fatalf("min offset %d, want %d", got, min)
	}
	if offs := c.LookupKey("old0", 0, nil); len(offs) != 0 {
		t.Fatalf("deleted key old0 found at %v", offs)
	}
	if offs := c.LookupKey("new59", 0, nil); len(offs) != 1 || offs[0] != fresh[59].PhysicalOffset {
		t.Fatalf("LookupKey(new59) = %v", offs)
	}
	if res, err := c.Retain(clk.Now()); err != nil || res.Segments != 0 {
		t.Fatalf("second Retain after restart: %+v %v (segment ages lost?)", res, err)
	}
	_ = old
}

// TestCheckpoint_applicationStateAndOnRecoverFromItsOffset: LoadState gets what SaveState
// returned, OnRecover sees exactly the records from SaveState's offset on (also those below the
// derived files' offset), and a LoadState error falls back to a full rebuild in which OnRecover
// sees every record.
func TestCheckpoint_applicationStateAndOnRecoverFromItsOffset(t *testing.T) {
	dir := t.TempDir()
	var upTo int64
	o := Options{Dir: dir, SegmentSize: 4096, CheckpointInterval: 1 << 40,
		SaveState: func(*Store) (int64, []byte, error) { return upTo, []byte("state"), nil }}
	s := mustOpen(t, o)
	defer s.Close()
	ckFill(t, s, 0, 40)
	upTo = entryPhys(t, s, 1, 5) // message 16
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	ckFill(t, s, 40, 10)
	crashed := copyDir(t, dir)
	for _, fail := range []bool{false, true} {
		var loaded string
		var seen []int64
		c := mustOpen(t, Options{Dir: copyDir(t, crashed), SegmentSize: 4096,
			LoadState: func(b []byte) error {
				if fail {
					return errors.New("no")
				}
				loaded = string(b)
				return nil
			},
			OnRecover: func(h message.Header, _ []byte) { seen = append(seen, h.PhysicalOffset) }})
		rs := c.RecoveryStats()
		ckVerify(t, c, 50)
		c.Close()
		if fail {
			if rs.FromCheckpoint || len(seen) != 50 {
				t.Fatalf("LoadState failed: recovery %+v, OnRecover saw %d records, want a full rebuild and 50", rs, len(seen))
			}
			continue
		}
		if !rs.FromCheckpoint || loaded != "state" {
			t.Fatalf("recovery %+v, LoadState got %q", rs, loaded)
		}
		if len(seen) != 50-16 || seen[0] != upTo {
			t.Fatalf("OnRecover saw %d records from %v, want %d from %d", len(seen), seen[:1], 50-16, upTo)
		}
	}
}

// entryPhys is the physical offset of topic "t", queue q, offset off.
func entryPhys(t testing.TB, s *Store, q int32, off int64) int64 {
	t.Helper()
	phys, _, ok := s.QueueEntry("t", q, off)
	if !ok {
		t.Fatalf("no entry t/%d/%d", q, off)
	}
	return phys
}
