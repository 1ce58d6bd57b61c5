package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

const maxIdempotencyKeyLen = 128

// claimKey binds an Idempotency-Key to the new attempt sn. When the key already has a final
// outcome it returns that outcome's answer with done = true: the created order (as it is now),
// or the stored error.
//
// An unfinished attempt younger than IdempotencyStaleAfter is ErrRequestInProgress. An older
// one may belong to a process that died: claimKey settles it through the check-back barrier,
// exactly as the broker's check-back would — after that the stale attempt can never commit —
// and then takes the key over for sn (or answers with the order, if the stale attempt did
// commit).
func (s *Service) claimKey(ctx context.Context, key IdempotencyKey, hash string, sn order.SN) (Created, bool, error) {
	now := s.d.Now()
	rec, claimed, err := s.d.Idempotency.ClaimKey(ctx, key, hash, sn, now)
	if err != nil {
		return Created{}, true, fmt.Errorf("%w: claim idempotency key: %v", ErrUnavailable, err)
	}
	if claimed {
		return Created{}, false, nil
	}
	if rec.RequestHash != hash {
		return Created{}, true, ErrIdempotencyKeyReused
	}
	switch rec.Outcome {
	case OutcomeCreated:
		return s.replayOrder(ctx, rec.OrderSN)
	case OutcomeInsufficientStock:
		return Created{}, true, ErrInsufficientStock
	case "":
	default:
		return Created{}, true, fmt.Errorf("idempotency key: unknown stored outcome %q", rec.Outcome)
	}

	if now.Sub(rec.CreatedAt) < s.opts.IdempotencyStaleAfter {
		return Created{}, true, ErrRequestInProgress
	}
	res, err := s.d.Saga.ResolveCheck(ctx, rec.OrderSN, now)
	if err != nil {
		return Created{}, true, fmt.Errorf("%w: settle stale attempt: %v", ErrUnavailable, err)
	}
	if res == ResolvedCommitted {
		// Cannot normally happen (the commit finishes the key in the same transaction).
		return s.replayOrder(ctx, rec.OrderSN)
	}
	ok, err := s.d.Idempotency.TakeOverKey(ctx, key, rec.OrderSN, sn, now)
	switch {
	case err != nil:
		return Created{}, true, fmt.Errorf("%w: take over idempotency key: %v", ErrUnavailable, err)
	case !ok:
		return Created{}, true, ErrRequestInProgress // another retry took it over first
	}
	s.d.Log.Info("took over a stale idempotency key", "user_id", key.UserID, "stale_order_sn", rec.OrderSN, "order_sn", sn)
	return Created{}, false, nil
}

func (s *Service) replayOrder(ctx context.Context, sn order.SN) (Created, bool, error) {
	o, err := s.d.Orders.Order(ctx, sn)
	if err != nil {
		return Created{}, true, fmt.Errorf("%w: read replayed order: %v", ErrUnavailable, err)
	}
	return Created{Order: o, Replayed: true}, true, nil
}

// finishKey and releaseKey end an attempt that made no order. Failing to write is logged only:
// the key then stays unfinished and a later retry settles it as stale.
func (s *Service) finishKey(a *attempt, outcome string) {
	if a.idem == nil {
		return
	}
	if err := s.d.Idempotency.FinishKey(a.ctx, *a.idem, a.sn, outcome, s.d.Now()); err != nil {
		s.d.Log.Warn("store idempotency outcome", "order_sn", a.sn, "err", err)
	}
}

func (s *Service) releaseKey(a *attempt) {
	if a.idem == nil {
		return
	}
	if err := s.d.Idempotency.ReleaseKey(a.ctx, *a.idem, a.sn); err != nil {
		s.d.Log.Warn("release idempotency key", "order_sn", a.sn, "err", err)
	}
}

// requestHash fingerprints what a request asks for, to refuse a key reused for something else.
// For an order from the cart the cart's content is not part of it (ordering empties the cart).
func requestHash(cmd CreateOrder) string {
	h := sha256.New()
	sh := cmd.Shipping
	fmt.Fprintf(h, "u=%d a=%q n=%q m=%q p=%q c=%t", cmd.UserID, sh.Address, sh.SignerName, sh.SignerMobile, sh.Post, cmd.FromCart)
	if !cmd.FromCart {
		for _, l := range cmd.Lines {
			fmt.Fprintf(h, " %d*%d", l.GoodsID, l.Num)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
