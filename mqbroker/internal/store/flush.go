package store

import (
	"fmt"
	"time"
)

// flushLoop is the flusher goroutine: it fsyncs every FlushInterval (FlushAsync) and once more
// when the store closes, and writes a checkpoint every CheckpointInterval. (FlushSync Puts fsync themselves, see waitFlushed.)
func (s *Store) flushLoop() {
	defer s.wg.Done()
	var tick <-chan time.Time
	if s.opts.Flush == FlushAsync {
		t := time.NewTicker(s.opts.FlushInterval)
		defer t.Stop()
		tick = t.C
	}
	ck := time.NewTicker(s.opts.CheckpointInterval)
	defer ck.Stop()
	var ckFailures int
	for {
		select {
		case <-tick:
		case <-ck.C:
			if s.written.Load() == s.ckptOffset.Load() {
				continue // nothing new since the last checkpoint
			}
			if err := s.Checkpoint(); err != nil {
				ckFailures++
				if ckFailures == 1 || ckFailures%100 == 0 {
					s.log.Warn("store: checkpoint failed; the next Open reads more of the log", "failures", ckFailures, "err", err)
				}
			}
			continue
		case <-s.done:
			_ = s.syncOnce() // the error is kept in flushErr and returned by Close
			s.flushMu.Lock()
			s.flushStopped = true
			s.flushCond.Broadcast()
			s.flushMu.Unlock()
			return
		}
		_ = s.syncOnce()
	}
}

// syncOnce fsyncs everything written so far and wakes the Puts waiting for it.
func (s *Store) syncOnce() error {
	// Load written before the active segment: every byte below end is then in seg or in an
	// earlier segment, and earlier segments were fsynced when they were sealed.
	end := s.written.Load()
	seg := s.activeSeg.Load()
	s.flushMu.Lock()
	if err := s.flushErr; err != nil {
		s.flushMu.Unlock()
		return err
	}
	if end <= s.flushed {
		s.flushMu.Unlock()
		return nil
	}
	s.flushMu.Unlock()

	if s.testHookBeforeSync != nil {
		s.testHookBeforeSync()
	}
	// fdatasync: the data and the file size, not the timestamps.
	start := time.Now()
	err := fdatasync(seg.fd())
	s.stats.fsyncs.Add(1)
	if s.opts.OnSync != nil {
		s.opts.OnSync(time.Since(start), err)
	}

	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if err != nil {
		err = fmt.Errorf("store: fsync segment %s: %w", segmentName(seg.start), err)
		if s.flushErr == nil {
			s.flushErr = err
		}
		s.setFatal(err)
	} else if end > s.flushed {
		s.flushed = end
	}
	s.flushCond.Broadcast()
	return err
}

// waitFlushed blocks until the commit log is fsynced up to end (group commit). The first waiter
// to find no fsync in progress runs one itself (no hand-off to the flusher goroutine, which
// costs a wake-up per send); waiters arriving meanwhile share the next one, whose leader syncs
// everything written by then.
func (s *Store) waitFlushed(end int64) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.flushWaiters++
	defer func() { s.flushWaiters-- }()
	for {
		switch {
		case s.flushed >= end:
			return nil
		case s.flushErr != nil:
			return s.flushErr
		case s.flushStopped:
			return ErrClosed
		}
		if !s.syncing {
			s.syncing = true
			s.flushMu.Unlock()
			_ = s.syncOnce() // updates flushed or flushErr, checked above
			s.flushMu.Lock()
			s.syncing = false
			s.flushCond.Broadcast()
			continue
		}
		s.flushCond.Wait()
	}
}

// Flush fsyncs everything written so far (through the flusher, so it shares fsyncs with Puts).
func (s *Store) Flush() error {
	return s.waitFlushed(s.written.Load())
}
