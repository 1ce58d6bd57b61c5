package store

import (
	"archive/tar"
	"compress/gzip"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

func cqFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, cqDirName))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestConsumeQueueChunks_liveInFilesThatRetentionDeleteTopicAndOpenRelease(t *testing.T) {
	_, probe, err := (&cqAlloc{dir: t.TempDir()}).mapChunk(cqFirstChunk)
	if err != nil {
		t.Skipf("no mapped chunks here: %v", err)
	}
	if err := probe.release(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	clk := &fakeClock{}
	s := openStore(t, Options{Dir: dir, SegmentSize: 1 << 20, Now: clk.Now, Retention: time.Hour})
	batch := make([]*message.Message, 64)
	put := func(topic string, n int) {
		for i := 0; i < n; i += len(batch) {
			for j := range batch {
				batch[j] = newMsg(topic, 0, "x", nil)
			}
			mustPut(t, s, batch...)
		}
	}
	put("big", cqChunk+cqChunk/2) // two chunks
	put("small", 10)
	if got := cqFiles(t, dir); got != 3 {
		t.Fatalf("%d chunk files, want 3 (2 for big, 1 for small)", got)
	}
	if err := s.DeleteTopic("small"); err != nil {
		t.Fatal(err)
	}
	if got := cqFiles(t, dir); got != 2 {
		t.Fatalf("%d chunk files after DeleteTopic, want 2", got)
	}
	clk.ms.Add((2 * time.Hour).Milliseconds())
	put("big", cqChunk) // fills the second chunk and starts a third, in new segments
	res, err := s.Retain(clk.Now())
	if err != nil || res.Segments == 0 {
		t.Fatalf("Retain = %+v %v", res, err)
	}
	if min := s.MinOffset("big", 0); min < cqChunk {
		t.Fatalf("min offset %d, want at least one whole chunk deleted", min)
	}
	if got := cqFiles(t, dir); got != 2 {
		t.Fatalf("%d chunk files after retention, want 2", got)
	}
	mustCheckConsumeQueues(t, s)
	g, err := s.Get("big", 0, s.MinOffset("big", 0), 32, 1<<20, nil)
	if err != nil || g.Status != Found || len(g.Records) != 32 {
		t.Fatalf("Get at the min: %v %d records %v", g.Status, len(g.Records), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if g, err := s.Get("big", 0, 0, 1, 1<<20, nil); err != nil || g.Status != NoMessageInQueue {
		t.Fatalf("Get after Close = %v %v, want no queue (mappings released)", g.Status, err)
	}
	s2 := openStore(t, Options{Dir: dir, SegmentSize: 1 << 20})
	if got := cqFiles(t, dir); got != 2 {
		t.Fatalf("%d chunk files after reopening, want 2 (rebuilt)", got)
	}
	if s2.MaxOffset("big", 0) != 2*cqChunk+cqChunk/2 {
		t.Fatalf("max offset %d after reopening", s2.MaxOffset("big", 0))
	}
}

// cqDirSize returns the number of chunk files of dir and their total size (apparent, which for
// fallocated files is also what they occupy, rounded up to blocks).
func cqDirSize(t testing.TB, dir string) (files int, bytes int64) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, cqDirName))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		bytes += fi.Size()
	}
	return len(ents), bytes
}

func skipWithoutMappedChunks(t *testing.T) {
	t.Helper()
	_, probe, err := (&cqAlloc{dir: t.TempDir()}).mapChunk(cqFirstChunk)
	if err != nil {
		t.Skipf("no mapped chunks here: %v", err)
	}
	if err := probe.release(); err != nil {
		t.Fatal(err)
	}
}

// putSeq appends messages "g<i>" for i in [from, to) to topic/0, 64 per Put.
func putSeq(t testing.TB, s *Store, topic string, from, to int) {
	t.Helper()
	batch := make([]*message.Message, 0, 64)
	for i := from; i < to; i++ {
		batch = append(batch, newMsg(topic, 0, fmt.Sprintf("g%d", i), nil))
		if len(batch) == cap(batch) || i == to-1 {
			mustPut(t, s, batch...)
			batch = batch[:0]
		}
	}
}

// checkSeq checks that topic/0 holds exactly "g0".."g<n-1>" at offsets 0..n-1.
func checkSeq(t testing.TB, s *Store, topic string, n int) {
	t.Helper()
	if got := s.MaxOffset(topic, 0); got != int64(n) {
		t.Fatalf("%s has %d entries, want %d", topic, got, n)
	}
	for off := int64(0); off < int64(n); {
		g, err := s.Get(topic, 0, off, 32, 1<<20, nil)
		if err != nil || g.Status != Found {
			t.Fatalf("Get(%s, %d) = %v, %v", topic, off, g.Status, err)
		}
		for _, r := range g.Records {
			m, _, err := message.Decode(r)
			if err != nil || string(m.Body) != fmt.Sprintf("g%d", off) || m.QueueOffset != off {
				t.Fatalf("Get(%s, %d) = %q at %d, %v", topic, off, m.Body, m.QueueOffset, err)
			}
			off++
		}
	}
}

