package protocol

// Request codes the broker relays to a consumer's connection (Apache
// RocketMQ's AdminBrokerProcessor#callConsumer), and the answer to a relay
// the client did not answer in time (Java RequestCode / ResponseCode).
const (
	GetConsumerRunningInfo Code = 307
	ConsumeMessageDirectly Code = 309

	ConsumeMsgTimeout ResponseCode = 207
)
