package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/shopsaga/shopsaga/mqbroker/internal/filter"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
	"github.com/shopsaga/shopsaga/mqbroker/internal/store"
)

// Expression types of a subscription (Java ExpressionType).
const (
	exprTag   = "TAG"
	exprSQL92 = "SQL92"
)

// filterCacheSize bounds the distinct SQL92 expressions kept compiled.
const filterCacheSize = 1024

// maxFilterRounds bounds how many store reads one pull makes past records
// that its SQL92 expression rejects before answering with the offset reached.
const maxFilterRounds = 16

func isTagType(t string) bool { return t == "" || t == exprTag }

// buildSubscription makes a subscription of either expression type; a SQL92
// expression is compiled once (cache) and a bad one is kept with its error,
// to be reported to the pulls that use it.
func buildSubscription(cache *filter.Cache, topic, subString, exprType string, tags []string) *subscription {
	if isTagType(exprType) {
		return newSubscription(topic, subString, tags)
	}
	s := &subscription{Topic: topic, SubString: subString, ExprType: exprType}
	if exprType != exprSQL92 {
		s.err = fmt.Errorf("expression type %q is not supported (want TAG or SQL92)", exprType)
		return s
	}
	s.sql, s.err = cache.Parse(subString)
	return s
}

// pullSubscription resolves the subscription a pull is filtered by, as
// Apache's PullMessageProcessor does: the request's own when it carries one
// (the subscription sysFlag), else the group's from its heartbeats. A
// non-nil response refuses the pull.
func (b *Broker) pullSubscription(req *remoting.Command, group, topic string, hasSub bool, subString, exprType string) (*subscription, *remoting.Command) {
	registered := b.clients.subscription(group, topic)
	if !hasSub && registered != nil {
		// The pull relies on the registered subscription, which is older
		// than the one the client pulls with (it re-subscribed and its
		// heartbeat has not arrived): filtering by the old one would skip
		// messages the new one takes. The Java client retries in 3 s;
		// rocketmq-client-go sends subVersion 0 and never gets this.
		if v, err := strconv.ParseInt(req.Ext("subVersion"), 10, 64); err == nil && registered.Version < v {
			return nil, errResponse(req, protocol.SubscriptionNotLatest,
				"the consumer's subscription not latest: %s of %s is version %d, the pull's %d", group, topic, registered.Version, v)
		}
	}
	sub := registered
	fromRequest := false
	if hasSub && subString != "" {
		// rocketmq-client-go v2.1.2's pull consumer (Poll) sends its SQL92
		// subscription typed TAG; its heartbeat carries the right type.
		if isTagType(exprType) && registered != nil && !isTagType(registered.ExprType) && registered.SubString == subString {
			sub = registered
		} else {
			sub = buildSubscription(b.clients.filters, topic, subString, exprType, splitTags(subString))
			fromRequest = true
		}
	}
	if sub == nil && (!isTagType(exprType) || b.clients.sqlGroups.has(group, topic)) {
		return nil, errResponse(req, protocol.SubscriptionNotExist,
			"the consumer's subscription of %s to %s is not registered yet (it uses %s): wait for its heartbeat", group, topic, exprSQL92)
	}
	if sub == nil || isTagType(sub.ExprType) {
		return sub, nil
	}
	if !b.cfg.EnablePropertyFilter {
		return nil, errResponse(req, protocol.SystemError, "The broker does not support consumer to filter message by %s", sub.ExprType)
	}
	if sub.err != nil {
		if fromRequest {
			return nil, errResponse(req, protocol.SubscriptionParseFailed, "parse the consumer's subscription failed: %v", sub.err)
		}
		return nil, errResponse(req, protocol.FilterDataNotExist, "the broker's consumer filter data does not exist, your expression may be wrong: %v", sub.err)
	}
	return sub, nil
}

// filterRecords keeps the records of a Found result that expr matches. With
// none left the result becomes NoMatchedMessage; NextBeginOffset stays past
// every record read, matched or not.
func filterRecords(res store.GetResult, expr *filter.Expr) store.GetResult {
	kept := res.Records[:0:0]
	for _, rec := range res.Records {
		if recordMatches(rec, expr) {
			kept = append(kept, rec)
		}
	}
	res.Records = kept
	if len(kept) == 0 {
		res.Status = store.NoMatchedMessage
	}
	return res
}

