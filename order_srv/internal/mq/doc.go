// Package mq connects order_srv to RocketMQ (mqbroker or Apache RocketMQ) through the official
// Go client, rocketmq-client-go v2:
//
//   - TxPublisher is app.HalfPublisher: one long-lived transactional producer sending the
//     reback half messages (topic order_reback); its listener hands the local transaction and the
//     broker's check-backs to app.LocalTransactions.
//   - Producer is app.TimeoutScheduler: one long-lived plain producer sending the delayed
//     payment-timeout messages (topic order_timeout).
//   - TimeoutConsumer consumes the timeout topic and calls the app's handler; an error asks for
//     redelivery (ConsumeRetryLater), nothing is dropped silently.
//
// The client shares one connection set ("client instance") among everything created with the
// same instance name, and a transactional producer that shares one loses its check-backs, so each
// of the three gets its own instance name. Create them once at start-up and shut each down once
// at exit: a stray Shutdown of a shared instance stops everyone on it.
//
// Message bodies (JSON, key = order number):
//
//	order_reback:  {"order_sn":"…","items":[{"goods_id":1,"num":2}]}
//	order_timeout: {"order_sn":"…"}
//
// A reback half message also carries its saga owner (app.HalfOwner) in two user properties,
// SHOPSAGA_OWNER (the instance name) and SHOPSAGA_OWNER_DEADLINE (Unix milliseconds); the
// broker hands them back with the check-back (docs/adr/0005-saga-owner-in-half-message.md). A
// half without them, from an older version, reaches Check with the zero owner.
//
// The package must not import the transport or the database.
package mq
