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

	gosqlite "github.com/glebarez/go-sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
)

// maxBatch bounds the writes served by one grouped INSERT.
const maxBatch = 256

// Defaults of the step writer's bounds (stepWriter's fields of the same names).
const (
	// defaultCycleTimeout bounds one write cycle: the grouped INSERT and, after a per-row data
	// error, the retries of its writes one by one — whatever the callers' deadlines.
	defaultCycleTimeout = 30 * time.Second
	// defaultCloseTimeout bounds how long close stores what is queued before it drops the rest.
	defaultCloseTimeout = 10 * time.Second
	// defaultMaxQueued bounds the queued writes of Append (queueRows): past it a queued write is
	// dropped and logged. 64 full groups: far beyond what a healthy database leaves queued.
	defaultMaxQueued = 64 * maxBatch
)

// errWriterClosed is returned for a write queued after the store was closed.
var errWriterClosed = errors.New("sqlstore: the timeline writer is closed")

// errQueueFull is logged for a queued write dropped because the queue was full.
var errQueueFull = errors.New("sqlstore: the timeline writer's queue is full")

// errWriterStopped answers the writes still queued when close's deadline passed.
var errWriterStopped = errors.New("sqlstore: the timeline writer was stopped at close's deadline")

// stepWriter is the one writer of autocommit timeline rows (order_saga_steps). Writes are queued
// in arrival order; one goroutine takes everything queued (up to maxBatch writes) and stores it
// in one multi-row INSERT — one statement, one commit, one log flush — without delaying a lone
// write: while an INSERT is in flight the new writes queue up, and the next INSERT carries them
// all. Since there is one writer and a FIFO queue, rows are stored in the order they were
// queued: the rows of one order keep their order whichever call queued them.
//
// A multi-row INSERT is atomic (all rows or none). If it fails with a per-row data error (the
// server refused a row: too long, a constraint; see isRowError) each of its writes is retried on its own, and
// one write's failure is its own. If it fails for any other reason (a timeout, a broken
// connection, a database that does not answer) the whole group fails at once: retrying 256
// writes one by one against a database that drops packets would hold the writer for 256
// timeouts. One write cycle — the group's INSERT and any retries — is bounded by cycleTimeout.
//
// A write is either waited for (wait: Record) or not (queue: Append, whose errors are logged and
// counted in dropped). Queued writes are bounded by maxQueued: past it Append's write is dropped
// and logged at once rather than waited for — the timeline is an audit trail no decision reads,
// and Append is called on the saga's path (create, check-back, timeout), which must not stall or
// grow memory without limit behind a sick database. Record is not bounded: its caller waits for
// its own rows and leaves on its own context.
//
// flushOrder waits until every write of one order queued before it is done (stored or failed),
// which is how a read of the order's timeline sees the writes of this process (read-your-writes)
// and how a transaction that writes steps of the order keeps them after its queued ones; it does
// not wait for other orders' writes. close stops queueing, stores what is queued within closeTimeout, then cancels the
// INSERT in flight, drops (logs) what is left and returns.
type stepWriter struct {
	insertAll func(ctx context.Context, rows []sagaStepRow) error
	log       *slog.Logger
	inserts   atomic.Int64 // INSERT statements issued (for tests)
	dropped   atomic.Int64 // steps of queued writes not stored (failed, queue full, stopped)

	cycleTimeout time.Duration
	closeTimeout time.Duration
	maxQueued    int

	stop   context.Context // cancelled at close's deadline: ends the INSERT in flight
	cancel context.CancelFunc
	wake   chan struct{} // buffered 1: the queue is not empty or the writer is closing
	exited chan struct{} // closed when the goroutine has ended

	mu      sync.Mutex // guards everything below
	queue   []*stepWrite
	nQueued int               // queued writes (not waited for) in queue
	queued  uint64            // sequence number of the last write queued
	done    uint64            // every write up to this sequence number is done
	pending map[string]uint64 // order_sn → sequence number of its last write not yet done
	flushed chan struct{}     // closed (and replaced) whenever done advances
	closed  bool
}

// stepWrite is one queued write.
type stepWrite struct {
	ctx    context.Context // of a waited write; a queued one's has no cancellation
	rows   []sagaStepRow   // of one order
	seq    uint64
	result chan error // buffered 1, for a waited write; nil for a queued one
}

// newStepWriter starts a writer with the default bounds; tests may change them before the
// first write.
func newStepWriter(insertAll func(context.Context, []sagaStepRow) error, log *slog.Logger) *stepWriter {
	w := &stepWriter{
		insertAll: insertAll, log: log,
		cycleTimeout: defaultCycleTimeout, closeTimeout: defaultCloseTimeout, maxQueued: defaultMaxQueued,
		wake: make(chan struct{}, 1), exited: make(chan struct{}), flushed: make(chan struct{}),
		pending: make(map[string]uint64),
	}
	w.stop, w.cancel = context.WithCancel(context.Background())
	go w.run()
	return w
}

// enqueue adds a write to the queue and wakes the writer. A queued write past maxQueued is
// dropped and logged (the returned write is nil, the error nil).
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
	if !wait {
		if w.nQueued >= w.maxQueued {
			w.mu.Unlock()
			w.drop(wr, errQueueFull)
			return nil, nil
		}
		w.nQueued++
	}
	w.queued++
	wr.seq = w.queued
	w.queue = append(w.queue, wr)
	w.pending[rows[0].OrderSN] = wr.seq
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
// fails only once the writer is closed; a write past the queue's bound is dropped and logged.
func (w *stepWriter) queueRows(ctx context.Context, rows []sagaStepRow) error {
	_, err := w.enqueue(ctx, rows, false)
	return err
}