// Review finding 5: every queue's first chunk was a fully allocated 768 KiB file, so many small
// queues (auto-created topics, retry topics) reserved disk that disk-usage retention then paid
// for with real messages. A chunk now starts with cqFirstChunk entries and doubles as it fills.
func TestConsumeQueue_chunksStartSmallAndGrowAsTheyFill(t *testing.T) {
	skipWithoutMappedChunks(t)
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, SegmentSize: 4 << 20})
	for i := range 200 {
		mustPut(t, s, newMsg(fmt.Sprintf("topic-%d", i), 0, "x", nil))
	}
	small := int64(cqFirstChunk) * cqEntrySize
	if files, bytes := cqDirSize(t, dir); files != 200 || bytes != 200*small {
		t.Fatalf("200 one-message queues: %d files, %d bytes; want 200 files of %d bytes (was 768 KiB each)", files, bytes, small)
	}
	// One queue grows through every doubling into a second chunk; its entries survive each remap.
	const n = cqChunk + 100
	putSeq(t, s, "grow", 0, n)
	if files, bytes := cqDirSize(t, dir); files != 202 || bytes != 201*small+cqChunk*cqEntrySize {
		t.Fatalf("after growing one queue past a chunk: %d files, %d bytes; want 202 files, one of them %d bytes", files, bytes, cqChunk*cqEntrySize)
	}
	checkSeq(t, s, "grow", n)
	mustCheckConsumeQueues(t, s)
}

// A queue kept on the heap (no mapping) grows its chunks the same way, never past cqChunk.
func TestConsumeQueue_heapChunksGrowToo(t *testing.T) {
	q := &consumeQueue{}
	for i := range cqChunk + 5 {
		q.add(cqEntry{phys: int64(i), size: 1})
	}
	if len(q.chunks) != 2 || len(q.chunks[0]) != cqChunk || cap(q.chunks[0]) != cqChunk || len(q.chunks[1]) != 5 || cap(q.chunks[1]) != cqFirstChunk {
		t.Fatalf("chunks: %d, first len %d cap %d, second cap %d", len(q.chunks), len(q.chunks[0]), cap(q.chunks[0]), cap(q.chunks[1]))
	}
	for i := range int64(cqChunk + 5) {
		if q.at(i).phys != i {
			t.Fatalf("entry %d = %d", i, q.at(i).phys)
		}
	}
}

// TestConsumeQueueChunkFile_goldenBytes pins the chunk file layout (doc.go "Consume-queue
// files"): 24-byte entries in native byte order, no header, 3 KiB when created.
func TestConsumeQueueChunkFile_goldenBytes(t *testing.T) {
	skipWithoutMappedChunks(t)
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the golden bytes are little-endian")
	}
	dir := t.TempDir()
	clk := &fakeClock{}
	clk.ms.Store(0x0102030405)
	s := openStore(t, Options{Dir: dir, Now: clk.Now})
	r1 := mustPut(t, s, newMsg("t", 0, "a", map[string]string{message.PropTags: "TagA"}))
	r2 := mustPut(t, s, newMsg("t", 0, "bb", nil))
	if r1[0].PhysicalOffset != 0 || r2[0].PhysicalOffset != 8+int64(r1[0].Size) {
		t.Fatalf("results %+v %+v", r1, r2)
	}
	b, err := os.ReadFile(filepath.Join(dir, cqDirName, fmt.Sprintf("%020d", 0)))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 3072 {
		t.Fatalf("new chunk file is %d bytes, want 3072 (128 entries)", len(b))
	}
	want := "0000000000000000" + "0504030201000000" + "67000000" + "07a82700" + // phys 0, ts, size 103, hash("TagA")
		"6f00000000000000" + "0504030201000000" + "5e000000" + "00000000" // phys 111, ts, size 94, no tags
	if got := hex.EncodeToString(b[:48]); got != want {
		t.Fatalf("entries:\n got %s\nwant %s", got, want)
	}
	if int32(binary.LittleEndian.Uint32(b[16:])) != r1[0].Size || int32(binary.LittleEndian.Uint32(b[20:])) != int32(message.TagsHash("TagA")) {
		t.Fatalf("the golden entry does not match the Put (size %d)", r1[0].Size)
	}
	for i, c := range b[48:] {
		if c != 0 {
			t.Fatalf("byte %d past the entries is %#x, want 0", 48+i, c)
		}
	}
}

