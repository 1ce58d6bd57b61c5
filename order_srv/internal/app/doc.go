// Package app holds order_srv's use cases: creating an order through the reback half message
// (the saga's coordinator), answering the broker's check-back, closing unpaid orders on timeout,
// paying, reading orders, and the cart.
//
// Each use case declares the small interfaces it needs (StockSeller, HalfPublisher,
// TimeoutScheduler, the repositories); the adapters in internal/sqlstore, internal/inventory and
// internal/mq implement them. This package imports the domain (internal/order) and the standard
// library only (and the OpenTelemetry trace API, for spans): no gin, gorm or RocketMQ.
//
// # The saga, as seen from here
//
// CreateOrder validates the request, picks an order number, and hands the reback half message to
// the HalfPublisher. Once the broker has stored it, the publisher calls ExecuteLocal, which sells
// the stock through inventory and commits the order in one local transaction whose first
// statement claims the order's check-back barrier. Its answer decides the half message:
// DiscardReback (the order exists: keep the stock sold), DeliverReback (no order: inventory
// returns whatever this order number deducted) or AskLater (let the check-back decide).
//
// Check answers the broker's check-back from durable state only: it races the local transaction
// for the same barrier row, so once it has answered DeliverReback no local transaction can
// commit that order any more, and once it has seen the order committed it makes sure the
// payment-timeout message exists before answering DiscardReback. (A check for an order whose
// CreateOrder is still running in the same process answers AskLater instead: that transaction
// is alive and will decide.)
//
// # Observability
//
// Every step of a saga is appended to the order's timeline (Timeline, a closed set of Steps),
// durably, so that steps taken by another process — the check-back after a crash, the timeout
// consumer — land on the same timeline. Steps that are database changes (local commit, paid,
// closed) are written in the transaction that makes the change; the others are best-effort and
// never fail the saga. A local transaction that commits writes half_sent and stock_deducted in
// that transaction, with local_committed (one multi-row INSERT); one that fails writes them with
// local_failed — so a process that dies during the sell leaves no half_sent (the check-back's
// steps follow the saga from there). timeout_scheduled goes with the answer (half_decided), which
// is appended without waiting (Timeline.Append): the broker gets the answer at once, and a
// Timeline read in this process still sees it — read-your-writes holds within an instance, not
// across: another instance can store a later step (a payment right after the 201) before this
// one's queued steps, and the timeline is read in the order of the steps' own times
// (SagaStep.At) to keep their order anyway. No decision reads the timeline. Outcomes are counted through the Metrics port (NopMetrics by default),
// so this package does not import Prometheus.
package app