// flushOrder waits until every write of order sn queued before the call is done, or ctx ends.
// Other orders' writes queued before are not waited for (except those stored with sn's, in the
// same group or before it).
func (w *stepWriter) flushOrder(ctx context.Context, sn string) error {
	w.mu.Lock()
	target := w.pending[sn]
	w.mu.Unlock()
	return w.waitDone(ctx, target)
}

// waitDone waits until every write up to sequence number target is done, or ctx ends.
func (w *stepWriter) waitDone(ctx context.Context, target uint64) error {
	w.mu.Lock()
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

// close stops taking writes and stores those queued, for at most closeTimeout; then it cancels
// the INSERT in flight, answers (logs and counts) the writes left, and returns when the
// goroutine has ended — at once if the INSERT honours its context, else after at most another
// closeTimeout, leaving the goroutine behind.
func (w *stepWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	t := time.NewTimer(w.closeTimeout)
	defer t.Stop()
	select {
	case <-w.exited:
		w.cancel()
		return
	case <-t.C:
	}
	w.mu.Lock()
	left := len(w.queue)
	w.mu.Unlock()
	w.log.Error("timeline writer: close's deadline passed, dropping the steps still queued",
		"deadline", w.closeTimeout, "writes_left", left)
	w.cancel()
	t.Reset(w.closeTimeout)
	select {
	case <-w.exited:
	case <-t.C:
		w.log.Error("timeline writer: the INSERT in flight did not end when cancelled; not waiting for it")
	}
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
		for _, wr := range group {
			if wr.result == nil {
				w.nQueued--
			}
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
		for _, wr := range group {
			if sn := wr.rows[0].OrderSN; w.pending[sn] <= w.done {
				delete(w.pending, sn)
			}
		}
		close(w.flushed)
		w.flushed = make(chan struct{})
		w.mu.Unlock()
	}
}

// writeGroup answers every write of group within one cycle (cycleTimeout): one INSERT for all;
// if it fails with a per-row data error, one each; if it fails otherwise, the error answers all.
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
	cycle, cancel := context.WithTimeout(w.stop, w.cycleTimeout)
	defer cancel()
	err := w.insert(cycle, live[0].ctx, rows)
	if err == nil || len(live) == 1 || !isRowError(err) {
		if err != nil && len(live) > 1 {
			err = fmt.Errorf("grouped insert of %d writes: %w", len(live), err)
		}
		for _, wr := range live {
			w.answer(wr, err)
		}
		return
	}
	for _, wr := range live {
		w.answer(wr, w.insert(cycle, wr.ctx, wr.rows))
	}
}

// isRowError reports whether err is the server refusing the data of the statement: a data
// exception or an integrity constraint (SQLSTATE classes 22 and 23 on MySQL: a value too long, a
// duplicate key; SQLite's TOOBIG, CONSTRAINT, MISMATCH). Then the same group without the
// offending row may succeed, so each write is retried alone. Anything else — a context's end, a
// broken or silent connection, a read-only server, SQLite busy — is not: the next INSERT would
// most likely fail the same way.
func isRowError(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		class := string(me.SQLState[:2])
		return class == "22" || class == "23"
	}
	var se *gosqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteTooBig, sqliteConstraint, sqliteMismatch:
			return true
		}
	}
	return false
}

// SQLite primary result codes isRowError treats as a row's data.
const (
	sqliteTooBig     = 18 // SQLITE_TOOBIG
	sqliteConstraint = 19 // SQLITE_CONSTRAINT
	sqliteMismatch   = 20 // SQLITE_MISMATCH
)

// insert runs one INSERT of rows within cycle (the write cycle's deadline, cancelled at close's
// deadline), with the values (trace spans) of the write's ctx.
func (w *stepWriter) insert(cycle, values context.Context, rows []sagaStepRow) error {
	if err := cycle.Err(); err != nil {
		return fmt.Errorf("saga steps write cycle: %w", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(values))
	defer cancel()
	defer context.AfterFunc(cycle, cancel)()
	w.inserts.Add(1)
	if err := w.insertAll(ctx, rows); err != nil {
		if cerr := cycle.Err(); cerr != nil && ctx.Err() != nil {
			return errors.Join(err, fmt.Errorf("saga steps write cycle: %w", cerr))
		}
		return err
	}
	return nil
}

// answer hands a waited write its outcome, or logs (and counts) a queued write's failure. Each
// write is answered once (writeGroup's panic path may answer again: the buffered channel is then
// full).
func (w *stepWriter) answer(wr *stepWrite, err error) {
	if wr.result != nil {
		select {
		case wr.result <- err:
		default:
		}
		return
	}
	if err != nil {
		w.drop(wr, err)
	}
}

// drop logs and counts the steps of a queued write that are not stored.
func (w *stepWriter) drop(wr *stepWrite, err error) {
	w.dropped.Add(int64(len(wr.rows)))
	names := make([]string, len(wr.rows))
	for i, r := range wr.rows {
		names[i] = r.Step
	}
	w.log.Warn("saga steps not recorded", "order_sn", wr.rows[0].OrderSN, "steps", names, "err", err)
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
