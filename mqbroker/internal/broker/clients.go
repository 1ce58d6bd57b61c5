package broker

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/filter"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// heartbeat is the HEART_BEAT body (PROTOCOL.md §2.4).
type heartbeat struct {
	ClientID        string `json:"clientID"`
	ProducerDataSet []struct {
		GroupName string `json:"groupName"`
	} `json:"producerDataSet"`
	ConsumerDataSet []struct {
		GroupName           string `json:"groupName"`
		ConsumeType         string `json:"consumeType"`
		MessageModel        string `json:"messageModel"`
		ConsumeFromWhere    string `json:"consumeFromWhere"`
		SubscriptionDataSet []struct {
			Topic          string   `json:"topic"`
			SubString      string   `json:"subString"`
			TagsSet        []string `json:"tagsSet"`
			ExpressionType string   `json:"expressionType"`
			SubVersion     int64    `json:"subVersion"`
		} `json:"subscriptionDataSet"`
	} `json:"consumerDataSet"`
}

func parseHeartbeat(body []byte) (*heartbeat, error) {
	var hb heartbeat
	if err := json.Unmarshal(body, &hb); err != nil {
		return nil, fmt.Errorf("heartbeat body: %w", err)
	}
	if hb.ClientID == "" {
		return nil, fmt.Errorf("heartbeat body: clientID missing")
	}
	return &hb, nil
}

// subscription is one consumer group's filter on one topic: a TAG expression
// (tags hashes matched in the consume queue) or a SQL92 one (sql, matched
// against each record's properties; see filters.go). It is immutable.
type subscription struct {
	Topic     string
	SubString string
	ExprType  string // "TAG" (or "") or "SQL92"
	all       bool
	tags      map[int64]struct{} // tag hashes; filter on the broker by hash
	TagList   []string
	sql       *filter.Expr // compiled SQL92 expression
	err       error        // why a non-TAG expression cannot be used
	// Version is the heartbeat's subVersion (the client's time of
	// subscribing); a pull that names a newer one is answered
	// SUBSCRIPTION_NOT_LATEST (see pullSubscription).
	Version int64
}

func newSubscription(topic, subString string, tags []string) *subscription {
	s := &subscription{Topic: topic, SubString: subString, ExprType: exprTag}
	if subString == "" || subString == "*" || len(tags) == 0 {
		s.all = true
		return s
	}
	s.tags = make(map[int64]struct{}, len(tags))
	for _, t := range tags {
		s.tags[message.TagsHash(t)] = struct{}{}
		s.TagList = append(s.TagList, t)
	}
	return s
}

// match is the store's tag filter; nil means all (SQL92 filters records
// after they are read).
func (s *subscription) match() func(int64) bool {
	if s == nil || s.all || s.sql != nil {
		return nil
	}
	return func(h int64) bool { _, ok := s.tags[h]; return ok }
}

type consumerClient struct {
	id       string
	conn     *remoting.Conn
	lastSeen time.Time
}

type consumerGroup struct {
	clients   map[string]*consumerClient
	subs      map[string]*subscription // by topic; latest heartbeat wins
	model     string
	fromWhere string
}

type producerClient struct {
	id        string
	conn      *remoting.Conn
	lastSeen  time.Time
	accessKey string // the AccessKey it registered with ("" unsigned)
}

// clientTable registers producers and consumers from heartbeats and drops
// them when their connection closes or they fall silent.
type clientTable struct {
	filters   *filter.Cache // compiled SQL92 expressions, shared with pulls
	sqlGroups *sqlGroups    // group/topic pairs that use SQL92, kept across restarts (set by Open)
	mu        sync.Mutex    // guards consumers, producers
	consumers map[string]*consumerGroup
	producers map[string]map[string]*producerClient // group → clientID
}

func newClientTable() *clientTable {
	return &clientTable{filters: filter.NewCache(filterCacheSize),
		consumers: make(map[string]*consumerGroup), producers: make(map[string]map[string]*producerClient)}
}

