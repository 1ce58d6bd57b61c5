package sqlstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

func stepsOf(t *testing.T, s interface {
	Timeline(context.Context, order.SN) ([]app.SagaStep, error)
}, sn order.SN) []app.Step {
	t.Helper()
	steps, err := s.Timeline(context.Background(), sn)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]app.Step, len(steps))
	for i, st := range steps {
		out[i] = st.Step
	}
	return out
}

func TestTimeline_stepsOfATransactionCommitAndRollBackWithIt(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		o, failed := newOrder(t, 1), newOrder(t, 1)
		at := t0.Add(1234567 * time.Microsecond)
		if err := s.Record(ctx, o.SN, app.NewSagaStep(app.StepHalfSent, "goods 1 × 2", at)); err != nil {
			t.Fatal(err)
		}
		committed := app.NewSagaStep(app.StepLocalCommitted, "", t0)
		if err := s.CommitOrder(ctx, o, app.CommitOptions{Steps: []app.SagaStep{committed}}); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		if err := s.CommitOrder(ctx, failed, app.CommitOptions{Steps: []app.SagaStep{committed}, BeforeCommit: func() error { return boom }}); !errors.Is(err, boom) {
			t.Fatalf("failing commit = %v", err)
		}
		if _, err := s.UpdateOrder(ctx, o.SN, func(o *order.Order) error { return o.Pay(t0.Add(time.Minute)) }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateOrder(ctx, o.SN, func(o *order.Order) error { return o.Pay(t0.Add(2 * time.Minute)) }); err != nil {
			t.Fatal(err) // paid again: no status change, no step
		}
		if got, want := stepsOf(t, s, o.SN), []app.Step{app.StepHalfSent, app.StepLocalCommitted, app.StepPaid}; !slices.Equal(got, want) {
			t.Errorf("timeline = %v, want %v", got, want)
		}
		if got := stepsOf(t, s, failed.SN); len(got) != 0 {
			t.Errorf("rolled-back transaction left steps %v", got)
		}
		steps, err := s.Timeline(ctx, o.SN)
		if err != nil {
			t.Fatal(err)
		}
		if !steps[0].At.Equal(at) || steps[0].Detail != "goods 1 × 2" || steps[2].Detail != "WAIT_BUYER_PAY → TRADE_SUCCESS" || !steps[2].At.Equal(t0.Add(time.Minute)) {
			t.Errorf("steps = %+v", steps)
		}
		if err := s.Record(ctx, o.SN, app.SagaStep{Step: "made_up", At: t0}); err == nil {
			t.Error("recorded a step outside the closed set")
		}
	})
}
