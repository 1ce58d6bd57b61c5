// Package store is mqbroker's message store: an append-only commit log holding every message
// record, plus per-(topic, queue) consume queues and a message-key index that are derived from it.
//
// It imports only the standard library and mqbroker/internal/message; it knows nothing about the
// wire protocol, delay levels or transactions (the broker builds those on top of Put, Get, Read
// and Scan).
//
// # On-disk format (version 1)
//
// Everything lives under <Options.Dir>/commitlog/. The commit log is a sequence of segment files,
// each named by the commit-log (physical) offset of its first byte as 20 decimal digits, zero
// padded, e.g. commitlog/00000000000067108800. Offsets are dense: a segment starts exactly where
// the previous one ends (start[i+1] = start[i] + size[i]); a segment is at most
// Options.SegmentSize bytes and is sealed (fsynced, never written again) when the next Put does
// not fit in it. A record never spans segments, and neither does the batch of one Put.
//
// A segment is a plain concatenation of frames, no file header, no padding:
//
//	+----------------------+----------------------------+------------------------------+
//	| length  uint32 (BE)  | crc     uint32 (BE)        | payload (length bytes)        |
//	+----------------------+----------------------------+------------------------------+
//	  payload length         CRC-32C (Castagnoli) of      one message record in the
//	                         the payload                  RocketMQ MessageDecoder V1
//	                                                      layout (package message)
//
// A frame whose length field has the top bit set (0x80000000) and whose crc field is 0x484F4C45
// ("HOLE") is a hole: Open with Options.Repair wrote it over damaged bytes; length&^0x80000000
// bytes of anything follow, they are not a record, and every reader skips them. Golden bytes:
// TestHoleFrame_goldenBytes. Records longer than the max message size are never read (a crafted
// offset cannot make a read allocate more than that).
//
// The physical offset of a record is the offset of its frame start (segment start + position in
// the file); it is also written into the record's PHYSICALOFFSET field, which is what consumers
// see and what offset message ids encode. QUEUEOFFSET and STORETIMESTAMP in the record are the
// values the store assigned; STORETIMESTAMP is Options.Now per Put, not clamped to the previous
// one (a clock that jumped forward and back must not pin later timestamps, and with them delays
// and check-backs, to the jump), so it may step back when the clock does. The frame header is
// never sent to clients: a PULL body is the concatenation of payloads.
//
// # Derived data
//
// Consume queues (per topic and queue: physical offset, size, tags hash, store timestamp of each
// record, in queue-offset order) and the key index (UNIQ_KEY and each KEYS entry -> physical
// offsets) are derived data, kept across restarts up to the checkpoint (below) and rebuilt from
// the whole commit log only when there is no usable one. Both live in mapped files (below), whose
// pages are file-backed and evictable, not anonymous memory: what the broker holds per queue is a
// few words plus one slice header per chunk of up to 32768 entries. Queue
// offsets start at 0; a queue's min offset is its first entry that retention has not deleted.
//
// # Consume-queue files
//
// <Options.Dir>/consumequeue/ holds one file per chunk of up to 32768 entries of one queue, named
// by a 20-digit sequence number and mapped shared. A chunk file is the chunk's array of 24-byte
// entries in native byte order (phys int64 | store timestamp int64 | size int32 | tags hash int32;
// size 0 = a placeholder for a record lost to a repaired hole), with no header: which queue a
// chunk belongs to and how many of its entries count is in the checkpoint (golden bytes:
// TestConsumeQueueChunkFile_goldenBytes). A chunk file is created with room for 128 entries (3
// KiB, allocated with fallocate) and, when they are all used, extended (fallocate) to twice that
// and mapped again, up to 32768 entries (768 KiB): its size is always 24 bytes times a power of
// two from 128 to 32768, and an idle queue costs one 4 KiB block, not 768 KiB (1,000 queues of one
// message each: 4 MiB of consume-queue files instead of 750 MiB). Every chunk of a queue but the
// last holds 32768 entries. A chunk's file descriptor is kept only while the chunk can still
// change or need an fdatasync: once a checkpoint has synced it full (and, on Open, for every full
// chunk the checkpoint names, whose entries it synced), the file is closed and the shared mapping
// alone keeps it; retention deletes it by path. So the process holds O(1) descriptors per queue,
// and a restart opens each full chunk only to map it (10 M stored messages: 308 chunk files, 308
// descriptors before, about one per queue after). Data dirs written before chunks grew (every
// chunk 768 KiB from its first entry) open unchanged: their chunks are of the largest size; such
// an older mqbroker, given a newer data dir, finds chunk sizes it does not expect and rebuilds the
// derived files from the log (slower, nothing lost). The files are read after a restart only by
// the same program on the same machine (a checkpoint from another architecture would be rejected
// by the sizes it checks only in part: do not move a data dir between architectures of different
// byte order). Retention and DeleteTopic unmap and delete a queue's chunks that hold only deleted
// entries; where mapping is not possible (or fails, logged: creating or extending a chunk file on
// a full disk) a chunk is a heap array instead, and its file, if it had one, is deleted at the
// start of the next checkpoint (even one that writes nothing: a read-only store) or by Close.
// Every checkpoint first copies each heap chunk into a new chunk file of the chunk's capacity
// (fallocate, copy; fdatasynced with the other chunk files before the checkpoint that names it is
// written), so checkpoints resume once there is room on the disk again; while that fails (logged),
// none is written.
//
// # Key index files
//
// <Options.Dir>/index/ holds hash-slot files (ADR 0004), named by a 20-digit sequence number,
// kept up to the checkpoint (below), written under idxMu through
// a shared mapping (a heap buffer where mmap is not available) and allocated in full when
// created (fallocate), so that a full disk fails the creation instead of a store into a hole.
// Keys go to the newest file; a full file starts the next. Layout, big-endian (golden bytes:
// TestKeyIndexFile_goldenBytes):
//
//	header (64 bytes): "MQIX" | version uint32 = 1 | slots uint32 | entries uint32 |
//	                   written uint32 | 4 zero bytes | min phys int64 | max phys int64 | 24 zero bytes
//	slots:   slots x uint32     number (1-based) of the newest entry whose hash % slots is this
//	                            slot; 0 = none
//	entries: entries x 20 bytes key hash uint64 (seeded FNV-1a + splitmix64 finalizer, put.go
//	                            hashKey; the seed is in the checkpoint) | phys int64 |
//	                            previous entry of the same slot uint32 (1-based; 0 = none)
//
// A lookup walks the key's slot chain in every file whose max phys is at or above the first
// stored offset and confirms each candidate by reading its record and comparing the keys, in
// commit-log order, until the caller's limit of records matching its predicate is reached.
// Retention unmaps and deletes the files (never the newest) whose max phys lies below the new
// first offset. As for consume-queue chunks, a full file that a checkpoint synced (and, on Open,
// a full file the checkpoint names) keeps no descriptor: its mapping alone.
//
// # Checkpoint
//
// <Options.Dir>/checkpoint records the commit-log offset O up to which the derived files (the
// consume-queue chunks, the key-index files and the queue positions of state.json) are flushed and
// consistent: they hold exactly the records below O. It is written by the flusher every
// Options.CheckpointInterval (default 1s) when anything was appended, by Close, and by Retain and
// DeleteTopic after they changed the derived files. Writing one: the application's SaveState (its
// own offset A <= O and bytes), a snapshot of the index under appendMu (O = the commit-log end),
// an fsync of the commit log up to O, an fdatasync of every derived file that may hold unsynced
// entries (skipped: a key-index file that was full when a checkpoint synced it, and a chunk file
// with no entries since the last checkpoint that synced it, full or an idle queue's), an fsync of
// the consumequeue/ and index/ directories if a file was created in them since this process last
// synced them (so that no checkpoint names a file whose directory entry a power loss can lose),
// then the file itself: temp file, fsync, rename, fsync dir. A crash at any point leaves the
// previous checkpoint, which still holds: the files it names only grow past its positions. The max
// record length is the largest record Read must accept (max of MaxMessageSize and the largest
// record recovered), so records written under a higher --max-message-size stay readable across
// checkpointed restarts. Layout, big-endian, CRC-protected (golden bytes:
// TestCheckpointFile_goldenBytes):
//
//	"MQCK" | version uint32 = 1 | O int64 | key hash seed uint64 | state.json CRC-32C uint32
//	       | next chunk file number int64 | next index file number int64 | max record length int64
//	segments uint32, then per segment:   start int64 | newest store timestamp int64
//	queues uint32, then per queue:       topic length uint16 | topic | queue id int32 |
//	                                     first int64 | min int64 | next offset int64 |
//	                                     chunks uint32 | chunk file numbers, chunks x int64
//	index files uint32, then per file:   number int64 | entries uint32 | min phys int64 | max phys int64
//	A int64 | application state length uint32 | application state bytes
//	CRC-32C (Castagnoli) uint32 of everything before it
//
// A queue's chunks hold its entries first..next-1, every chunk full but the last. Open keeps the
// files the checkpoint names, cuts them back to its positions (entries past them, in the page
// cache or half written back after a power loss, are ignored; a key-index file with entries past
// the checkpoint gets its slot heads and chains rebuilt from the entries the checkpoint covers),
// deletes every other derived file, and scans the commit log only from min(A, O): records in [A,
// O) go only to Options.OnRecover, records from O on are indexed too. Segments wholly below that
// point are not read, and not opened either (a stat gives the size the contiguity check needs; the
// newest store time, which retention needs, is in the checkpoint): each is opened, read-only, by
// its first read, so a restart opens O(1) files whatever is stored (10 M messages: 19 descriptors,
// as at 1 M; 376 before; see "Consume-queue files" for the chunks). Open still checks that each of
// them is readable (access(2); open and close where that is not available) and fails on one that
// is missing or unreadable, as when it opened them all. So the segment files must not be moved,
// removed or made unreadable while the store is open: a read of a record in such a segment then
// fails with the open error (Read, Get, Scan; not ErrNotFound), and a key lookup skips it and logs
// a warning. With no checkpoint, a damaged one (CRC, layout), a state.json whose CRC differs from
// the one recorded (retention or DeleteTopic crashed before their checkpoint), a derived file that
// is missing or has the wrong size or header (a chunk file whose size is not one a chunk can have,
// or too small for the entries the checkpoint counts in it; a chunk that grew after the checkpoint
// is fine), a queue whose last entry lies at or past O, a checkpoint outside the commit log (a log
// that is shorter: lost or replaced files), or an error from Options.LoadState, Open logs why and
// rebuilds everything from the start of the log, as before (RecoveryStats says which happened). It
// deletes the rejected checkpoint file (and fsyncs the directory) before it empties the derived
// directories: a rejection may be transient (LoadState), and a crash before the next checkpoint
// must not leave an old checkpoint naming file numbers and a key-hash seed the rebuilt files do
// not have. A checkpoint cannot describe a chunk or index file kept on the heap (no mmap on the
// platform, or mapping failed and moving the chunk back into a file, tried by every checkpoint,
// failed too): then none is written.
//
// What is and is not re-verified: records below the checkpoint were CRC-checked and validated
// when they were written or by the Open that indexed them, and were fsynced before the
// checkpoint named them; a restart does not read them again. Damage to them (a flipped bit on
// disk) is found by the CRC check of every read (Read, Get, Scan) and by a full rebuild (delete
// the checkpoint file), not by Open. Everything from the checkpoint on is checked exactly as
// below (Recovery rule): a torn tail is truncated, damage followed by valid records stops Open.
//
// # State file
//
// <Options.Dir>/state.json is the only other persisted file, written (temp file, fsync, rename,
// fsync dir) by Retain and DeleteTopic. Version 1 (golden bytes: TestStateFile_goldenBytes):
//
//	{
//	  "version": 1,
//	  "minPhysicalOffset": 8192,      every segment starting below it has been deleted
//	  "end": 12345,                   commit-log end when written: an empty log restarts here
//	  "queues": [                     queues whose min offset is above 0, sorted
//	    {"topic": "a", "queueId": 0, "minOffset": 3}
//	  ],
//	  "deletedTopics": [              DeleteTopic: records of topic below "before" are not indexed
//	    {"topic": "gone", "before": 4096}
//	  ]
//	}
//
// DeleteTopic fsyncs the commit log up to "before" before writing the file, so the cut never
// lies above the durable end of the log (after a power loss, records of the re-created topic
// would otherwise land below it).
//
// On Open the queues listed start at their minOffset (an emptied queue keeps its max offset, so
// offsets never repeat), and a segment below minPhysicalOffset still present (a crash between
// writing the file and unlinking) is deleted.
//
// # Retention
//
// Retain (the broker calls it about once a second) deletes whole sealed segments, oldest first:
// those whose newest record is older than Options.Retention, and more while the file system is
// above Options.MaxDiskUsage percent. The active segment is never deleted. Options.BeforeDelete
// runs first, with the first offset that survives: the broker re-appends there what it still needs
// (undecided half messages, scheduled messages not yet due). The commit log is then fsynced
// (whatever the flush mode; if that fails Retain fails and deletes nothing), so the carried copies
// are durable before the originals' deletion is. Then the consume-queue entries and key-index
// entries below that offset are dropped, the state file is written and the files are unlinked;
// their descriptors are closed by the next Retain, so a read that loaded the segment list just
// before still succeeds. A Get below a queue's min offset answers OffsetTooSmall with
// NextBeginOffset = the min; so does a Get racing the Retain that deletes the records it picked
// (it retries; if Retain keeps winning, its error wraps ErrRetained, never ErrCorrupt). DiskFull
// reports the file system above DiskFullPercent (95).
//
// # Recovery rule
//
// Open scans every segment from the checkpoint on (all of them without one) in offset order and
// checks each frame: a complete header, a length of at least message.MinRecordSize and at most
// MaxRecordCeiling (128 MiB + 64 KiB, the largest record any configuration writes; not the
// current MaxMessageSize, so lowering that between runs never truncates or "repairs" records
// acknowledged under a higher one) that fits in the file, a matching
// CRC-32C, a decodable record whose TOTALSIZE equals the frame length, whose PHYSICALOFFSET
// equals the frame offset and whose QUEUEOFFSET is the next offset of its queue (or, for a
// queue's first surviving record, any later offset: earlier ones were deleted by retention).
//
// A frame that fails a check is defective. Recovery then searches the rest of the segment for a
// valid frame (a plausible length, the V1 magic code, PHYSICALOFFSET equal to its position, a
// matching CRC and a decodable record):
//
//   - In the last segment, a defective frame with nothing valid after it is a torn tail (a crash
//     during a write): the file is truncated there, the truncation is logged and fsynced, and
//     appends continue from that point. A Put whose batch was torn may thus survive as a prefix
//     of its records; the Put itself was never acknowledged (FlushSync) or was within the async
//     flush window (FlushAsync).
//   - A defective frame followed by a valid one, or in a segment that is not the last, is
//     corruption: Open returns an error wrapping ErrCorrupt that names the file, the file offset
//     and the commit-log offset, rather than silently dropping acknowledged data. With
//     Options.Repair (mqbroker --repair) the damaged bytes up to the next valid frame (or the end
//     of the segment) are overwritten with a hole frame, fsynced and logged at error level with
//     their size; every record after them is kept, and the queues that lost a record keep their
//     offsets (a placeholder entry, skipped by Get, stands for it). The repair is durable: later
//     Opens need no flag.
//   - A gap or overlap between segments is corruption (not repairable).
//
// One caveat: with FlushAsync, after a power loss (not a process crash) the page cache may have
// written back a later page of the active segment but not an earlier one; the zeros or stale
// bytes in between then look like damage followed by valid records, and Open stops. Those records
// were within the flush window; --repair keeps them and drops the damaged ones.
//   - Empty segment files at the end are fine (a crash right after a roll).
//   - The active segment is preallocated ahead of its data (see below), so after a crash it
//     ends in zeros: a zero frame header is the end of the log, trimmed like a torn tail but
//     logged at debug level.
//
// Sealing fsyncs a segment before its successor is created, so after a crash only the last
// segment can have a torn tail. Open fdatasyncs the last segment once (unless it truncated and
// fsynced it already) before it counts the recovered log as flushed: after a kill -9 with
// FlushAsync its tail may be in the page cache only, and the first checkpoint must not record
// an offset that a power loss could take the log back below (Open would then refuse to start:
// "the commit log ends ... before the checkpoint").
//
// # Flush modes
//
// Put always hands its bytes to the OS before returning, so a process crash loses nothing that
// was acknowledged. The active segment is preallocated up to 4 MiB ahead of its data (extended
// with fallocate, or with written zeros where noted below), so a crash leaves it ending in
// zeros, which recovery trims. What differs is how the bytes are written and when they are
// fsynced:
//
//   - FlushAsync: a Put copies its frames into a shared mapping of an 8 MiB window of the active
//     segment (window.go; moved along as the segment fills, so the resident set stays small;
//     a batch larger than that is written with pwrite). Copied bytes are in the page cache, as
//     after a write(2). A flusher goroutine fdatasyncs every FlushInterval (default 200ms) and
//     on Close; an OS crash or power loss can lose the last interval.
//   - FlushSync: a Put writes with one pwrite and returns only after its bytes are fsynced
//     (fdatasync). Group commit: the first waiting Put runs the fsync itself and wakes every Put
//     waiting for an offset at or below what it covered; Puts arriving meanwhile share the next
//     one. The segment is extended with written zeros, so appends overwrite blocks that are
//     already allocated and fdatasync has no file-size or extent change to commit (about 90
//     instead of 140 µs per sync on this project's CI disks). Writing through the mapping is
//     not used here: after each fsync the next store into the tail page faults and waits for
//     its write-back, which made sync sends slower (BenchmarkSend: 48 → 140 µs with 32
//     concurrent senders), and running two fsyncs at once, tried too, cost more than it saved.
//
// This is the Linux behaviour, where the broker is tested and deployed. Elsewhere
// (platform_*.go) the store uses fsync for fdatasync (F_FULLFSYNC on macOS), zeros for fallocate,
// and, on Windows, pwrite for the mapped window.
//
// A sealed or closed segment is trimmed to its exact data size. Records are visible to Get as
// soon as they are written, possibly before the fsync (as in Java's SYNC_FLUSH).
//
// A failed write is rolled back by truncating the segment to its previous size and fails only
// that Put; if the rollback fails, or an fsync fails (after which the page cache state is
// unknown), the store turns read-only: every later Put fails with that error.
//
// # Concurrency
//
// All methods are safe for concurrent use. Locks, in acquisition order:
//
//  0. Store.retainMu serializes Retain and DeleteTopic (held across BeforeDelete, which Puts).
//     Store.ckptMu serializes checkpoints, and Retain's and DeleteTopic's index changes with
//     them (so a checkpoint never falls between those and their state file); a checkpoint calls
//     Options.SaveState with it held and no other.
//  1. Store.appendMu guards the append position (active segment and its size), segment rolls,
//     queue-offset assignment and closed. Every mutation of the index happens while holding it.
//  2. Store.idxMu (RWMutex) guards the index (queues map, consume-queue chunks, key-index files
//     and their mappings). Writers hold appendMu too; readers (Get, MinOffset, LookupKey, ...)
//     take only idxMu.RLock, read the mapped entries and do no file I/O while holding it.
//     Writers do their consume-queue file work before taking idxMu where they can: Put extends
//     (fallocate) and maps again the chunk file its batch fills, or creates the next chunk file,
//     under appendMu alone, and under idxMu only swaps the mapping in; a checkpoint copies heap
//     chunks into new files the same way. Under idxMu writers still do: creating a key-index
//     file (fallocate, mmap) when the newest is full; a chunk grow that Put did not prepare (a
//     batch that crosses a second chunk boundary, a prepared grow that failed and is retried
//     before falling back to the heap, and recovery, which runs alone); and the munmap (and
//     unlink, close) of what retention, DeleteTopic and Close release. A mapping is released
//     only where no reader can reach it: with idxMu held exclusively (retention, DeleteTopic,
//     Close, a grow done under idxMu; after Close readers find no queue and no key), or, for
//     the mapping a prepared grow replaced, after the swap made under idxMu and idxMu's release
//     (a reader that takes RLock afterwards sees only the new mapping), so no reader touches an
//     unmapped page.
//  3. Store.flushMu guards the group-commit state (flushed offset, flush error, stopped flusher).
//
// File reads use pread on the segment files outside all locks; they only touch bytes below the
// published write offset (Store.written), which never change once written.
package store