// register applies a heartbeat; it returns the consumer groups whose
// membership changed (their members must be notified).
func (t *clientTable) register(hb *heartbeat, c *remoting.Conn, accessKey string, now time.Time) (changed []string) {
	// Compile the subscriptions before locking (the cache makes a repeated
	// expression cheap; heartbeats repeat them every 30 s).
	subs := make([][]*subscription, len(hb.ConsumerDataSet))
	for i, cd := range hb.ConsumerDataSet {
		for _, s := range cd.SubscriptionDataSet {
			sub := buildSubscription(t.filters, s.Topic, s.SubString, s.ExpressionType, s.TagsSet)
			sub.Version = s.SubVersion
			subs[i] = append(subs[i], sub)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range hb.ProducerDataSet {
		if p.GroupName == "" {
			continue
		}
		g := t.producers[p.GroupName]
		if g == nil {
			g = make(map[string]*producerClient)
			t.producers[p.GroupName] = g
		}
		g[hb.ClientID] = &producerClient{id: hb.ClientID, conn: c, lastSeen: now, accessKey: accessKey}
	}
	for i, cd := range hb.ConsumerDataSet {
		if cd.GroupName == "" {
			continue
		}
		g := t.consumers[cd.GroupName]
		if g == nil {
			g = &consumerGroup{clients: make(map[string]*consumerClient), subs: make(map[string]*subscription)}
			t.consumers[cd.GroupName] = g
		}
		g.model, g.fromWhere = cd.MessageModel, cd.ConsumeFromWhere
		if old, ok := g.clients[hb.ClientID]; !ok || old.conn != c {
			changed = append(changed, cd.GroupName)
		}
		g.clients[hb.ClientID] = &consumerClient{id: hb.ClientID, conn: c, lastSeen: now}
		for _, s := range subs[i] {
			if old := g.subs[s.Topic]; old != nil && old.Version > s.Version {
				// The group's version is the newest of its members' (as in
				// Apache's ConsumerGroupInfo): members subscribed at different
				// times, and an older one's heartbeat must not make the newer
				// one's pulls SUBSCRIPTION_NOT_LATEST.
				s.Version = old.Version
			}
			g.subs[s.Topic] = s
		}
	}
	return changed
}

// touchProducer registers conn as a producer of group when it sends a half
// message: a rocketmq-client-go producer heart-beats only to brokers of
// topics it has already sent to, so the connection a half message arrives on
// may be the only way to reach a freshly restarted transaction producer for
// a check-back. (Plain sends skip this: it would put a shared lock on every
// send for nothing.)
func (t *clientTable) touchProducer(group string, c *remoting.Conn, accessKey string, now time.Time) {
	if group == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.producers[group]
	if g == nil {
		g = make(map[string]*producerClient)
		t.producers[group] = g
	}
	for _, p := range g {
		if p.conn == c && p.accessKey == accessKey {
			p.lastSeen = now
			return
		}
	}
	id := fmt.Sprintf("conn#%d", c.ID())
	g[id] = &producerClient{id: id, conn: c, lastSeen: now, accessKey: accessKey}
}

// unregister removes one client from one group (UNREGISTER_CLIENT).
func (t *clientTable) unregister(clientID, producerGroup, consumerGroup string) (changed []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if g := t.producers[producerGroup]; g != nil {
		delete(g, clientID)
	}
	if g := t.consumers[consumerGroup]; g != nil {
		if _, ok := g.clients[clientID]; ok {
			delete(g.clients, clientID)
			changed = append(changed, consumerGroup)
		}
	}
	return changed
}

// drop removes every registration matching keep==false; it returns the
// consumer groups that lost members and the dropped client ids.
func (t *clientTable) drop(gone func(conn *remoting.Conn, lastSeen time.Time) bool) (changed []string, ids []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, g := range t.producers {
		for id, p := range g {
			if gone(p.conn, p.lastSeen) {
				delete(g, id)
			}
		}
		if len(g) == 0 {
			delete(t.producers, name)
		}
	}
	for name, g := range t.consumers {
		lost := false
		for id, c := range g.clients {
			if gone(c.conn, c.lastSeen) {
				delete(g.clients, id)
				ids = append(ids, id)
				lost = true
			}
		}
		if lost {
			changed = append(changed, name)
		}
	}
	return changed, ids
}

// consumerIDs lists a group's client ids, sorted.
func (t *clientTable) consumerIDs(group string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.consumers[group]
	if g == nil {
		return []string{}
	}
	ids := make([]string, 0, len(g.clients))
	for id := range g.clients {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// consumerConns lists the connections of a group's members.
func (t *clientTable) consumerConns(group string) []*remoting.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.consumers[group]
	if g == nil {
		return nil
	}
	conns := make([]*remoting.Conn, 0, len(g.clients))
	for _, c := range g.clients {
		conns = append(conns, c.conn)
	}
	return conns
}

// consumerConn returns the connection of the member clientID of group.
func (t *clientTable) consumerConn(group, clientID string) (*remoting.Conn, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if g := t.consumers[group]; g != nil {
		if c := g.clients[clientID]; c != nil && c.conn.Context().Err() == nil {
			return c.conn, true
		}
	}
	return nil, false
}

// subscription returns a group's subscription to topic, or nil.
func (t *clientTable) subscription(group, topic string) *subscription {
	t.mu.Lock()
	defer t.mu.Unlock()
	if g := t.consumers[group]; g != nil {
		return g.subs[topic]
	}
	return nil
}

// producerConn returns a live connection of a producer of group, preferring
// the most recently seen one among those allowed (nil: all); ok is false
// when none is registered.
func (t *clientTable) producerConn(group string, allowed func(accessKey string, peer netip.Addr) bool) (*remoting.Conn, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var best *producerClient
	for _, p := range t.producers[group] {
		if p.conn.Context().Err() != nil || (allowed != nil && !allowed(p.accessKey, p.conn.Peer().Addr())) {
			continue
		}
		if best == nil || p.lastSeen.After(best.lastSeen) {
			best = p
		}
	}
	if best == nil {
		return nil, false
	}
	return best.conn, true
}

// GroupInfo describes a consumer group for the admin API.
type GroupInfo struct {
	Group     string   `json:"group"`
	Model     string   `json:"messageModel"`
	FromWhere string   `json:"consumeFromWhere"`
	Clients   []string `json:"clients"`
	Topics    []string `json:"topics"`
}

func (t *clientTable) groups() []GroupInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]GroupInfo, 0, len(t.consumers))
	for name, g := range t.consumers {
		gi := GroupInfo{Group: name, Model: g.model, FromWhere: g.fromWhere}
		for id := range g.clients {
			gi.Clients = append(gi.Clients, id)
		}
		for topic := range g.subs {
			gi.Topics = append(gi.Topics, topic)
		}
		sort.Strings(gi.Clients)
		sort.Strings(gi.Topics)
		out = append(out, gi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// producerGroups lists each producer group's registered client ids.
func (t *clientTable) producerGroups() map[string][]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string][]string, len(t.producers))
	for name, g := range t.producers {
		ids := make([]string, 0, len(g))
		for id := range g {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		out[name] = ids
	}
	return out
}

// notifyChanged tells every member of each group to rebalance now. The
// writes happen in their own goroutines: a member that stopped reading must
// not stall the heartbeat (or housekeeping) that triggered the notification.
func (b *Broker) notifyChanged(groups []string) {
	for _, g := range groups {
		for _, c := range b.clients.consumerConns(g) {
			go func() {
				if err := c.SendOneway(int16(protocol.NotifyConsumerIDsChanged), map[string]string{"consumerGroup": g}, nil); err != nil {
					b.log.Debug("notify consumer ids changed", "group", g, "remote", c.RemoteAddr(), "err", err)
				}
			}()
		}
	}
}
