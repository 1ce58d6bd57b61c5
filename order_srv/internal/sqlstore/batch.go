package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// maxBatch bounds the writes served by one grouped INSERT.
const maxBatch = 256

// stepWriteTimeout bounds one background INSERT of the step writer (the caller of an
// asynchronous write is gone; a waiting Record also leaves on its own context).
const stepWriteTimeout = 30 * time.Second

// errWriterClosed is returned for a write queued after the store was closed.
var errWriterClosed = errors.New("sqlstore: the timeline writer is closed")

// stepWriter is the one writer of autocommit timeline rows (order_saga_steps). Writes are queued
// in arrival order; one goroutine takes everything queued (up to maxBatch writes) and stores it
// in one multi-row INSERT — one statement, one commit, one log flush — without delaying a lone
// write: while an INSERT is in flight the new writes queue up, and the next INSERT carries them
// all. A multi-row INSERT is atomic (all rows or none), so if one fails each of its writes is
// retried on its own, and one write's failure is its own. Since there is one writer and a FIFO
// queue, rows are stored in the order they were queued: the rows of one order keep their order
// whichever call queued them.
//
// A write is either waited for (wait: Record) or not (queue: Append, whose errors are logged).
// flush waits until every write queued before it is done (stored or failed), which is how reads
// see the writes of this process (read-your-writes) and how a transaction that writes steps
// itself keeps them after the queued ones. close stops queueing, stores what is queued, and
// returns when the goroutine has ended.
type stepWriter struct {
	insertAll func(ctx context.Context, rows []sagaStepRow) error
	log       *slog.Logger
	inserts   atomic.Int64 // INSERT statements issued (for tests)

	wake   chan struct{} // buffered 1: the queue is not empty or the writer is closing
	exited chan struct{} // closed when the goroutine has ended

	mu      sync.Mutex // guards everything below
	queue   []*stepWrite
	queued  uint64        // sequence number of the last write queued
	done    uint64        // every write up to this sequence number is done
	flushed chan struct{} // closed (and replaced) whenever done advances
	closed  bool
}

// stepWrite is one queued write.
type stepWrite struct {
	ctx    context.Context // of a waited write; a queued one's has no cancellation
	rows   []sagaStepRow
	seq    uint64
	result chan error // buffered 1, for a waited write; nil for a queued one
}

func newStepWriter(insertAll func(context.Context, []sagaStepRow) error, log *slog.Logger) *stepWriter {
	w := &stepWriter{
		insertAll: insertAll, log: log,
		wake: make(chan struct{}, 1), exited: make(chan struct{}), flushed: make(chan struct{}),
	}
	go w.run()
	return w
}

// enqueue adds a write to the queue and wakes the writer.
func (w *stepWriter) enqueue(ctx context.Context, rows []sagaStepRow, wait bool) (*stepWrite, error) {
	wr := &stepWrite{ctx: ctx, rows: rows}
	if wait {
		wr.result = make(chan error, 1)
	} else {
		wr.ctx = context.WithoutCancel(ctx) // values (trace spans) only: the caller does not wait
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, errWriterClosed
	}
	w.queued++
	wr.seq = w.queued
	w.queue = append(w.queue, wr)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return wr, nil
}

// write stores rows after everything queued before and returns once they are stored. Errors are
// the INSERT's, or ctx's when it ended first: then the rows are not written if the writer had not
// taken them yet, and may be if their INSERT was under way.
func (w *stepWriter) write(ctx context.Context, rows []sagaStepRow) error {
	wr, err := w.enqueue(ctx, rows, true)
	if err != nil {
		return err
	}
	select {
	case err := <-wr.result:
		return err
	case <-ctx.Done():
		return ctx.Err() // the writer skips the write unless it is under way
	}
}

// queueRows stores rows in the background, after everything queued before; errors are logged. It
// fails only once the writer is closed.
func (w *stepWriter) queueRows(ctx context.Context, rows []sagaStepRow) error {
	_, err := w.enqueue(ctx, rows, false)
	return err
}

// flush waits until every write queued before the call is done, or ctx ends.
func (w *stepWriter) flush(ctx context.Context) error {
	w.mu.Lock()
	target := w.queued
	for w.done < target {
		ch := w.flushed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for queued saga steps: %w", ctx.Err())
		}
		w.mu.Lock()
	}
	w.mu.Unlock()
	return nil
}

