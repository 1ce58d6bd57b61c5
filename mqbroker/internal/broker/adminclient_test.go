//go:build !race

package broker_test

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
)

// TestGoAdmin_createListSubscriptionGroupsAndDeleteTopic drives the
// official Go client's admin API end to end: CreateTopic with queue counts,
// FetchAllTopicList, GetAllSubscriptionGroup and DeleteTopic.
func TestGoAdmin_createListSubscriptionGroupsAndDeleteTopic(t *testing.T) {
	b := startWireBroker(t)
	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver([]string{b.NamesrvAddr()})))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx := context.Background()
	topic := uniq("GoAdmin")
	if err := adm.CreateTopic(ctx, admin.WithTopicCreate(topic), admin.WithBrokerAddrCreate(b.BrokerAddr()),
		admin.WithReadQueueNums(6), admin.WithWriteQueueNums(6)); err != nil {
		t.Fatal(err)
	}
	ns := dialWire(t, b.NamesrvAddr())
	route := javaCall(t, ns, protocol.GetRouteInfoByTopic, map[string]string{"topic": topic}, nil)
	if !bytes.Contains(route.Body, []byte(`"readQueueNums":6,"writeQueueNums":6`)) {
		t.Fatalf("route after CreateTopic(6, 6): %s", route.Body)
	}
	list, err := adm.FetchAllTopicList(ctx)
	if err != nil || !slices.Contains(list.TopicList, topic) {
		t.Fatalf("FetchAllTopicList = %v, %v; want %s in it", list, err, topic)
	}

	br := dialWire(t, b.BrokerAddr())
	if r := javaCall(t, br, protocol.UpdateAndCreateSubscriptionGroup, nil, []byte(`{"groupName":"go_admin_sub","retryMaxTimes":3}`)); r.Code != 0 {
		t.Fatalf("create subscription group: %s", r.Remark)
	}
	groups, err := adm.GetAllSubscriptionGroup(ctx, b.BrokerAddr(), wireTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := groups.SubscriptionGroupTable["go_admin_sub"]; !ok || g.RetryMaxTimes != 3 {
		t.Fatalf("GetAllSubscriptionGroup = %+v; want go_admin_sub with retryMaxTimes 3", groups.SubscriptionGroupTable)
	}

	if err := adm.DeleteTopic(ctx, admin.WithTopicDelete(topic), admin.WithBrokerAddrDelete(b.BrokerAddr()),
		admin.WithNameSrvAddr([]string{b.NamesrvAddr()})); err != nil {
		t.Fatal(err)
	}
	if r := javaCall(t, ns, protocol.GetRouteInfoByTopic, map[string]string{"topic": topic}, nil); r.Code != int16(protocol.TopicNotExist) {
		t.Fatalf("route after DeleteTopic: %s, want TOPIC_NOT_EXIST", protocol.ResponseCode(r.Code))
	}
}

// TestResetOffset_liveGoConsumerReconsumes: mqadmin resetOffsetByTime on a
// live group (INVOKE_BROKER_TO_RESET_OFFSET) pushes RESET_CONSUMER_CLIENT_OFFSET
// to the official Go push consumer, which consumes the queues again from the
// start (the client waits 10 s before it applies a reset).
func TestResetOffset_liveGoConsumerReconsumes(t *testing.T) {
	b := brokertest.Start(t)
	topic, group := uniq("T"), uniq("cg")
	p := newProducer(t, b)
	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: group, listen: collectInto(col)})
	for i := range 4 {
		if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("m"+strconv.Itoa(i)))); err != nil {
			t.Fatal(err)
		}
	}
	col.waitCount(t, 4, 30*time.Second)
	admin := dialWire(t, b.BrokerAddr())
	r := javaCall(t, admin, protocol.InvokeBrokerToResetOffset, map[string]string{"topic": topic, "group": group, "timestamp": "0", "isForce": "true"}, nil)
	if r.Code != 0 {
		t.Fatalf("reset: %s %s", protocol.ResponseCode(r.Code), r.Remark)
	}
	col.waitCount(t, 8, 60*time.Second)
}

// TestUpdateTopic_moreQueuesOfALiveTopicReachItsGoConsumer: after mqadmin
// updateTopic -r 8 -w 8 on a live 4-queue topic, the official Go push
// consumer rebalances onto the new queues (on its next route refresh, at
// most 30 s) and gets a message stored in queue 6.
func TestUpdateTopic_moreQueuesOfALiveTopicReachItsGoConsumer(t *testing.T) {
	b := brokertest.Start(t)
	topic, group := uniq("T"), uniq("cg")
	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: group, listen: collectInto(col)})
	w := dialWire(t, b.BrokerAddr())
	if r := javaCall(t, w, protocol.UpdateAndCreateTopic, map[string]string{"topic": topic, "readQueueNums": "8", "writeQueueNums": "8", "perm": "6"}, nil); r.Code != 0 {
		t.Fatalf("updateTopic: %s", r.Remark)
	}
	if _, err := w.sendOne(topic, 6, "in-queue-6", "x"); err != nil {
		t.Fatal(err)
	}
	got := col.waitCount(t, 1, 60*time.Second)
	if got[0].Queue.QueueId != 6 {
		t.Fatalf("got a message of queue %d, want queue 6", got[0].Queue.QueueId)
	}
}
