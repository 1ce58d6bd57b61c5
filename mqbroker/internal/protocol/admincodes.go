package protocol

// Admin request codes served for Apache RocketMQ's mqadmin (Java RequestCode).
const (
	GetBrokerConfig                  Code = 26
	GetBrokerRuntimeInfo             Code = 28
	UpdateAndCreateSubscriptionGroup Code = 200
	GetAllSubscriptionGroupConfig    Code = 201
	GetTopicStatsInfo                Code = 202
	GetConsumerConnectionList        Code = 203
	GetProducerConnectionList        Code = 204
	DeleteSubscriptionGroup          Code = 207
	GetConsumeStats                  Code = 208
	DeleteTopicInBroker              Code = 215
	DeleteTopicInNamesrv             Code = 216
	ResetConsumerClientOffset        Code = 220
	InvokeBrokerToResetOffset        Code = 222
	QueryTopicConsumeByWho           Code = 300
)

// ConsumerNotOnline answers a request that needs a live consumer of the group (Java ResponseCode 206).
const ConsumerNotOnline ResponseCode = 206

var adminCodeNames = map[Code]string{
	GetBrokerConfig: "GET_BROKER_CONFIG", GetBrokerRuntimeInfo: "GET_BROKER_RUNTIME_INFO",
	UpdateAndCreateSubscriptionGroup: "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP",
	GetAllSubscriptionGroupConfig:    "GET_ALL_SUBSCRIPTIONGROUP_CONFIG", GetTopicStatsInfo: "GET_TOPIC_STATS_INFO",
	GetConsumerConnectionList: "GET_CONSUMER_CONNECTION_LIST", GetProducerConnectionList: "GET_PRODUCER_CONNECTION_LIST",
	DeleteSubscriptionGroup: "DELETE_SUBSCRIPTIONGROUP", GetConsumeStats: "GET_CONSUME_STATS",
	DeleteTopicInBroker: "DELETE_TOPIC_IN_BROKER", DeleteTopicInNamesrv: "DELETE_TOPIC_IN_NAMESRV",
	ResetConsumerClientOffset: "RESET_CONSUMER_CLIENT_OFFSET", InvokeBrokerToResetOffset: "INVOKE_BROKER_TO_RESET_OFFSET",
	QueryTopicConsumeByWho: "QUERY_TOPIC_CONSUME_BY_WHO",
	GetConsumerRunningInfo: "GET_CONSUMER_RUNNING_INFO", ConsumeMessageDirectly: "CONSUME_MESSAGE_DIRECTLY",
}
