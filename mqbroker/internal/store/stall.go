package store

import (
	"sync/atomic"
	"time"
)

// appendStall tells whether appends are stalled: some Put is waiting for
// or holding appendMu and none has finished for a while (a segment roll's
// fsync, a checkpoint or retention holding the lock, a slow page fault on
// the commit log). It is a hint for callers choosing not to wait
// (AppendStalled); it guards nothing, and a race of begin with a reader
// only makes one answer early or late.
type appendStall struct {
	epoch    time.Time    // set by Open: progress counts monotonic time from it
	pending  atomic.Int64 // Puts between begin and end
	progress atomic.Int64 // ns since epoch: the begin that found none pending, or the last end that left some
}

// begin is called by a Put before it takes appendMu.
func (a *appendStall) begin() {
	if a.pending.Add(1) == 1 {
		a.progress.Store(int64(time.Since(a.epoch)))
	}
}

// end is called by a Put once its append is done (still under appendMu).
// Only a Put that leaves others pending reads the clock: with none, the
// next begin restarts the measure.
func (a *appendStall) end() {
	if a.pending.Add(-1) > 0 {
		a.progress.Store(int64(time.Since(a.epoch)))
	}
}

// AppendStalled reports whether a Put has been waiting for or holding the
// commit log's append lock for more than d with no Put finishing meanwhile.
// It costs two atomic loads and a clock read, and never waits: the broker
// asks it before serving a send on a connection's reader goroutine, which
// must not wait on an fsync (see broker.Inline).
func (s *Store) AppendStalled(d time.Duration) bool {
	a := &s.stall
	if a.pending.Load() == 0 {
		return false
	}
	return time.Since(a.epoch)-time.Duration(a.progress.Load()) > d
}
