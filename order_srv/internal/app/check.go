package app

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// Check answers the broker's check-back for the reback half message of order sn, from durable
// state only. owner is the saga owner the half message carries (zero if it carries none). It
// implements LocalTransactions.
//
// If the order's CreateOrder is still running in this process, the local transaction is alive
// and will answer itself: Check answers AskLater (it decides nothing) rather than fence a slow
// but healthy order. The same holds when the half message names another instance as its owner
// and the owner's deadline (start + the saga timeout) has not passed, unless the barrier shows
// the saga already decided; once the owner is past its deadline — dead, or given up on the
// saga, though a local transaction sent in one round trip may still commit on the server — or
// the half names no owner, the barrier decides as below (and waits for such a commit). Otherwise it claims the
// order's barrier for "check". If that succeeds, no order exists and no local transaction can
// commit one any more (its own barrier insert will hit the duplicate key): DeliverReback,
// inventory returns the stock. If the local transaction holds the barrier, the order was
// committed: Check sends the payment-timeout message (the process may have died before doing
// so; a duplicate is harmless) and answers DiscardReback. A local transaction in flight holds
// the barrier row's lock, so Check waits for it to end and never contradicts it. Any error is
// AskLater: the broker checks again.
func (s *Service) Check(ctx context.Context, sn order.SN, owner HalfOwner) HalfOutcome {
	ctx, span := s.d.Tracer.Start(ctx, "check-back", trace.WithAttributes(attrOrderSN(sn)))
	out := s.checkBack(ctx, sn, owner)
	span.SetAttributes(attribute.String("half_outcome", out.String()))
	span.End()
	return out
}

func (s *Service) checkBack(ctx context.Context, sn order.SN, owner HalfOwner) HalfOutcome {
	if s.pending.inFlight(sn) {
		// Not recorded on the timeline: on SQLite the local transaction in flight holds the
		// database, and it records its own outcome anyway.
		s.d.Log.Info("check-back: order still in flight here; asking again later", "order_sn", sn)
		s.d.Metrics.CheckBack(AskLater)
		return AskLater
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.SagaTimeout)
	defer cancel()
	if s.ownedElsewhere(ctx, sn, owner) {
		s.d.Metrics.CheckBack(AskLater)
		return AskLater
	}
	s.record(ctx, sn, StepCheckBackAsked, "")
	out := s.check(ctx, sn)
	s.d.Metrics.CheckBack(out)
	if out == DeliverReback {
		s.d.Metrics.OrderRolledBack(RollbackCheckBack)
	}
	s.recordAnswer(ctx, sn, StepCheckBackAnswered, out)
	return out
}

// ownedElsewhere reports whether the half message of sn names another instance as running its
// local transaction, still within its deadline, and the barrier shows no decision yet: then the
// check decides nothing (the owner will, or its deadline passes and a later check-back does). A
// barrier that cannot be read is treated as undecided: asking later is always safe. The owner
// only keeps a live saga from being fenced; whether the answer is right is the barrier's job.
func (s *Service) ownedElsewhere(ctx context.Context, sn order.SN, owner HalfOwner) bool {
	if s.d.Owners == nil || owner.IsZero() || owner.Instance == s.opts.Instance || !s.d.Now().Before(owner.Deadline) {
		return false
	}
	// A saga that has already decided (its commit, or an earlier fence) is answered at once.
	if _, settled, err := s.d.Owners.Settled(ctx, sn); err != nil || settled {
		if err != nil {
			s.d.Log.Warn("check-back: barrier unreadable; asking again later", "order_sn", sn, "err", err)
		}
		return err != nil
	}
	s.d.Log.Info("check-back: the saga runs on another instance within its deadline; asking again later",
		"order_sn", sn, "owner", owner.Instance, "deadline", owner.Deadline)
	return true
}

func (s *Service) check(ctx context.Context, sn order.SN) HalfOutcome {
	res, err := s.d.Saga.ResolveCheck(ctx, sn, s.d.Now())
	if err != nil {
		s.d.Log.Warn("check-back: barrier not settled", "order_sn", sn, "err", err)
		return AskLater
	}
	if res == ResolvedAborted {
		s.d.Log.Info("check-back: no order, stock returns", "order_sn", sn)
		return DeliverReback
	}
	if err := s.d.Timeouts.ScheduleTimeout(ctx, sn); err != nil {
		s.d.Log.Warn("check-back: payment timeout not scheduled", "order_sn", sn, "err", err)
		return AskLater
	}
	s.record(ctx, sn, StepTimeoutScheduled, "by the check-back")
	s.d.Log.Info("check-back: order exists, stock stays sold", "order_sn", sn)
	return DiscardReback
}
