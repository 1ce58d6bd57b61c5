package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"

	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// maxStepBatch bounds the rows of one grouped timeline INSERT.
const maxStepBatch = 256

// stepWriter groups concurrent Record calls into one multi-row INSERT (one autocommit
// statement, one log flush) without delaying a lone one: while a write is in flight, the calls
// that arrive wait; when it ends, the oldest of them writes all that waited, in arrival order.
// Each call still returns only once its step is stored (or failed), so Record keeps its
// meaning; the steps of one order, recorded one after the other, keep their order. If a grouped
// INSERT fails, each of its calls is written on its own, so one call's failure is its own. The
// zero value is ready to use.
type stepWriter struct {
	inserts atomic.Int64 // INSERT statements issued (for tests)

	mu      sync.Mutex   // guards busy, waiting
	busy    bool         // a write is in flight
	waiting []*stepWrite // calls that arrived during it, oldest first
}

// stepWrite is one Record call.
type stepWrite struct {
	ctx  context.Context
	sn   order.SN
	step app.SagaStep
	done chan error        // buffered 1: the outcome
	lead chan []*stepWrite // buffered 1: the group this call must write

	answered bool // an outcome was sent; used only by the leader of its group
}

// answer sends err, unless the call has been answered already.
func (c *stepWrite) answer(err error) {
	if !c.answered {
		c.answered = true
		c.done <- err
	}
}

// record stores step for sn on db, grouped with concurrent calls.
func (w *stepWriter) record(ctx context.Context, db *gorm.DB, sn order.SN, step app.SagaStep) error {
	c := &stepWrite{ctx: ctx, sn: sn, step: step, done: make(chan error, 1), lead: make(chan []*stepWrite, 1)}
	var group []*stepWrite
	w.mu.Lock()
	if !w.busy {
		w.busy = true
		group = []*stepWrite{c}
	} else {
		w.waiting = append(w.waiting, c)
	}
	w.mu.Unlock()
	if group == nil {
		select {
		case err := <-c.done:
			return err
		case group = <-c.lead:
		case <-ctx.Done():
			if w.leave(c) {
				return fmt.Errorf("record saga step of %s: %w", sn, ctx.Err())
			}
			select { // taken into a group already
			case err := <-c.done:
				return err
			case group = <-c.lead:
			}
		}
	}
	w.lead(db, group)
	return <-c.done
}

// lead writes group and hands the writer on. If the write panics, the calls it has not answered
// are answered with an error and the next group still starts, before the panic goes on.
func (w *stepWriter) lead(db *gorm.DB, group []*stepWrite) {
	defer w.next()
	defer func() {
		if r := recover(); r != nil {
			for _, c := range group {
				c.answer(fmt.Errorf("record saga step of %s: internal error: %v", c.sn, r))
			}
			panic(r)
		}
	}()
	w.write(db, group)
}

// leave removes c from the waiting calls and reports whether it was still there.
func (w *stepWriter) leave(c *stepWrite) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, x := range w.waiting {
		if x == c {
			w.waiting = append(w.waiting[:i], w.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// next ends the write in flight: the oldest waiting call leads the next group, or the writer
// goes idle.
func (w *stepWriter) next() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.waiting) == 0 {
		w.busy = false
		return
	}
	n := min(len(w.waiting), maxStepBatch)
	group := w.waiting[:n:n]
	w.waiting = append([]*stepWrite(nil), w.waiting[n:]...)
	group[0].lead <- group
}

// write answers every call of group: one INSERT for all, or one each if that fails. Calls whose
// context ended before the write are answered with its error.
func (w *stepWriter) write(db *gorm.DB, group []*stepWrite) {
	live := group[:0:0]
	for _, c := range group {
		if err := c.ctx.Err(); err != nil {
			c.answer(fmt.Errorf("record saga step of %s: %w", c.sn, err))
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	if len(live) > 1 {
		rows := make([]sagaStepRow, 0, len(live))
		valid := true
		for _, c := range live {
			valid = valid && c.step.Step.Valid()
			rows = append(rows, sagaStepRow{OrderSN: string(c.sn), Step: string(c.step.Step), Detail: c.step.Detail, At: c.step.At.UTC()})
		}
		// The first call's context: the statement serves them all (values such as trace spans).
		if valid && w.insert(db.WithContext(live[0].ctx), &rows) == nil {
			for _, c := range live {
				c.answer(nil)
			}
			return
		}
	}
	for _, c := range live {
		w.inserts.Add(1)
		c.answer(insertSteps(db.WithContext(c.ctx), c.sn, []app.SagaStep{c.step}))
	}
}

func (w *stepWriter) insert(db *gorm.DB, rows *[]sagaStepRow) error {
	w.inserts.Add(1)
	return db.Create(rows).Error
}
