package protocol

// Codes added for the admin work. Request codes the broker relays to a consumer's connection (Apache
// RocketMQ's AdminBrokerProcessor#callConsumer), and the answer to a relay
// the client did not answer in time (Java RequestCode / ResponseCode).
const (
	GetConsumerRunningInfo Code = 307
	ConsumeMessageDirectly Code = 309

	ConsumeMsgTimeout ResponseCode = 207
)

// SubscriptionNotLatest answers a pull whose subscription version is newer
// than the one the broker has from the group's heartbeats (Java
// ResponseCode 25).
const SubscriptionNotLatest ResponseCode = 25