// close stops taking writes, stores those queued, and returns when the writer has ended.
func (w *stepWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.exited
}

// run is the writer's goroutine: it writes what is queued until the writer is closed and the
// queue is empty.
func (w *stepWriter) run() {
	defer close(w.exited)
	for {
		w.mu.Lock()
		n := min(len(w.queue), maxBatch)
		group := w.queue[:n:n]
		w.queue = w.queue[n:]
		if len(w.queue) == 0 {
			w.queue = nil // let the backing array go
		}
		closed := w.closed
		w.mu.Unlock()
		if n == 0 {
			if closed {
				return
			}
			<-w.wake
			continue
		}
		w.writeGroup(group)
		w.mu.Lock()
		w.done = group[n-1].seq
		close(w.flushed)
		w.flushed = make(chan struct{})
		w.mu.Unlock()
	}
}

// writeGroup answers every write of group: one INSERT for all, or one each if that fails.
// Waited writes whose context ended before the INSERT are answered with its error. A panic
// (a bug) is answered as an error to the waiting callers and logged: the writer goes on.
func (w *stepWriter) writeGroup(group []*stepWrite) {
	defer func() {
		if r := recover(); r != nil {
			for _, wr := range group {
				w.answer(wr, fmt.Errorf("internal error: %v", r))
			}
		}
	}()
	live := group[:0:0]
	var rows []sagaStepRow
	for _, wr := range group {
		if err := wr.ctx.Err(); err != nil {
			w.answer(wr, err)
			continue
		}
		live = append(live, wr)
		rows = append(rows, wr.rows...)
	}
	if len(live) == 0 {
		return
	}
	if len(live) > 1 {
		if w.insert(live[0].ctx, rows) == nil {
			for _, wr := range live {
				w.answer(wr, nil)
			}
			return
		}
	}
	for _, wr := range live {
		w.answer(wr, w.insert(wr.ctx, wr.rows))
	}
}

// insert runs one INSERT of rows, bounded by stepWriteTimeout whatever ctx's deadline.
func (w *stepWriter) insert(ctx context.Context, rows []sagaStepRow) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stepWriteTimeout)
	defer cancel()
	w.inserts.Add(1)
	return w.insertAll(ctx, rows)
}

// answer hands a waited write its outcome, or logs a queued write's failure. Each write is
// answered once (writeGroup's panic path may answer again: the buffered channel is then full).
func (w *stepWriter) answer(wr *stepWrite, err error) {
	if wr.result != nil {
		select {
		case wr.result <- err:
		default:
		}
		return
	}
	if err != nil {
		names := make([]string, len(wr.rows))
		for i, r := range wr.rows {
			names[i] = r.Step
		}
		w.log.Warn("saga steps not recorded", "order_sn", wr.rows[0].OrderSN, "steps", names, "err", err)
	}
}

// insertRows inserts rows into table with one plain INSERT … VALUES (…), (…) through db (a
// transaction or the pool): no RETURNING and no reflection over the row type, which gorm's
// Create spends on every call. Each row holds one value per column.
func insertRows(db *gorm.DB, table string, columns []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	q, args, err := insertSQL(table, columns, rows)
	if err != nil {
		return err
	}
	return db.Exec(q, args...).Error
}

// insertSQL is the statement insertRows runs, with its placeholders' values.
func insertSQL(table string, columns []string, rows [][]any) (string, []any, error) {
	var q strings.Builder
	tuple := "(?" + strings.Repeat(", ?", len(columns)-1) + ")"
	q.Grow(len(table) + 32 + 12*len(columns) + len(rows)*(len(tuple)+2))
	q.WriteString("INSERT INTO ")
	q.WriteString(table)
	q.WriteString(" (")
	q.WriteString(strings.Join(columns, ", "))
	q.WriteString(") VALUES ")
	args := make([]any, 0, len(rows)*len(columns))
	for i, r := range rows {
		if len(r) != len(columns) {
			return "", nil, fmt.Errorf("insert into %s: %d values for %d columns", table, len(r), len(columns))
		}
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(tuple)
		args = append(args, r...)
	}
	return q.String(), args, nil
}