// recordMatches evaluates expr over a stored record's properties (user
// properties and TAGS, as Apache's ExpressionMessageFilter does). A record
// that does not decode is passed on: the consumer's decoder reports it.
func recordMatches(rec []byte, expr *filter.Expr) bool {
	h, err := message.DecodeHeader(rec)
	if err != nil {
		return true
	}
	return expr.Match(func(name string) (string, bool) {
		v, ok := message.PropertyValue(h.Properties, name)
		return string(v), ok
	})
}

// checkClientBody is CHECK_CLIENT_CONFIG's body (Java CheckClientRequestBody).
type checkClientBody struct {
	ClientID         string `json:"clientId"`
	Group            string `json:"group"`
	SubscriptionData *struct {
		Topic          string `json:"topic"`
		SubString      string `json:"subString"`
		ExpressionType string `json:"expressionType"`
	} `json:"subscriptionData"`
}

// handleCheckClientConfig answers CHECK_CLIENT_CONFIG, which the Java push
// consumer sends at start for each subscription: a SQL92 expression that does
// not compile is SUBSCRIPTION_PARSE_FAILED with the reason, a SQL92 one while
// property filtering is off SYSTEM_ERROR (as Apache's ClientManageProcessor).
func (b *Broker) handleCheckClientConfig(req *remoting.Command) *remoting.Command {
	var body checkClientBody
	if len(req.Body) > 0 {
		if err := json.Unmarshal(req.Body, &body); err != nil {
			return errResponse(req, protocol.SystemError, "check client config body: %v", err)
		}
	}
	sd := body.SubscriptionData
	if sd == nil || isTagType(sd.ExpressionType) {
		return okResponse(req)
	}
	if !b.cfg.EnablePropertyFilter {
		return errResponse(req, protocol.SystemError, "The broker does not support consumer to filter message by %s", sd.ExpressionType)
	}
	if s := buildSubscription(b.clients.filters, sd.Topic, sd.SubString, sd.ExpressionType, nil); s.err != nil {
		return errResponse(req, protocol.SubscriptionParseFailed, "%v", s.err)
	}
	return okResponse(req)
}

// sqlGroups remembers which group/topic pairs subscribe with a non-TAG
// expression, in config/sql92-subscriptions.json. Subscriptions live in
// memory and come back with the next heartbeat (up to 30 s after a restart);
// a pull of such a pair that arrives before it is refused with
// SUBSCRIPTION_NOT_EXIST (Apache answers that to any unregistered group)
// rather than delivered unfiltered: rocketmq-client-go does not filter SQL92
// itself.
type sqlGroups struct {
	path string
	mu   sync.Mutex      // guards m; held across the file write, so writes are ordered
	m    map[string]bool // group + "\x00" + topic
}

func loadSQLGroups(dir string) (*sqlGroups, error) {
	s := &sqlGroups{path: filepath.Join(dir, "sql92-subscriptions.json"), m: make(map[string]bool)}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load SQL92 subscriptions: %w", err)
	}
	var list []struct{ Group, Topic string }
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("load SQL92 subscriptions %s: %w", s.path, err)
	}
	for _, e := range list {
		s.m[e.Group+"\x00"+e.Topic] = true
	}
	return s, nil
}

// has reports whether group subscribed to topic with a non-TAG expression
// when it was last heard of.
func (s *sqlGroups) has(group, topic string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[group+"\x00"+topic]
}

// remember records a heartbeat's subscription types, writing the file when
// they changed.
func (s *sqlGroups) remember(hb *heartbeat) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, cd := range hb.ConsumerDataSet {
		for _, sd := range cd.SubscriptionDataSet {
			k := cd.GroupName + "\x00" + sd.Topic
			if sql := !isTagType(sd.ExpressionType); sql != s.m[k] {
				changed = true
				if sql {
					s.m[k] = true
				} else {
					delete(s.m, k)
				}
			}
		}
	}
	if !changed {
		return nil
	}
	list := make([]struct{ Group, Topic string }, 0, len(s.m))
	for k := range s.m {
		g, t, _ := strings.Cut(k, "\x00")
		list = append(list, struct{ Group, Topic string }{g, t})
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.path, b); err != nil {
		return fmt.Errorf("persist SQL92 subscriptions: %w", err)
	}
	return nil
}
