package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// Sentinel errors; match them with errors.Is.
var (
	ErrClosed          = errors.New("store: closed")
	ErrCorrupt         = errors.New("store: corrupt commit log")
	ErrNotFound        = errors.New("store: not found")
	ErrMessageTooLarge = errors.New("store: message too large")
	ErrInvalidMessage  = errors.New("store: invalid message")
	// ErrRetained: the records asked for were deleted by retention while being read (Get
	// retries first; callers answer as for OffsetTooSmall, continuing at MinOffset).
	ErrRetained = errors.New("store: deleted by retention")
)

// FlushMode says when appended data is fsynced (see the package documentation).
type FlushMode int

// Flush modes.
const (
	FlushAsync FlushMode = iota
	FlushSync
)

func (m FlushMode) String() string {
	switch m {
	case FlushAsync:
		return "async"
	case FlushSync:
		return "sync"
	}
	return fmt.Sprintf("FlushMode(%d)", int(m))
}

// ParseFlushMode parses "async" or "sync".
func ParseFlushMode(s string) (FlushMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "async":
		return FlushAsync, nil
	case "sync":
		return FlushSync, nil
	}
	return 0, fmt.Errorf("store: unknown flush mode %q (want async or sync)", s)
}

// Defaults.
const (
	DefaultSegmentSize   = 64 << 20
	DefaultFlushInterval = 200 * time.Millisecond
	// DefaultCheckpointInterval is Options.CheckpointInterval's default.
	DefaultCheckpointInterval = time.Second
	DefaultMaxMessageSize     = 4<<20 + 64<<10 // a 4 MiB body (the client's limit) plus headers and properties
	// MaxRecordCeiling is the largest record any configuration may write (the broker's 128 MiB
	// body limit plus 64 KiB of header room). Recovery checks frame lengths against it, not
	// against the current MaxMessageSize, so lowering the limit never truncates or "repairs"
	// records acknowledged under a higher one.
	MaxRecordCeiling = 128<<20 + 64<<10
	frameHeaderSize  = 8
	maxScanPerGet    = 16000 // entries a filtered Get examines at most (Java maxFilterMessageCount)
)

// Options configures a Store. Zero values take the documented defaults.
type Options struct {
	Dir           string
	SegmentSize   int64 // default 64 MiB
	Flush         FlushMode
	FlushInterval time.Duration // FlushAsync period; default 200ms
	// MaxMessageSize is the largest encoded record Put accepts (ErrMessageTooLarge beyond);
	// default min(4 MiB + 64 KiB, SegmentSize-8), at most MaxRecordCeiling. A Put's whole batch
	// must also fit in one segment. It also bounds Read (offsets callers pass in); recovery and
	// Get, which only meet frames the store wrote, accept records up to MaxRecordCeiling, so it
	// may be lowered between runs.
	MaxMessageSize int
	Now            func() time.Time // default time.Now; StoreTimestamp comes from it
	Logger         *slog.Logger     // default: discard
	// OnAppend is called after each successful Put, once per (topic, queue) appended to, outside
	// all locks, on the Put's goroutine.
	OnAppend func(topic string, queueID int32)
	// OnSync, if set, observes every fdatasync of the commit log: how long it took and its error.
	// It is called on the syncing goroutine with no lock held and must be fast (e.g. a histogram).
	OnSync func(took time.Duration, err error)
	// OnRecover, if set, is called by Open for every valid record of the commit log, in log order,
	// with its decoded header and its bytes (valid only during the call), so that the caller can
	// rebuild state of its own in the same pass instead of scanning the log again.
	OnRecover func(h message.Header, record []byte)
	// Repair makes Open skip a damaged record that valid records follow (overwriting it with a
	// hole frame and logging what was lost) instead of failing with ErrCorrupt.
	Repair bool
	// Retention: Retain deletes sealed segments whose newest record is older than this; 0 keeps
	// everything.
	Retention time.Duration
	// MaxDiskUsage is the percentage of the data directory's file system above which Retain
	// deletes the oldest sealed segments, whatever their age; 0 disables.
	MaxDiskUsage int
	// BeforeDelete, if set, is called by Retain before it deletes the segments below commit-log
	// offset upTo, with no lock held, so that the caller can carry records it still needs
	// forward (Put them again). An error aborts that deletion.
	BeforeDelete func(upTo int64) error
	// CheckpointInterval is how often the flusher writes a checkpoint (doc.go "Checkpoint");
	// default 1s. Close, Retain and DeleteTopic write one too.
	CheckpointInterval time.Duration
	// SaveState, if set, is called by every checkpoint with no store lock held. It returns the
	// caller's own state derived from the commit log and the offset below which every record is
	// reflected in it (at most the commit-log end at the time of the call; records at or above
	// it may be reflected too: replaying them through OnRecover must be idempotent). Open hands
	// the state back to LoadState and calls OnRecover only for the records from that offset on.
	SaveState func(s *Store) (upTo int64, state []byte, err error)
	// LoadState, if set, is called by Open, before any OnRecover call, with the state SaveState
	// returned for the checkpoint Open recovers from. It is not called when Open rebuilds from
	// the start of the log (no or a bad checkpoint): OnRecover then sees every record. An error
	// makes Open fall back to that full rebuild; LoadState must then have changed nothing.
	LoadState func(state []byte) error

	noMmap bool // tests: write with pwrite instead of through a mapping (window.go)
	// tests: key-index file geometry (0: the defaults of keyindex.go)
	ixSlots, ixEntries uint32
}

