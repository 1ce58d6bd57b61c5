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

// 64 sagas claim their owner at once: the claims share INSERT statements and every one is
// stored. Then 8 claims of taken owners run among 64 more free ones: each duplicate fails on its
// own with ErrOwnerTaken, and the free claims grouped with it are still stored.
func TestClaimOwner_concurrentCallsShareInserts_andADuplicateFailsOnlyItself(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Order, func(t *testing.T, db sqltest.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		deadline := t0.Add(15 * time.Second)
		const free = 64
		claimAll := func(sns []order.SN, owner func(i int) string) []error {
			errs := make([]error, len(sns))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, sn := range sns {
				wg.Go(func() {
					<-start
					errs[i] = s.ClaimOwner(ctx, sn, owner(i), deadline)
				})
			}
			close(start)
			wg.Wait()
			return errs
		}
		first := make([]order.SN, free)
		for i := range first {
			first[i] = newOrder(t, int64(i+1)).SN
		}
		before := sqlstore.OwnerInserts(s)
		for i, err := range claimAll(first, func(int) string { return "first" }) {
			if err != nil {
				t.Errorf("claim of free saga %d: %v", i, err)
			}
		}
		if n := sqlstore.OwnerInserts(s) - before; n >= free {
			t.Errorf("%d INSERTs for %d concurrent claims: none shared", n, free)
		}

		// Every 9th claim is of a saga owned since the first round.
		var second []order.SN
		for i := range free + 8 {
			if i%9 == 0 {
				second = append(second, first[i/9])
			} else {
				second = append(second, newOrder(t, int64(100+i)).SN)
			}
		}
		errs := claimAll(second, func(i int) string { return fmt.Sprint("second-", i) })
		for i, sn := range second {
			owner, _, ok, err := s.Owner(ctx, sn)
			if err != nil || !ok {
				t.Fatalf("owner of saga %d: %t, %v", i, ok, err)
			}
			want := fmt.Sprint("second-", i)
			if i%9 == 0 {
				want = "first"
				if !errors.Is(errs[i], app.ErrOwnerTaken) {
					t.Errorf("claim of taken saga %d = %v, want ErrOwnerTaken", i, errs[i])
				}
			} else if errs[i] != nil {
				t.Errorf("claim of free saga %d: %v", i, errs[i])
			}
			if owner != want {
				t.Errorf("owner of saga %d = %q, want %q", i, owner, want)
			}
		}
	})
}
