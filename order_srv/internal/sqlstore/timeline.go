package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

var _ app.Timeline = (*Store)(nil)

// sagaStepRow is one row of order_saga_steps (migrations/order/00002).
type sagaStepRow struct {
	ID      uint64 `gorm:"primaryKey"`
	OrderSN string
	Step    string
	Detail  string
	At      time.Time
}

func (sagaStepRow) TableName() string { return "order_saga_steps" }

// Record implements app.Timeline with an autocommit INSERT, after the steps queued before and
// shared with the writes queued while another is being written (see stepWriter): it returns once
// the steps are stored.
func (s *Store) Record(ctx context.Context, sn order.SN, steps ...app.SagaStep) error {
	rows, err := stepRows(sn, steps)
	if err != nil || len(rows) == 0 {
		return err
	}
	if err := s.steps.write(ctx, rows); err != nil {
		return fmt.Errorf("record saga step of %s: %w", sn, err)
	}
	return nil
}

// Append implements app.Timeline: the steps are queued for the writer of Record (stepWriter),
// which stores them in the background, in queue order, and logs (and counts: DroppedSteps) a
// failure; past the writer's queue bound the steps are dropped and logged at once. Timeline and
// the store's step-writing transactions of the same order (UpdateOrder, RecordPayment) wait for
// them first; CommitOrder does not (it writes a new order, whose steps nobody queued before);
// Close stores them before it closes the pools, within its deadline.
func (s *Store) Append(ctx context.Context, sn order.SN, steps ...app.SagaStep) error {
	rows, err := stepRows(sn, steps)
	if err != nil || len(rows) == 0 {
		return err
	}
	if err := s.steps.queueRows(ctx, rows); err != nil {
		return fmt.Errorf("record saga step of %s: %w", sn, err)
	}
	return nil
}

// stepRows are the rows of steps of sn; an unknown step is an error.
func stepRows(sn order.SN, steps []app.SagaStep) ([]sagaStepRow, error) {
	rows := make([]sagaStepRow, len(steps))
	for i, st := range steps {
		if !st.Step.Valid() {
			return nil, fmt.Errorf("record saga step of %s: unknown step %q", sn, st.Step)
		}
		rows[i] = sagaStepRow{OrderSN: string(sn), Step: string(st.Step), Detail: st.Detail, At: st.At.UTC()}
	}
	return rows, nil
}

// stepColumns are the columns insertStepRows writes, in the order of stepValues.
var stepColumns = []string{"order_sn", "step", "detail", "at"}

func stepValues(r sagaStepRow) []any { return []any{r.OrderSN, r.Step, r.Detail, r.At} }

// insertStepRows inserts rows into the timeline in one statement on db (a transaction or the
// pool).
func insertStepRows(db *gorm.DB, rows []sagaStepRow) error {
	values := make([][]any, len(rows))
	for i, r := range rows {
		values[i] = stepValues(r)
	}
	return insertRows(db, "order_saga_steps", stepColumns, values)
}

// insertSteps appends steps to the timeline of sn on db (a transaction or the pool).
func insertSteps(db *gorm.DB, sn order.SN, steps []app.SagaStep) error {
	rows, err := stepRows(sn, steps)
	if err != nil || len(rows) == 0 {
		return err
	}
	if err := insertStepRows(db, rows); err != nil {
		return fmt.Errorf("record saga step of %s: %w", sn, err)
	}
	return nil
}

// Timeline implements app.Timeline: the steps in the order they were taken — by their own
// time (at, set when the step happened), then in the order they were inserted (id) — after
// waiting for the steps of sn this store queued before the call (Append). Sorting by at first
// keeps the order across instances: a step another instance took later but stored sooner (a
// payment right after the 201, while this instance's half_decided is still queued) comes after
// it. Steps of one instance keep their insertion order whenever their times tie; across
// instances the order is as good as their clocks agree.
func (s *Store) Timeline(ctx context.Context, sn order.SN) ([]app.SagaStep, error) {
	if err := s.steps.flushOrder(ctx, string(sn)); err != nil {
		return nil, err
	}
	var rows []sagaStepRow
	if err := s.db.WithContext(ctx).Where("order_sn = ?", string(sn)).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]app.SagaStep, len(rows))
	for i, r := range rows {
		step := app.Step(r.Step)
		if !step.Valid() {
			return nil, fmt.Errorf("order %s: stored saga step %q is unknown", sn, r.Step)
		}
		out[i] = app.SagaStep{Step: step, Detail: r.Detail, At: r.At.UTC()}
	}
	slices.SortStableFunc(out, func(a, b app.SagaStep) int { return a.At.Compare(b.At) }) // rows come by id
	return out, nil
}