func (o *Options) setDefaults() {
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = int(min(int64(DefaultMaxMessageSize), o.SegmentSize-frameHeaderSize))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with o at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("store: Dir is required"))
	}
	if o.SegmentSize < 1024 || o.SegmentSize > 1<<40 {
		errs = append(errs, fmt.Errorf("store: SegmentSize %d out of range [1 KiB, 1 TiB]", o.SegmentSize))
	}
	if o.Flush != FlushAsync && o.Flush != FlushSync {
		errs = append(errs, fmt.Errorf("store: unknown flush mode %d", int(o.Flush)))
	}
	if o.CheckpointInterval < 0 {
		errs = append(errs, fmt.Errorf("store: negative CheckpointInterval %v", o.CheckpointInterval))
	}
	if o.FlushInterval < 0 {
		errs = append(errs, fmt.Errorf("store: negative FlushInterval %v", o.FlushInterval))
	}
	if o.Retention < 0 {
		errs = append(errs, fmt.Errorf("store: negative Retention %v", o.Retention))
	}
	if o.MaxDiskUsage < 0 || o.MaxDiskUsage > 100 {
		errs = append(errs, fmt.Errorf("store: MaxDiskUsage %d%% out of range [0, 100]", o.MaxDiskUsage))
	}
	if o.MaxMessageSize < message.MinRecordSize || int64(o.MaxMessageSize)+frameHeaderSize > o.SegmentSize ||
		o.MaxMessageSize > MaxRecordCeiling {
		errs = append(errs, fmt.Errorf("store: MaxMessageSize %d must be in [%d, min(SegmentSize-%d, %d)]",
			o.MaxMessageSize, message.MinRecordSize, frameHeaderSize, MaxRecordCeiling))
	}
	return errors.Join(errs...)
}

