package broker

import (
	"net/netip"

	"github.com/shopsaga/shopsaga/mqbroker/internal/acl"
	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
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

// permitResolved checks, with ACL on, a resource the request's handler
// resolved from the broker's own state (acl.Policy.Permits): the half an
// END_TRANSACTION decides, the record a VIEW_MESSAGE_BY_ID reads. The
// request's signature was verified at dispatch. nil means allowed.
func (b *Broker) permitResolved(c *remoting.Conn, req *remoting.Command, r acl.Resource) *remoting.Command {
	if b.acl == nil {
		return nil
	}
	code := protocol.Code(req.Code)
	if err := b.acl.Permits(req.Ext(acl.AccessKeyField), c.Peer().Addr(), r); err != nil {
		b.metrics.aclDenied.WithLabelValues(code.String()).Inc()
		b.log.Debug("acl refused", "code", code.String(), "remote", c.RemoteAddr(), "err", err)
		return errResponse(req, protocol.NoPermission, "%s: %v", code, err)
	}
	return nil
}

// visibleTopic is the topic a stored record is read as: its REAL_TOPIC
// for a half or scheduled message, else its own.
func visibleTopic(m *message.Message) string {
	if (m.Topic == halfTopic || m.Topic == delay.ScheduleTopic) && m.Properties[message.PropRealTopic] != "" {
		return m.Properties[message.PropRealTopic]
	}
	return m.Topic
}

// checkBackAllowed says which registered producers of p's group may be
// asked about p (nil: all, ACL off): those whose account may still publish
// as the group and to the half's topic — a connection registers as a
// producer of a group also by sending a half of it (touchProducer), which
// needs only PUB on that half's topic.
func (b *Broker) checkBackAllowed(p *pendingHalf) func(accessKey string, peer netip.Addr) bool {
	if b.acl == nil {
		return nil
	}
	res := []acl.Resource{{Name: acl.RetryPrefix + p.group, Perm: acl.Pub}, {Name: p.realTopic, Perm: acl.Pub}}
	return func(accessKey string, peer netip.Addr) bool {
		return b.acl.Permits(accessKey, peer, res...) == nil
	}
}
