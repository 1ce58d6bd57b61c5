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
	codeHeartBeat              = 34
	codeUnregisterClient       = 35
	codeConsumerSendMsgBack    = 36
	codeGetConsumerListByGroup = 38
	codeUpdateAndCreateGroup   = 200
	codeDeleteSubscriptionGrp  = 207
	codeDeleteTopicInBroker    = 215
	codeInvokeBrokerToReset    = 222
	codeSendMessageV2          = 310
	codeSendBatchMessage       = 320
)

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
	case codeUpdateConsumerOffset:
		return []Resource{group("consumerGroup"), sub(ext["topic"])}, nil
	}
	return nil, nil
}
