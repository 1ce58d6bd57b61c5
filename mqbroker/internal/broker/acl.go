package broker

import (
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// checkSendBackOrigin: with ACL on, a CONSUMER_SEND_MSG_BACK may return
// only a message of the origin topic the ACL checked the account
// subscribes to (or of the group's own retry topic) — otherwise a crafted
// offset would copy any topic's message into the caller's retry topic.
// nil means allowed.
func (b *Broker) checkSendBackOrigin(req *remoting.Command, group string, orig *message.Message) *remoting.Command {
	if b.acl == nil {
		return nil
	}
	origin := req.Ext("originTopic")
	if orig.Topic == origin || orig.Topic == retryPrefix+group || (origin != "" && orig.Properties[message.PropRetryTopic] == origin) {
		return nil
	}
	b.metrics.aclDenied.WithLabelValues(protocol.ConsumerSendMsgBack.String()).Inc()
	return errResponse(req, protocol.NoPermission, "%s: the message at commit-log offset %d is not of topic %q",
		protocol.ConsumerSendMsgBack, orig.PhysicalOffset, origin)
}
