// Package namesrv serves the name-server side of the RocketMQ protocol for
// the single broker of this process: route lookups (GET_ROUTEINFO_BY_TOPIC),
// cluster info and the topic list. Topics come from a Routes source, which
// may create them on first lookup.
//
// It imports only remoting and protocol; it never touches the store.
package namesrv

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// Permission bits of a topic (Java PermName).
const (
	PermInherit  = 1
	PermWrite    = 2
	PermRead     = 4
	PermPriority = 8
)

// Topic is what a route lists for one topic.
type Topic struct {
	ReadQueues, WriteQueues int32
	Perm                    int32
}

// Routes is the source of topic routes.
type Routes interface {
	// RouteTopic returns the topic, creating it if the broker's policy
	// allows; ok is false when the topic neither exists nor can be created.
	RouteTopic(topic string) (t Topic, ok bool)
	// TopicNames lists the existing topics.
	TopicNames() []string
}

// Server answers name-server requests.
type Server struct {
	routes     Routes
	cluster    string
	brokerName string
	brokerAddr string
}

// New returns a name server for one broker reachable at brokerAddr
// (an address clients can dial, as advertised).
func New(routes Routes, cluster, brokerName, brokerAddr string) *Server {
	return &Server{routes: routes, cluster: cluster, brokerName: brokerName, brokerAddr: brokerAddr}
}

// Handles reports whether code is a name-server request.
func Handles(code protocol.Code) bool {
	switch code {
	case protocol.GetRouteInfoByTopic, protocol.GetBrokerClusterInfo, protocol.GetAllTopicListFromNS,
		protocol.DeleteTopicInNamesrv:
		return true
	}
	return false
}

// Serve implements remoting.Handler.
func (s *Server) Serve(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	switch protocol.Code(req.Code) {
	case protocol.GetRouteInfoByTopic:
		return s.route(req)
	case protocol.GetBrokerClusterInfo:
		return s.clusterInfo(req)
	case protocol.DeleteTopicInNamesrv:
		// Routes derive from the broker's topic table, which
		// DELETE_TOPIC_IN_BROKER has already updated: nothing to forget.
		return remoting.NewResponse(req, int16(protocol.Success), "")
	case protocol.GetAllTopicListFromNS:
		body, _ := json.Marshal(map[string][]string{"topicList": s.routes.TopicNames()})
		resp := remoting.NewResponse(req, int16(protocol.Success), "")
		resp.Body = body
		return resp
	}
	return remoting.NewResponse(req, int16(protocol.RequestCodeNotSupported),
		"request code "+strconv.Itoa(int(req.Code))+" not supported by the name server")
}

func (s *Server) route(req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	topic := f.String("topic")
	if err := f.Err(); err != nil {
		return remoting.NewResponse(req, int16(protocol.SystemError), err.Error())
	}
	t, ok := s.routes.RouteTopic(topic)
	if !ok {
		return remoting.NewResponse(req, int16(protocol.TopicNotExist),
			"No topic route info in name server for the topic: "+topic)
	}
	resp := remoting.NewResponse(req, int16(protocol.Success), "")
	resp.Body = RouteJSON(s.cluster, s.brokerName, s.brokerAddr, t)
	return resp
}

// RouteJSON renders TopicRouteData the way rocketmq-client-go v2.1.2 parses
// it: compact (brokerAddrs is parsed by string slicing, so no spaces), with
// brokerAddrs always present and orderTopicConf empty.
func RouteJSON(cluster, brokerName, brokerAddr string, t Topic) []byte {
	var b strings.Builder
	b.WriteString(`{"orderTopicConf":"","queueDatas":[{"brokerName":`)
	b.WriteString(strconv.Quote(brokerName))
	b.WriteString(`,"readQueueNums":`)
	b.WriteString(strconv.Itoa(int(t.ReadQueues)))
	b.WriteString(`,"writeQueueNums":`)
	b.WriteString(strconv.Itoa(int(t.WriteQueues)))
	b.WriteString(`,"perm":`)
	b.WriteString(strconv.Itoa(int(t.Perm)))
	b.WriteString(`,"topicSysFlag":0,"topicSynFlag":0}],"brokerDatas":[{"cluster":`)
	b.WriteString(strconv.Quote(cluster))
	b.WriteString(`,"brokerName":`)
	b.WriteString(strconv.Quote(brokerName))
	b.WriteString(`,"brokerAddrs":{"0":`)
	b.WriteString(strconv.Quote(brokerAddr))
	b.WriteString(`}}],"filterServerTable":{}}`)
	return []byte(b.String())
}

func (s *Server) clusterInfo(req *remoting.Command) *remoting.Command {
	body, _ := json.Marshal(map[string]any{
		"brokerAddrTable": map[string]any{s.brokerName: map[string]any{
			"cluster": s.cluster, "brokerName": s.brokerName, "brokerAddrs": map[string]string{"0": s.brokerAddr}}},
		"clusterAddrTable": map[string][]string{s.cluster: {s.brokerName}},
	})
	resp := remoting.NewResponse(req, int16(protocol.Success), "")
	resp.Body = body
	return resp
}
