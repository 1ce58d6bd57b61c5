package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
	"github.com/shopsaga/shopsaga/order_srv/internal/sqlstore"
)

// 64 orders record their steps at once, each order one after the other: every step is stored,
// in its order's order, and concurrent calls share INSERT statements.
func TestRecord_concurrentCallsShareInserts_andKeepEachOrdersSteps(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		steps := []app.Step{app.StepHalfSent, app.StepStockDeducted, app.StepTimeoutScheduled, app.StepHalfDecided, app.StepStockReturnRequested}
		const orders = 64
		sns := make([]order.SN, orders)
		var wg sync.WaitGroup
		errs := make(chan error, orders)
		for i := range sns {
			sns[i] = newOrder(t, int64(i+1)).SN
			wg.Go(func() {
				for k, st := range steps {
					if err := s.Record(ctx, sns[i], app.NewSagaStep(st, fmt.Sprint(k), t0.Add(time.Duration(k)*time.Millisecond))); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for i, sn := range sns {
			if got := stepsOf(t, s, sn); !slices.Equal(got, steps) {
				t.Errorf("order %d: timeline %v, want %v", i, got, steps)
			}
		}
		if n := sqlstore.StepInserts(s); n >= orders*int64(len(steps)) {
			t.Errorf("%d INSERTs for %d concurrent steps: none shared", n, orders*len(steps))
		}
	})
}

func TestRecord_withAnEndedContext_storesNothing(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		sn := newOrder(t, 1).SN
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Record(ctx, sn, app.NewSagaStep(app.StepHalfSent, "", t0)); !errors.Is(err, context.Canceled) {
			t.Errorf("Record = %v, want context.Canceled", err)
		}
		if got := stepsOf(t, s, sn); len(got) != 0 {
			t.Errorf("timeline %v, want none", got)
		}
	})
}
