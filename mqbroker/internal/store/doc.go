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
// The physical offset of a record is the offset of its frame start (segment start + position in
// the file); it is also written into the record's PHYSICALOFFSET field, which is what consumers
// see and what offset message ids encode. QUEUEOFFSET and STORETIMESTAMP in the record are the
// values the store assigned. The frame header is never sent to clients: a PULL body is the
// concatenation of payloads.
//
// # Derived data
//
// Consume queues (per topic and queue: physical offset, size, tags hash, store timestamp of each
// record, in queue-offset order) and the key index (UNIQ_KEY and each KEYS entry -> physical
// offsets) are derived data: they are kept only in memory and rebuilt on Open by scanning the
// whole commit log. Nothing but the commit log is ever persisted, so the two can never disagree.
// Queue offsets start at 0 and nothing is ever deleted (there is no retention yet), so every
// queue's min offset is 0.
//
// # Recovery rule
//
// Open scans every segment in offset order and checks each frame: a complete header, a length of
// at least message.MinRecordSize that fits in the file, a matching CRC-32C, a decodable record
// whose TOTALSIZE equals the frame length, whose PHYSICALOFFSET equals the frame offset and whose
// QUEUEOFFSET is the next offset of its queue.
//
//   - In the last segment, the first frame with an incomplete header or payload, a bad length or a
//     CRC mismatch is a torn tail (a crash during a write): the file is truncated there, the
//     truncation is logged and fsynced, and appends continue from that point. A Put whose batch
//     was torn may thus survive as a prefix of its records; the Put itself was never
//     acknowledged (FlushSync) or was within the async flush window (FlushAsync).
//   - The same defect in an earlier segment, a CRC-valid frame that fails the record checks, or
//     a gap/overlap between segments is corruption: Open returns an error wrapping ErrCorrupt
//     rather than silently dropping acknowledged data.
//   - Empty segment files at the end are fine (a crash right after a roll).
//   - The active segment is preallocated ahead of its data (see below), so after a crash it
//     ends in zeros: a zero frame header is the end of the log, trimmed like a torn tail but
//     logged at debug level.
//
// Sealing fsyncs a segment before its successor is created, so after a crash only the last
// segment can have a torn tail.
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
//  1. Store.appendMu guards the append position (active segment and its size), segment rolls,
//     queue-offset assignment and closed. Every mutation of the index happens while holding it.
//  2. Store.idxMu (RWMutex) guards the in-memory index (queues map, consume-queue entries, key
//     index). Writers hold appendMu too; readers (Get, MinOffset, ...) take only idxMu.RLock and
//     do no I/O while holding it.
//  3. Store.flushMu guards the group-commit state (flushed offset, flush error, stopped flusher).
//
// File reads use pread on the segment files outside all locks; they only touch bytes below the
// published write offset (Store.written), which never change once written.
package store