// TestCheckpoint_chunkGrownAfterTheCheckpoint: kill -9 after a checkpoint, with chunks that
// grew (were extended and mapped again) after it, at and around every capacity boundary. The
// checkpoint accepts a chunk larger than when it was written and the appends continue in it.
func TestCheckpoint_chunkGrownAfterTheCheckpoint(t *testing.T) {
	skipWithoutMappedChunks(t)
	for _, ckAt := range []int{1, 127, 128, 129, 256, 1000} {
		for _, after := range []int{0, 1, 128, 700} {
			t.Run(fmt.Sprintf("checkpoint at %d/then %d", ckAt, after), func(t *testing.T) {
				o := Options{Dir: t.TempDir(), SegmentSize: 1 << 20, CheckpointInterval: 1 << 40}
				s := mustOpen(t, o)
				defer s.Close()
				putSeq(t, s, "g", 0, ckAt)
				if err := s.Checkpoint(); err != nil {
					t.Fatal(err)
				}
				putSeq(t, s, "g", ckAt, ckAt+after)
				o.Dir = copyDir(t, o.Dir) // crash: no Close
				c := mustOpen(t, o)
				defer c.Close()
				if rs := c.RecoveryStats(); !rs.FromCheckpoint {
					t.Fatalf("recovery %+v: want from the checkpoint", rs)
				}
				checkSeq(t, c, "g", ckAt+after)
				putSeq(t, c, "g", ckAt+after, ckAt+after+300)
				mustCheckConsumeQueues(t, c)
				c = reopenFromCheckpoint(t, c, o)
				checkSeq(t, c, "g", ckAt+after+300)
			})
		}
	}
}

// TestCheckpoint_chunkOfAWrongSizeFallsBackToAFullRebuild: a chunk file smaller than the
// entries the checkpoint counts in it, or of a size no chunk has, is not trusted.
func TestCheckpoint_chunkOfAWrongSizeFallsBackToAFullRebuild(t *testing.T) {
	skipWithoutMappedChunks(t)
	o := Options{Dir: t.TempDir(), SegmentSize: 1 << 20, CheckpointInterval: 1 << 40}
	s := mustOpen(t, o)
	defer s.Close()
	putSeq(t, s, "g", 0, 200) // one chunk of capacity 256
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	chunk := filepath.Join(cqDirName, fmt.Sprintf("%020d", 0))
	for name, size := range map[string]int64{
		"shrunk below its entries":       128 * cqEntrySize,
		"not a whole number of entries":  256*cqEntrySize + 7,
		"not a power of two":             384 * cqEntrySize,
		"beyond the largest chunk":       2 * cqChunk * cqEntrySize,
		"smaller than the smallest size": 0,
	} {
		t.Run(name, func(t *testing.T) {
			dir := copyDir(t, o.Dir)
			if err := os.Truncate(filepath.Join(dir, chunk), size); err != nil {
				t.Fatal(err)
			}
			c := mustOpen(t, Options{Dir: dir, SegmentSize: 1 << 20})
			defer c.Close()
			if rs := c.RecoveryStats(); rs.FromCheckpoint || rs.Reason == "" {
				t.Fatalf("recovery %+v: want a full rebuild", rs)
			} else {
				t.Log(rs.Reason)
			}
			checkSeq(t, c, "g", 200)
		})
	}
}

// reopenFromCheckpoint closes s and opens o.Dir again, which must recover from the checkpoint
// Close wrote with nothing after it to scan; the new store is closed on cleanup.
func reopenFromCheckpoint(t *testing.T, s *Store, o Options) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c := mustOpen(t, o)
	t.Cleanup(func() { c.Close() })
	if rs := c.RecoveryStats(); !rs.FromCheckpoint || rs.ScannedBytes != 0 {
		t.Fatalf("after Close: recovery %+v, want from the checkpoint with nothing to scan", rs)
	}
	return c
}