// Store is the commit log plus its derived indexes. All methods are safe for concurrent use.
type Store struct {
	opts Options
	dir  string // <Dir>/commitlog
	log  *slog.Logger
	// hashSeed keys the key-index hash; random per store, kept in the checkpoint (the index
	// files outlive the process). Set by recovery only.
	hashSeed uint64
	// ckptMu serializes checkpoints, and Retain and DeleteTopic with them (taken before appendMu).
	ckptMu     sync.Mutex
	ckptWarned bool         // guarded by ckptMu
	ckptOffset atomic.Int64 // offset of the last checkpoint written or recovered from
	stateCRC   uint32       // CRC-32C of state.json as last read or written; guarded by ckptMu (recovery: no lock)
	ckptStats  RecoveryStats
	// cqDirSynced, ixDirSynced: the derived-file sequence numbers below which every file's
	// directory entry was fsynced by this process (syncDerivedDirs); guarded by ckptMu.
	cqDirSynced, ixDirSynced int64

	stall appendStall // Puts waiting for or holding appendMu (stall.go)

	appendMu sync.Mutex // guards active, activeSize, preallocEnd, win, noMmap, noFallocate, zeros, closed; held for every index mutation
	// active is also published through activeSeg for the flusher.
	active     *segment
	activeSize int64 // bytes written to active
	// preallocEnd is active's file size: the file is extended ahead of activeSize (see
	// preallocateLocked) so that appends can be copied into a mapping of it (win) and, with
	// FlushSync, overwrite allocated blocks, leaving fdatasync no metadata to commit. Trimmed
	// back to activeSize when the segment is sealed or closed.
	preallocEnd int64
	win         window // the mapped part of active (window.go)
	noMmap      bool   // write with pwrite: Options.noMmap, or mapping is not possible here
	noFallocate bool   // fallocate is not supported here: extend with zeros
	zeros       []byte // preallocateLocked's buffer
	closed      bool
	holes       int // hole frames seen by recovery (Options.Repair); recovery only
	// maxRecovered is the largest frame length recovery indexed (written by Open, read-only
	// after): Read accepts records up to max(MaxMessageSize, maxRecovered).
	maxRecovered int64
	baseEnd      int64 // commit-log end recorded in the state file; recovery only
	// stateMinPhys is the state file's MinPhysicalOffset; recovery only.
	stateMinPhys int64
	stateQueues  []stateQueue // the state file's queues; recovery only
	// indexFrom: records below it are in the derived files (the checkpoint); appFrom: records
	// below it are in the state LoadState got. Recovery only.
	indexFrom, appFrom int64
	// retired are the files of deleted segments: closed by the next Retain or by Close, so that a
	// read that loaded the segment snapshot just before a deletion still finds its file open.
	// Guarded by retainMu (Retain, and Close around closeFiles); Retain also holds appendMu.
	retired []*os.File

	retainMu  sync.Mutex     // serializes Retain and DeleteTopic; taken before appendMu
	retention RetentionStats // guarded by idxMu
	// deletedTopics maps a topic removed by DeleteTopic to the commit-log end at that moment:
	// its records below that offset are not indexed again (state file). Guarded by idxMu.
	deletedTopics map[string]int64

	segs      atomic.Pointer[[]*segment] // immutable snapshot, replaced on roll
	activeSeg atomic.Pointer[segment]
	written   atomic.Int64 // commit-log end: every byte below it is written and indexed
	fatal     atomic.Pointer[error]

	idxMu  sync.RWMutex // guards topics, keys, keyErrs, cqs, idxClosed (writers also hold appendMu)
	topics map[string]map[int32]*consumeQueue
	keys   *keyIndex // key hash -> physical offsets, in mapped files (keyindex.go)
	cqs    *cqAlloc  // consume-queue chunks in mapped files (cqfile.go)
	// idxClosed is set by Close before the mappings go: readers then find no queue.
	idxClosed bool
	keyErrs   int64 // records that could not be indexed by key

	flushMu      sync.Mutex // guards flushed, flushErr, flushStopped, flushWaiters, syncing
	syncing      bool       // a Put is running an fsync as group-commit leader
	flushCond    *sync.Cond // on flushMu; broadcast when flushed/flushErr/flushStopped change
	flushed      int64
	flushErr     error
	flushStopped bool
	flushWaiters int // Puts blocked in waitFlushed
	done         chan struct{}
	wg           sync.WaitGroup

	stats struct {
		fsyncs, puts, msgs atomic.Int64
	}
	bufPool sync.Pool // *[]byte encode buffers

	testHookBeforeSync func() // set by tests before the first Put; called by syncOnce before fsync
	// testHookBeforeReadRecords, set by tests before the first Get, runs between Get's index
	// read and its segment reads.
	testHookBeforeReadRecords func()
	// testHookRetainBeforeUnlink, set by tests before Retain, runs after Retain has dropped the
	// deleted segments from the snapshot and before it opens and unlinks their files;
	// testHookCloseBeforeRetainMu, before Close takes retainMu to close the files.
	testHookRetainBeforeUnlink  func()
	testHookCloseBeforeRetainMu func()
	// testHookSyncDir, set by tests before the first checkpoint, sees each derived-file
	// directory a checkpoint fsyncs.
	testHookSyncDir func(dir string)
}

