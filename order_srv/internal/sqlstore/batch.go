package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"
)

// maxBatch bounds the calls served by one grouped INSERT.
const maxBatch = 256

// batcher groups concurrent autocommit INSERTs of one kind (the timeline steps) into
// one multi-row INSERT — one statement, one commit, one log flush — without delaying a lone
// one: while a write is in flight, the calls that arrive wait; when it ends, the oldest of them
// writes all that waited, in arrival order. Each call still returns only once its row is
// stored (or failed), so an autocommit insert keeps its meaning: committed, visible to every
// other connection, when the call returns. A multi-row INSERT is atomic (all rows or none), so
// if one fails each of its calls is written on its own, and one call's failure (a duplicate
// key) is its own. The rows of one caller, inserted one after the other, keep their order.
//
// insertAll writes several rows in one statement, insertOne one row; both are set once by
// newBatcher.
type batcher[T any] struct {
	insertAll func(ctx context.Context, rows []T) error
	insertOne func(ctx context.Context, row T) error
	inserts   atomic.Int64 // INSERT statements issued (for tests)

	mu      sync.Mutex      // guards busy, waiting
	busy    bool            // a write is in flight
	waiting []*batchCall[T] // calls that arrived during it, oldest first
}

func newBatcher[T any](insertAll func(context.Context, []T) error, insertOne func(context.Context, T) error) *batcher[T] {
	return &batcher[T]{insertAll: insertAll, insertOne: insertOne}
}

// batchCall is one insert call.
type batchCall[T any] struct {
	ctx  context.Context
	row  T
	done chan error           // buffered 1: the outcome
	lead chan []*batchCall[T] // buffered 1: the group this call must write

	answered bool // an outcome was sent; used only by the leader of its group
}

// answer sends err, unless the call has been answered already.
func (c *batchCall[T]) answer(err error) {
	if !c.answered {
		c.answered = true
		c.done <- err
	}
}

// insert stores row, grouped with concurrent calls, and returns once it is stored. Errors are
// insertOne's, or ctx's when it ended before the row was written.
func (b *batcher[T]) insert(ctx context.Context, row T) error {
	c := &batchCall[T]{ctx: ctx, row: row, done: make(chan error, 1), lead: make(chan []*batchCall[T], 1)}
	var group []*batchCall[T]
	b.mu.Lock()
	if !b.busy {
		b.busy = true
		group = []*batchCall[T]{c}
	} else {
		b.waiting = append(b.waiting, c)
	}
	b.mu.Unlock()
	if group == nil {
		select {
		case err := <-c.done:
			return err
		case group = <-c.lead:
		case <-ctx.Done():
			if b.leave(c) {
				return ctx.Err()
			}
			select { // taken into a group already
			case err := <-c.done:
				return err
			case group = <-c.lead:
			}
		}
	}
	b.lead(group)
	return <-c.done
}

// lead writes group and hands the writer on. If the write panics, the calls it has not answered
// are answered with an error and the next group still starts, before the panic goes on.
func (b *batcher[T]) lead(group []*batchCall[T]) {
	defer b.next()
	defer func() {
		if r := recover(); r != nil {
			for _, c := range group {
				c.answer(fmt.Errorf("internal error: %v", r))
			}
			panic(r)
		}
	}()
	b.write(group)
}

// leave removes c from the waiting calls and reports whether it was still there.
func (b *batcher[T]) leave(c *batchCall[T]) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, x := range b.waiting {
		if x == c {
			b.waiting = append(b.waiting[:i], b.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// next ends the write in flight: the oldest waiting call leads the next group, or the writer
// goes idle.
func (b *batcher[T]) next() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.waiting) == 0 {
		b.busy = false
		return
	}
	n := min(len(b.waiting), maxBatch)
	group := b.waiting[:n:n]
	b.waiting = append([]*batchCall[T](nil), b.waiting[n:]...)
	group[0].lead <- group
}

// write answers every call of group: one INSERT for all, or one each if that fails. Calls whose
// context ended before the write are answered with its error.
func (b *batcher[T]) write(group []*batchCall[T]) {
	live := group[:0:0]
	for _, c := range group {
		if err := c.ctx.Err(); err != nil {
			c.answer(err)
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	if len(live) > 1 {
		rows := make([]T, len(live))
		for i, c := range live {
			rows[i] = c.row
		}
		b.inserts.Add(1)
		// The first call's context: the statement serves them all (values such as trace spans).
		if b.insertAll(live[0].ctx, rows) == nil {
			for _, c := range live {
				c.answer(nil)
			}
			return
		}
	}
	for _, c := range live {
		b.inserts.Add(1)
		c.answer(b.insertOne(c.ctx, c.row))
	}
}

// insertRows inserts rows into table with one plain INSERT … VALUES (…), (…) through db (a
// transaction or the pool): no RETURNING and no reflection over the row type, which gorm's
// Create spends on every call. Each row holds one value per column.
func insertRows(db *gorm.DB, table string, columns []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
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
			return fmt.Errorf("insert into %s: %d values for %d columns", table, len(r), len(columns))
		}
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(tuple)
		args = append(args, r...)
	}
	return db.Exec(q.String(), args...).Error
}
