package acl

import (
	"encoding/json"
	"fmt"
)

// Request codes the policy knows (Java RequestCode), kept here so that
// the package depends on nothing of the broker's.
const (
	codeSendMessage            = 10
	codePullMessage            = 11
	codeQueryMessage           = 12
	codeUpdateConsumerOffset   = 15
	codeUpdateAndCreateTopic   = 17
	codeUpdateBrokerConfig     = 25
	codeViewMessageByID        = 33
	codeHeartBeat              = 34
	codeUnregisterClient       = 35
	codeConsumerSendMsgBack    = 36
	codeEndTransaction         = 37
	codeGetConsumerListByGroup = 38
	codeLockBatchMQ            = 41
	codeUnlockBatchMQ          = 42
	codeUpdateAndCreateGroup   = 200
	codeDeleteSubscriptionGrp  = 207
	codeDeleteTopicInBroker    = 215
	codeInvokeBrokerToReset    = 222
	codeSendMessageV2          = 310
	codeSendBatchMessage       = 320
)

// clientInnerProducer is the producer group every Java client registers
// for its own use (MixAll.CLIENT_INNER_PRODUCER_GROUP); it sends no halves.
const clientInnerProducer = "CLIENT_INNER_PRODUCER"

// isAdminCode reports the request codes that need an admin account:
// Apache's Permission.ADMIN_CODE, and INVOKE_BROKER_TO_RESET_OFFSET (which
// Apache leaves to any signed account: it would let one move any group's
// offsets, e.g. skip the stock returns).
func isAdminCode(code int16) bool {
	switch code {
	case codeUpdateAndCreateTopic, codeUpdateBrokerConfig, codeDeleteTopicInBroker,
		codeUpdateAndCreateGroup, codeDeleteSubscriptionGrp, codeInvokeBrokerToReset:
		return true
	}
	return false
}

// heartbeat is the part of a HEART_BEAT body the policy reads.
type heartbeat struct {
	ProducerDataSet []struct {
		GroupName string `json:"groupName"`
	} `json:"producerDataSet"`
	ConsumerDataSet []struct {
		GroupName           string `json:"groupName"`
		SubscriptionDataSet []struct {
			Topic string `json:"topic"`
		} `json:"subscriptionDataSet"`
	} `json:"consumerDataSet"`
}

// Resources lists what a request touches and the permission each needs
// (Apache's PlainAccessValidator.parse), with two differences:
// SEND_BATCH_MESSAGE is checked like SEND_MESSAGE_V2, whose header it
// shares; and CONSUMER_SEND_MSG_BACK needs SUB (not Apache's PUB) on the
// origin topic. A send-back only re-delivers a stored message to the
// group's own retry topic (the broker checks that the message is of the
// origin topic), so it publishes nothing new; and with PUB required, a
// subscribe-only account's refused send-back is taken by the Go client as
// done (it checks only the transport error) — the message would be lost.
//
// Further differences close holes Apache 4.9 leaves open (a subscribe-only
// account could otherwise forge a saga's stock return):
//   - END_TRANSACTION needs PUB on its producerGroup here, and the broker
//     checks PUB on the half message's real topic (Permits) once it found
//     the half, before it applies the decision. Apache checks nothing.
//   - HEART_BEAT needs PUB on every producer group it registers (a
//     producer of a transaction group receives its check-backs and answers
//     them), except the Java client's built-in CLIENT_INNER_PRODUCER.
//     Apache checks only the consumer part.
//   - LOCK_BATCH_MQ / UNLOCK_BATCH_MQ need SUB on the body's consumer
//     group. Apache checks nothing.
//   - VIEW_MESSAGE_BY_ID names only a commit-log offset: the broker checks
//     SUB on the record's topic (its REAL_TOPIC for a half or scheduled
//     message) after reading it (Permits). Apache checks nothing.
//
// Codes not listed need only a valid signature.
func Resources(code int16, ext map[string]string, body []byte) ([]Resource, error) {
	topic := func(k string) Resource { return Resource{Name: ext[k], Perm: Pub} }
	sub := func(name string) Resource { return Resource{Name: name, Perm: Sub} }
	group := func(k string) Resource { return sub(RetryPrefix + ext[k]) }
	switch code {
	case codeSendMessage:
		return []Resource{topic("topic")}, nil
	case codeSendMessageV2, codeSendBatchMessage:
		return []Resource{topic("b")}, nil
	case codeConsumerSendMsgBack:
		return []Resource{sub(ext["originTopic"]), group("group")}, nil
	case codePullMessage:
		return []Resource{sub(ext["topic"]), group("consumerGroup")}, nil
	case codeQueryMessage:
		return []Resource{sub(ext["topic"])}, nil
	case codeHeartBeat:
		var hb heartbeat
		if err := json.Unmarshal(body, &hb); err != nil {
			return nil, fmt.Errorf("heartbeat body: %w", err)
		}
		var res []Resource
		for _, pd := range hb.ProducerDataSet {
			if pd.GroupName != "" && pd.GroupName != clientInnerProducer {
				res = append(res, Resource{Name: RetryPrefix + pd.GroupName, Perm: Pub})
			}
		}
		for _, cd := range hb.ConsumerDataSet {
			res = append(res, sub(RetryPrefix+cd.GroupName))
			for _, sd := range cd.SubscriptionDataSet {
				res = append(res, sub(sd.Topic))
			}
		}
		return res, nil
	case codeUnregisterClient, codeGetConsumerListByGroup:
		if ext["consumerGroup"] == "" {
			return nil, nil // a producer unregistering
		}
		return []Resource{group("consumerGroup")}, nil
	case codeEndTransaction:
		return []Resource{{Name: RetryPrefix + ext["producerGroup"], Perm: Pub}}, nil
	case codeLockBatchMQ, codeUnlockBatchMQ:
		var lb struct {
			ConsumerGroup string `json:"consumerGroup"`
		}
		if err := json.Unmarshal(body, &lb); err != nil {
			return nil, fmt.Errorf("lock body: %w", err)
		}
		if lb.ConsumerGroup == "" {
			return nil, fmt.Errorf("lock body: consumerGroup missing")
		}
		return []Resource{sub(RetryPrefix + lb.ConsumerGroup)}, nil
	case codeUpdateConsumerOffset:
		return []Resource{group("consumerGroup"), sub(ext["topic"])}, nil
	}
	return nil, nil
}
