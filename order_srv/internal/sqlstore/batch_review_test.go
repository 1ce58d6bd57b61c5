package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// fakeDB is the step writer's INSERT as a database that can answer, fail or hang: it lets these
// tests put the writer in the states a real server reaches only by chance (a group failing in
// the middle of a burst, packets silently dropped).
type fakeDB struct {
	mu      sync.Mutex
	calls   int
	stored  map[string]int // order_sn → rows stored
	started chan struct{}  // receives one value per call, if not nil
	release chan struct{}  // if not nil, a call waits for it (or its context)
	fail    func(rows []sagaStepRow) error
}

func (f *fakeDB) insert(ctx context.Context, rows []sagaStepRow) error {
	f.mu.Lock()
	f.calls++
	fail, release, started := f.fail, f.release, f.started
	f.mu.Unlock()
	if started != nil {
		started <- struct{}{}
	}
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return fmt.Errorf("fake insert: %w", ctx.Err())
		}
	}
	if fail != nil {
		if err := fail(rows); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range rows {
		f.stored[r.OrderSN]++
	}
	return nil
}

func (f *fakeDB) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeDB) set(fn func(f *fakeDB)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func newFakeWriter(t *testing.T) (*stepWriter, *fakeDB) {
	t.Helper()
	f := &fakeDB{stored: map[string]int{}}
	w := newStepWriter(f.insert, slog.New(slog.DiscardHandler))
	return w, f
}

func row(sn string) []sagaStepRow {
	return []sagaStepRow{{OrderSN: sn, Step: "half_decided", At: time.Unix(0, 0)}}
}

// A group that fails for a reason other than its rows (here the connection is gone) fails as a
// whole in one INSERT, instead of retrying each of its writes alone (257 timeouts against a
// database that drops packets); a group failing on one row's data is still retried write by
// write, and only that write fails.
func TestReview_stepWriter_aFailingGroup_failsTheGroupNotEachWrite(t *testing.T) {
	w, f := newFakeWriter(t)
	defer w.close()
	ctx := context.Background()

	burst := func(n int, prefix string) []error {
		// Hold the first INSERT so that the next n writes queue up behind it as one group.
		f.set(func(f *fakeDB) { f.release = make(chan struct{}); f.started = make(chan struct{}, 1) })
		first := make(chan error, 1)
		go func() { first <- w.write(ctx, row(prefix+"-first")) }()
		<-f.started
		f.set(func(f *fakeDB) { f.started = nil })
		errs := make([]error, n)
		var wg sync.WaitGroup
		var queued atomic.Int32
		for i := range n {
			wg.Go(func() {
				wr, err := w.enqueue(ctx, row(fmt.Sprintf("%s-%d", prefix, i)), true)
				if err != nil {
					errs[i] = err
					return
				}
				queued.Add(1)
				errs[i] = <-wr.result
			})
		}
		for queued.Load() < int32(n) {
			time.Sleep(time.Millisecond) // the goroutines enqueue; nothing else to await
		}
		f.set(func(f *fakeDB) { close(f.release); f.release = nil })
		if err := <-first; err != nil {
			t.Errorf("first write: %v", err)
		}
		wg.Wait()
		return errs
	}

	// The connection is gone: one INSERT for the group, every write fails with it.
	f.set(func(f *fakeDB) {
		f.calls = 0
		f.fail = func(rows []sagaStepRow) error {
			if len(rows) > 1 {
				return mysql.ErrInvalidConn
			}
			return nil
		}
	})
	const n = 20
	errs := burst(n, "conn")
	if got := f.count(); got != 2 {
		t.Errorf("a group failing on its connection took %d INSERTs, want 2 (the first write, then the group once)", got)
	}
	for i, err := range errs {
		if !errors.Is(err, mysql.ErrInvalidConn) {
			t.Errorf("write %d = %v, want the group's error", i, err)
		}
	}

	// One row's data is refused: each write is retried alone, only that one fails.
	f.set(func(f *fakeDB) {
		f.calls = 0
		f.fail = func(rows []sagaStepRow) error {
			for _, r := range rows {
				if r.OrderSN == "data-3" {
					return &mysql.MySQLError{Number: 1406, SQLState: [5]byte{'2', '2', '0', '0', '1'}, Message: "Data too long"}
				}
			}
			return nil
		}
	})
	errs = burst(n, "data")
	if got := f.count(); got != 2+n {
		t.Errorf("a group failing on one row's data took %d INSERTs, want %d (first, group, each write)", got, 2+n)
	}
	for i, err := range errs {
		if (i == 3) != (err != nil) {
			t.Errorf("write %d = %v", i, err)
		}
	}
}

// A database that stops answering: Close stores nothing more after its deadline — it cancels
// the INSERT in flight, drops (counts) the steps left and returns, instead of waiting for each
// queued group's timeout.
func TestReview_Close_isBoundedWhenTheDatabaseHangs(t *testing.T) {
	w, f := newFakeWriter(t)
	w.cycleTimeout = time.Hour // the database would hang longer than anyone waits
	w.closeTimeout = 50 * time.Millisecond
	f.set(func(f *fakeDB) { f.release = make(chan struct{}); f.started = make(chan struct{}, 1) }) // never released
	ctx := context.Background()
	const n = 3 * maxBatch
	for i := range n {
		if err := w.queueRows(ctx, row(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	<-f.started // the first INSERT hangs
	f.set(func(f *fakeDB) { f.started = nil })
	closed := make(chan struct{})
	go func() { w.close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("Close did not return within a minute of its 50 ms deadline")
	}
	if got := w.dropped.Load(); got != n {
		t.Errorf("dropped %d steps, want all %d", got, n)
	}
	if err := w.queueRows(ctx, row("late")); !errors.Is(err, errWriterClosed) {
		t.Errorf("queueRows after close = %v", err)
	}
}

// Past maxQueued queued writes, Append's writes are dropped (counted, logged) instead of growing
// the queue without limit; Record still waits for its own rows; once the database answers again
// everything queued within the bound is stored.
func TestReview_stepWriter_theQueueIsBounded(t *testing.T) {
	w, f := newFakeWriter(t)
	defer w.close()
	w.maxQueued = 10
	f.set(func(f *fakeDB) { f.release = make(chan struct{}); f.started = make(chan struct{}, 1) })
	ctx := context.Background()
	if err := w.queueRows(ctx, row("held")); err != nil {
		t.Fatal(err)
	}
	<-f.started // taken by the writer: no longer in the queue
	f.set(func(f *fakeDB) { f.started = nil })
	for i := range 15 {
		if err := w.queueRows(ctx, row(fmt.Sprint("q", i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.dropped.Load(); got != 5 {
		t.Errorf("dropped %d queued writes past the bound of 10, want 5", got)
	}
	recorded := make(chan error, 1)
	go func() { recorded <- w.write(ctx, row("recorded")) }()
	f.set(func(f *fakeDB) { close(f.release); f.release = nil })
	if err := <-recorded; err != nil {
		t.Fatalf("Record past the bound: %v", err)
	}
	if err := w.flushOrder(ctx, "q9"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range 15 {
		if want := map[bool]int{true: 1, false: 0}[i < 10]; f.stored[fmt.Sprint("q", i)] != want {
			t.Errorf("q%d stored %d times, want %d", i, f.stored[fmt.Sprint("q", i)], want)
		}
	}
	if f.stored["recorded"] != 1 || f.stored["held"] != 1 {
		t.Errorf("stored %v", f.stored)
	}
}