// untar extracts a .tar.gz of testdata into a new temporary directory.
func untar(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, b, 0o644)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheckpoint_oldDataDirWithFullFirstChunksOpens: testdata/v1-full-chunks.tar.gz is a data
// dir written by the store before chunks started small (every chunk a 768 KiB file from its
// first entry), copied without Close after a checkpoint at 100 messages and 30 more (kill -9):
// SegmentSize 8192, key-index files of 16 slots x 64 entries, ckFill's messages. It opens from
// its checkpoint, keeps its full-size chunks and goes on writing.
func TestCheckpoint_oldDataDirWithFullFirstChunksOpens(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the fixture's chunk files are little-endian")
	}
	skipWithoutMappedChunks(t)
	dir := untar(t, "v1-full-chunks.tar.gz")
	o := Options{Dir: dir, SegmentSize: 8192, CheckpointInterval: 1 << 40, ixSlots: 16, ixEntries: 64}
	s := mustOpen(t, o)
	defer s.Close()
	if rs := s.RecoveryStats(); !rs.FromCheckpoint || rs.SkippedBytes == 0 || rs.ScannedBytes == 0 {
		t.Fatalf("recovery %+v: want from the checkpoint, then a scan of the 30 messages after it", rs)
	}
	ckVerify(t, s, 130)
	if files, bytes := cqDirSize(t, dir); files != 3 || bytes != 3*cqChunk*cqEntrySize {
		t.Fatalf("%d chunk files, %d bytes: want the 3 full-size chunks kept", files, bytes)
	}
	ckFill(t, s, 130, 70)
	mustPut(t, s, newMsg("new", 0, "x", nil))
	if files, bytes := cqDirSize(t, dir); files != 4 || bytes != 3*cqChunk*cqEntrySize+cqFirstChunk*cqEntrySize {
		t.Fatalf("%d chunk files, %d bytes: want a small chunk for the new queue", files, bytes)
	}
	s = reopenFromCheckpoint(t, s, o)
	ckVerify(t, s, 200)
}

// TestCheckpoint_syncsOnlyTheChunksWithNewEntries: a checkpoint fdatasyncs the chunk files that
// got entries since the last one, not every idle queue's (1,000 idle queues cost 1,000 syscalls
// per checkpoint before), and a chunk that grew is synced again.
func TestCheckpoint_syncsOnlyTheChunksWithNewEntries(t *testing.T) {
	skipWithoutMappedChunks(t)
	s := openStore(t, Options{Dir: t.TempDir(), CheckpointInterval: 1 << 40})
	for i := range 50 {
		mustPut(t, s, newMsg(fmt.Sprintf("idle-%d", i), 0, "x", nil))
	}
	putSeq(t, s, "g", 0, cqFirstChunk)
	toSync := func() int {
		t.Helper()
		_, cqFiles, _, err := s.snapshotCheckpoint()
		if err != nil {
			t.Fatal(err)
		}
		return len(cqFiles)
	}
	if n := toSync(); n != 51 {
		t.Fatalf("first checkpoint: %d chunk files to sync, want 51", n)
	}
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if n := toSync(); n != 0 {
		t.Fatalf("nothing appended: %d chunk files to sync, want 0", n)
	}
	putSeq(t, s, "g", cqFirstChunk, cqFirstChunk+1) // grows the chunk
	mustPut(t, s, newMsg("idle-7", 0, "y", nil))
	if n := toSync(); n != 2 {
		t.Fatalf("two queues appended to: %d chunk files to sync, want 2", n)
	}
}

// TestCheckpoint_randomGrowthCheckpointsAndCrash: queues of random lengths growing through
// chunk sizes (and, every other run, one past its first full chunk), checkpoints at random points, then kill -9 (the dir copied without Close): every
// queue is intact after the restart, which recovers from the last checkpoint, and after one more.
func TestCheckpoint_randomGrowthCheckpointsAndCrash(t *testing.T) {
	skipWithoutMappedChunks(t)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	o := Options{Dir: t.TempDir(), SegmentSize: 1 << 20, CheckpointInterval: 1 << 40}
	s := mustOpen(t, o)
	defer s.Close()
	const queues = 12
	n := make([]int, queues)
	if rng.IntN(2) == 0 { // one queue near the end of its first full chunk
		n[0] = cqChunk - 300 + rng.IntN(300)
		putSeq(t, s, "q0", 0, n[0])
	}
	checkpointed := false
	for range 8 {
		for range 4 {
			q := rng.IntN(queues)
			more := rng.IntN(400)
			putSeq(t, s, fmt.Sprintf("q%d", q), n[q], n[q]+more)
			n[q] += more
		}
		if rng.IntN(2) == 0 {
			if err := s.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			checkpointed = true
		}
	}
	o.Dir = copyDir(t, o.Dir)
	c := mustOpen(t, o)
	defer c.Close()
	if rs := c.RecoveryStats(); rs.FromCheckpoint != checkpointed {
		t.Fatalf("recovery %+v, checkpointed %v", rs, checkpointed)
	}
	for q := range queues {
		if n[q] > 0 {
			checkSeq(t, c, fmt.Sprintf("q%d", q), n[q])
		}
	}
	putSeq(t, c, "q0", n[0], n[0]+200)
	n[0] += 200
	c = reopenFromCheckpoint(t, c, o)
	for q := range queues {
		if n[q] > 0 {
			checkSeq(t, c, fmt.Sprintf("q%d", q), n[q])
		}
	}
	mustCheckConsumeQueues(t, c)
}
