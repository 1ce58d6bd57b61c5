package app

import (
	"context"
	"errors"
	"time"

	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// Sentinel errors of the use cases, on top of the domain's (order.ErrInvalid, order.ErrNotFound,
// order.ErrOrderClosed …). The transport maps each to one status code.
var (
	// ErrInsufficientStock: inventory had too little stock; nothing was deducted, no order made.
	ErrInsufficientStock = errors.New("app: insufficient stock")
	// ErrGoodsNotFound: a goods id is unknown to inventory.
	ErrGoodsNotFound = errors.New("app: goods not found")
	// ErrCartEmpty: an order from the cart was asked for, but no cart item is checked.
	ErrCartEmpty = errors.New("app: no checked items in the cart")
	// ErrUnavailable: a dependency (inventory, the broker, the database) failed or timed out.
	// Nothing was left behind; the request may be retried.
	ErrUnavailable = errors.New("app: a dependency is unavailable")
	// ErrOutcomeUnknown: the order's COMMIT failed and the barrier could not be read either, so
	// the order may or may not exist. The saga settles it (the broker's check-back, or the
	// reconciler): it either exists and waits for payment, or its stock is returned. The
	// Idempotency-Key stays bound to the attempt, so a retry with the same key answers with the
	// settled outcome instead of ordering twice.
	ErrOutcomeUnknown = errors.New("app: the order's outcome is not known yet")
	// ErrRequestInProgress: a request with the same Idempotency-Key is still being processed.
	ErrRequestInProgress = errors.New("app: a request with this idempotency key is in progress")
	// ErrIdempotencyKeyReused: the Idempotency-Key was first used for a different request.
	ErrIdempotencyKeyReused = errors.New("app: idempotency key reused for a different request")

	// ErrBarrierTaken is returned by SagaStore.CommitOrder when a check-back already claimed the
	// order's barrier: the order must not be created any more.
	ErrBarrierTaken = errors.New("app: check-back barrier already taken")
	// ErrCommitUnknown is returned by SagaStore.CommitOrder when the COMMIT itself failed: the
	// transaction may or may not have been committed.
	ErrCommitUnknown = errors.New("app: commit outcome unknown")
	// ErrSellRejected is returned by StockSeller.Sell when inventory definitely rejected the sell
	// for another reason than stock (e.g. the order number was already returned because a
	// check-back decided against it): nothing was deducted by this call.
	ErrSellRejected = errors.New("app: inventory rejected the sell")
)

// HalfOwner is the saga owner a reback half message carries (as message properties, see
// RebackMessage): the instance that runs the order's local transaction, and its deadline (the
// saga's start + the saga timeout). A check-back on another instance leaves a live saga alone
// until then. The zero HalfOwner means "no owner": a half message sent by a version that did
// not send one, or whose owner could not be read; its check-back decides by the barrier.
type HalfOwner struct {
	Instance string
	Deadline time.Time
}

// MaxInstanceLen bounds an instance name in bytes (Options.Instance, HalfOwner.Instance): it
// travels in every half message's properties, which a broker stores and hands back with each
// check-back.
const MaxInstanceLen = 128

// IsZero reports whether h is "no owner".
func (h HalfOwner) IsZero() bool { return h.Instance == "" }

// OwnerStore is what the check-back and the reconciler need besides the barrier claim, now
// that the owner travels with the half message (docs/adr/0005). The saga_owners table stays for
// rolling upgrades — older instances still write it, nothing reads it — and ForgetOwners clears
// its old rows. Safe for concurrent use.
type OwnerStore interface {
	// ForgetOwners deletes the saga_owners rows whose deadline is before deadlineBefore.
	ForgetOwners(ctx context.Context, deadlineBefore time.Time) (int64, error)
	// Settled reads the barrier of sn without claiming it: found is false while nobody holds it
	// (a local transaction in flight is not seen until it ends).
	Settled(ctx context.Context, sn order.SN) (res Resolution, found bool, err error)
}

// StockSeller is inventory_srv as the saga needs it. Implementations are safe for concurrent use.
type StockSeller interface {
	// Sell deducts the lines' stock for order sn and returns the priced items. It is idempotent
	// per sn. Errors: ErrInsufficientStock, ErrGoodsNotFound or ErrSellRejected (nothing
	// deducted); anything else means the outcome is unknown (stock may have been deducted).
	Sell(ctx context.Context, sn order.SN, lines []order.Line) ([]order.Item, error)
	// Reback returns the stock order sn deducted, if any. It is idempotent per sn.
	Reback(ctx context.Context, sn order.SN) error
}

// GoodsCatalog tells whether a goods exists (for the cart). Errors: ErrGoodsNotFound.
type GoodsCatalog interface {
	CheckGoods(ctx context.Context, goodsID int64) error
}

// RebackMessage is the reback half message: OrderSN and Lines are its body; Owner, unless
// zero, travels as two of its properties and comes back with the check-back.
type RebackMessage struct {
	OrderSN order.SN
	Lines   []order.Line
	Owner   HalfOwner
}

// HalfPublisher sends the reback half message of one order. Implementations are safe for
// concurrent use.
type HalfPublisher interface {
	// PublishHalf sends msg as a half (transactional) message. Once the broker has stored it,
	// and before PublishHalf returns, the publisher calls the LocalTransactions it was started
	// with (ExecuteLocal) and ends the half message with its answer. An error means the half
	// message was not stored and ExecuteLocal did not run.
	PublishHalf(ctx context.Context, msg RebackMessage) error
}

// TimeoutScheduler sends an order's delayed payment-timeout message. Safe for concurrent use.
type TimeoutScheduler interface {
	ScheduleTimeout(ctx context.Context, sn order.SN) error
}

// HalfOutcome is the answer to a half message, named for what it does to the reback message.
type HalfOutcome int

const (
	// AskLater leaves the half message pending: the broker will check back.
	AskLater HalfOutcome = iota
	// DeliverReback commits the half message: inventory returns whatever the order number
	// deducted. The answer when no order exists and none ever will.
	DeliverReback
	// DiscardReback rolls the half message back: the stock stays as it is. The answer when the
	// order exists (or when nothing was deducted).
	DiscardReback
)

func (h HalfOutcome) String() string {
	switch h {
	case DeliverReback:
		return "deliver-reback"
	case DiscardReback:
		return "discard-reback"
	default:
		return "ask-later"
	}
}

// LocalTransactions is what a HalfPublisher calls back: implemented by Service.
type LocalTransactions interface {
	// ExecuteLocal runs the local transaction of the order whose half message was just stored.
	ExecuteLocal(sn order.SN) HalfOutcome
	// Check answers the broker's check-back for order sn from durable state. ctx carries the
	// trace context of the half message, if any; owner is the owner the half message carries
	// (zero if none).
	Check(ctx context.Context, sn order.SN, owner HalfOwner) HalfOutcome
}

// Resolution is what a check-back finds in the barrier.
type Resolution int

const (
	// ResolvedAborted: no order sn exists and none can be committed any more.
	ResolvedAborted Resolution = iota + 1
	// ResolvedCommitted: the local transaction committed order sn.
	ResolvedCommitted
)

// CommitOptions are the extras of a local transaction.
type CommitOptions struct {
	// RemoveCartItems lists the cart rows of the order's user that were ordered; each is
	// deleted only if it still holds the same quantity and is still checked, so a line the user
	// changed while the order was being made stays in the cart as the user left it.
	RemoveCartItems []order.CartItem
	// Idempotency, when set, is completed (outcome "created") in the same transaction.
	Idempotency *IdempotencyKey
	// Steps are appended to the order's saga timeline in the same transaction.
	Steps []SagaStep
	// BeforeCommit, when set, runs after every write and before COMMIT; an error rolls the
	// transaction back. Used by fault injection and tests.
	BeforeCommit func() error
}

// SagaStore is the order database's side of the saga. Safe for concurrent use.
type SagaStore interface {
	// CommitOrder is the local transaction: it claims the barrier of o.SN for "local" as its
	// first statement, then writes the order, its items, the cart removal and the idempotency
	// completion, and commits. Errors: ErrBarrierTaken (a check-back came first: nothing
	// written); ErrCommitUnknown (COMMIT failed: maybe written); anything else = nothing written.
	CommitOrder(ctx context.Context, o order.Order, opts CommitOptions) error
	// ResolveCheck claims the barrier of sn for "check" unless the local transaction has, waiting
	// for a local transaction in flight to finish, and reports what the barrier holds afterwards.
	ResolveCheck(ctx context.Context, sn order.SN, now time.Time) (Resolution, error)
}

// Page selects a page of a listing, 1-based.
type Page struct {
	Number int
	Size   int
}

// OrderStore reads and changes orders. Safe for concurrent use.
type OrderStore interface {
	// Order returns the order sn with its items, or order.ErrNotFound.
	Order(ctx context.Context, sn order.SN) (order.Order, error)
	// OrdersOfUser returns a page of the user's orders, newest first, and the user's total.
	OrdersOfUser(ctx context.Context, userID int64, page Page) ([]order.Order, int64, error)
	// UpdateOrder locks order sn, applies change, and writes the status change, if any, with a
	// compare-and-set on the old status, all in one transaction; a status change also appends
	// StepOfStatus(new status) to the order's saga timeline in that transaction. An error from
	// change is returned as is and nothing is written. It returns the order as it is afterwards.
	UpdateOrder(ctx context.Context, sn order.SN, change func(*order.Order) error) (order.Order, error)
}

// CartStore keeps shopping carts. Safe for concurrent use.
type CartStore interface {
	// PutCartItem inserts or replaces the item of (UserID, GoodsID).
	PutCartItem(ctx context.Context, item order.CartItem, now time.Time) error
	// CartItems returns the user's cart ordered by goods id.
	CartItems(ctx context.Context, userID int64) ([]order.CartItem, error)
	// DeleteCartItem removes one item; removing an absent item is not an error.
	DeleteCartItem(ctx context.Context, userID, goodsID int64) error
}

// IdempotencyKey identifies a client's Idempotency-Key, scoped to a user.
type IdempotencyKey struct {
	UserID int64
	Key    string
}

// IdempotencyRecord is what the store remembers about a key.
type IdempotencyRecord struct {
	RequestHash string
	OrderSN     order.SN
	Outcome     string // "" while in progress; see the outcome constants
	CreatedAt   time.Time
}

// Outcomes stored for an idempotency key.
const (
	OutcomeCreated           = "created"
	OutcomeInsufficientStock = "insufficient_stock"
)

// IdempotencyStore remembers Idempotency-Keys. Every change is a compare-and-set on the order
// number the key is currently bound to and an empty outcome. Safe for concurrent use.
type IdempotencyStore interface {
	// ClaimKey binds a new key to sn; if the key exists it returns the existing record and false.
	ClaimKey(ctx context.Context, k IdempotencyKey, requestHash string, sn order.SN, now time.Time) (IdempotencyRecord, bool, error)
	// FinishKey stores the outcome of the attempt sn.
	FinishKey(ctx context.Context, k IdempotencyKey, sn order.SN, outcome string, now time.Time) error
	// ReleaseKey forgets the key if it is still bound to the unfinished attempt sn.
	ReleaseKey(ctx context.Context, k IdempotencyKey, sn order.SN) error
	// TakeOverKey rebinds an unfinished key from oldSN to newSN; false if it was not bound to oldSN.
	TakeOverKey(ctx context.Context, k IdempotencyKey, oldSN, newSN order.SN, now time.Time) (bool, error)
}