// consumeQueue is the derived index of one (topic, queue): entry i is the record at queue offset
// i, for min <= i < n. Entries live in chunks of cqChunk, so a busy queue grows without copying
// the entries it has (and without the up-to-2x spare capacity of one growing slice). A chunk
// starts with room for cqFirstChunk entries and doubles (its file extended and mapped again)
// until it holds cqChunk, so an idle queue costs a few KiB of disk, not 768 KiB. Retention
// drops whole chunks from the front. Writers hold idxMu, readers idxMu.RLock.
type consumeQueue struct {
	chunks [][]cqEntry    // all full (len = cap = cqChunk) except the last (cap: cqValidCap)
	files  []*cqChunkFile // the mapping behind each chunk (nil: heap), cqfile.go
	al     *cqAlloc       // where chunks come from (nil: heap)
	first  int64          // queue offset of chunks[0][0]
	min    int64          // first live offset (entries below it were deleted by retention)
	n      int64          // next offset to write
	prep   *cqPrep        // reserve's work for the next add (nil: none); appendMu
}

// cqChunk is the number of entries of a full consume-queue chunk (768 KiB); a chunk starts with
// room for cqFirstChunk (3 KiB) and doubles, so its capacity is always a power of two.
const (
	cqChunk      = 32768
	cqFirstChunk = 128
)

// cqEntry is 24 bytes: a tags hash is a Java String.hashCode (message.TagsHash), an int32. An
// entry with size 0 is a placeholder for a record lost to a repaired hole (phys -1).
type cqEntry struct {
	phys     int64
	storeTs  int64
	size     int32 // record (payload) size
	tagsHash int32
}

func (q *consumeQueue) len() int64 { return q.n }

// empty reports whether the queue holds no live entries.
func (q *consumeQueue) empty() bool { return q.min == q.n }

func (q *consumeQueue) at(i int64) *cqEntry {
	j := i - q.first
	return &q.chunks[j/cqChunk][j%cqChunk]
}

// reset empties the queue and makes off its next offset (and min offset).
func (q *consumeQueue) reset(off int64) {
	q.releaseAll()
	q.first, q.min, q.n = off, off, off
}

// skipTo adds placeholders up to off (records lost to a repaired hole).
func (q *consumeQueue) skipTo(off int64) {
	for q.n < off {
		q.add(cqEntry{phys: -1})
	}
}

func (q *consumeQueue) add(e cqEntry) {
	last := len(q.chunks) - 1
	switch {
	case last < 0 || len(q.chunks[last]) == cqChunk:
		var c []cqEntry
		var cf *cqChunkFile
		if q.prep != nil && q.prep.spare != nil {
			c, cf = q.prep.spare, q.prep.spareFile
			q.prep.spare, q.prep.spareFile = nil, nil
		} else {
			c, cf = q.al.chunk()
		}
		if last < 0 {
			q.first = q.n
		}
		q.chunks = append(q.chunks, c)
		q.files = append(q.files, cf)
		last++
	case len(q.chunks[last]) == cap(q.chunks[last]):
		// Never let append reallocate: a mapped chunk would silently move to the heap.
		if q.prep != nil && q.prep.ahead != nil {
			cf := q.files[last]
			q.prep.stale, cf.b, q.prep.ahead = cf.b, q.prep.ahead, nil
			q.chunks[last] = cqEntries(cf.b)[:len(q.chunks[last])]
		} else {
			q.chunks[last], q.files[last] = q.al.grow(q.chunks[last], q.files[last])
		}
	}
	q.chunks[last] = append(q.chunks[last], e)
	q.n++
}

// dropBelow moves min past every entry whose record starts below phys (deleted segments) and
// frees the chunks that hold only such entries.
func (q *consumeQueue) dropBelow(phys int64) {
	for q.min < q.n && q.at(q.min).phys < phys {
		q.min++
	}
	for len(q.chunks) > 0 && q.first+int64(len(q.chunks[0])) <= q.min {
		q.first += int64(len(q.chunks[0]))
		q.releaseFirst()
	}
	if len(q.chunks) == 0 {
		q.first = q.n
	}
}

func (q *consumeQueue) releaseFirst() {
	_ = q.files[0].release() // derived data: a leftover file is removed by the next Open
	q.chunks[0], q.files[0] = nil, nil
	q.chunks, q.files = q.chunks[1:], q.files[1:]
}

// releaseAll frees every chunk.
func (q *consumeQueue) releaseAll() {
	for len(q.chunks) > 0 {
		q.releaseFirst()
	}
	q.chunks, q.files = nil, nil
}

// Stats are counters for tests and metrics.
type Stats struct {
	Fsyncs   int64 // fsync calls on segment files
	Puts     int64 // successful Put calls
	Messages int64 // messages appended by successful Puts
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	return Stats{Fsyncs: s.stats.fsyncs.Load(), Puts: s.stats.puts.Load(), Messages: s.stats.msgs.Load()}
}

// Open opens (creating if needed) the store in opts.Dir, recovers the commit log and rebuilds the
// consume queues and key index, then starts the flusher.
func Open(opts Options) (*Store, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		opts:          opts,
		log:           opts.Logger,
		topics:        make(map[string]map[int32]*consumeQueue),
		deletedTopics: make(map[string]int64),
		done:          make(chan struct{}),
		noMmap:        opts.noMmap,
		stall:         appendStall{epoch: time.Now()},
	}
	s.flushCond = sync.NewCond(&s.flushMu)
	slots, entries := uint32(defaultIxSlots), uint32(defaultIxEntries)
	if opts.ixSlots > 0 {
		slots, entries = opts.ixSlots, opts.ixEntries
	}
	var err error
	if s.keys, err = openKeyIndex(opts.Dir, slots, entries); err != nil {
		return nil, err
	}
	if s.cqs, err = openCQAlloc(opts.Dir, s.log); err != nil {
		return nil, err
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	s.flushed = s.written.Load()
	s.wg.Add(1)
	go s.flushLoop()
	return s, nil
}

// End is the commit-log end: every record below it is written and indexed.
func (s *Store) End() int64 { return s.written.Load() }

// Close flushes, stops the flusher and closes the files. Put after Close returns ErrClosed.
func (s *Store) Close() error {
	s.appendMu.Lock()
	if s.closed {
		s.appendMu.Unlock()
		return nil
	}
	s.closed = true
	s.appendMu.Unlock()

	close(s.done)
	s.wg.Wait() // the flusher does a final fsync
	s.flushMu.Lock()
	err := s.flushErr
	s.flushMu.Unlock()
	if err == nil {
		err = s.Checkpoint()
	}
	s.appendMu.Lock()
	if terr := s.trimPreallocLocked(); err == nil {
		err = terr
	}
	s.appendMu.Unlock()
	// A Retain in progress must finish first: when a failed flush made this Close skip its
	// checkpoint (which waits for Retain on ckptMu), nothing else waited for it, and it may
	// still open a deleted segment's file and add it to retired, or read the mappings for its
	// checkpoint. Retain cannot wait for Close: its Puts and flushes fail with ErrClosed.
	if s.testHookCloseBeforeRetainMu != nil {
		s.testHookCloseBeforeRetainMu()
	}
	s.retainMu.Lock()
	defer s.retainMu.Unlock()
	if cerr := s.closeFiles(); err == nil {
		err = cerr
	}
	return err
}

func (s *Store) closeFiles() error {
	p := s.segs.Load()
	if p == nil {
		return nil
	}
	var errs []error
	for _, seg := range *p {
		if err := seg.close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range s.retired {
		f.Close()
	}
	s.retired = nil
	if s.cqs != nil {
		s.appendMu.Lock()
		releaseOrphans(s.cqs.orphans)
		s.cqs.orphans = nil
		s.appendMu.Unlock()
	}
	s.idxMu.Lock() // no reader may use a mapping being unmapped
	if s.keys != nil {
		if err := s.keys.close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, qs := range s.topics {
		for _, q := range qs {
			for _, cf := range q.files {
				if err := cf.close(); err != nil {
					errs = append(errs, err)
				}
			}
			q.chunks, q.files = nil, nil
		}
	}
	s.topics = map[string]map[int32]*consumeQueue{}
	s.idxClosed = true
	s.idxMu.Unlock()
	return errors.Join(errs...)
}

// queueLocked returns the consume queue or nil (always nil after Close); the caller holds idxMu
// (either mode) or appendMu.
func (s *Store) queueLocked(topic string, queueID int32) *consumeQueue {
	return s.topics[topic][queueID]
}

// QueueStat describes one consume queue.
type QueueStat struct {
	Topic     string
	QueueID   int32
	MinOffset int64
	MaxOffset int64
}
