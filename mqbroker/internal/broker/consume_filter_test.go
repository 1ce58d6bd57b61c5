//go:build !race

// SQL92 selectors driven by the official client (see consume_test.go for why
// these run without -race; wire_filter_test.go covers the broker under it).

package broker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
)

// sendWithA sends one message per value, with property a set to it (none for "") and tag tag;
// the body is "a=<value>".
func sendWithA(t testing.TB, p rocketmq.Producer, topic, tag string, values ...string) {
	t.Helper()
	for _, v := range values {
		m := primitive.NewMessage(topic, []byte("a="+v))
		m.WithTag(tag)
		if v != "" {
			m.WithProperty("a", v)
		}
		if _, err := p.SendSync(context.Background(), m); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
}

func TestSQL92_pushConsumer_receivesExactlyTheMatchingMessages_andCommitsToTheEnd(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithDefaultQueues(1))
	topic, group := uniq("SqlPush"), uniq("cg")
	p := newProducer(t, b)
	sendWithA(t, p, topic, "TagA", "7", "0", "x", "", "2", "9", "3", "10", "1")
	sendWithA(t, p, topic, "TagC", "1") // fails the TAGS condition
	sendWithA(t, p, topic, "TagB", "3") // the last message matches: when it arrives, the queue was read to the end
	col := newCollector()
	startConsumer(t, b, topic, consumerCfg{group: group, listen: collectInto(col),
		selector: consumer.MessageSelector{Type: consumer.SQL92,
			Expression: "(TAGS is not null and TAGS in ('TagA', 'TagB')) and (a is not null and a between 0 and 3)"}})
	want := []string{"a=0", "a=1", "a=2", "a=3", "a=3"}
	col.waitCount(t, len(want), 30*time.Second)
	// Skipped messages do not hold the group back: its offset reaches the end of the queue.
	// The push consumer commits an offset only once everything before it was consumed, so from
	// then on the collection is complete.
	c := dialWire(t, b.BrokerAddr())
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := queryOffset(c, group, topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Code == 0 && resp.Ext("offset") == "11" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed offset %s (%s), want 11", resp.Ext("offset"), protocol.ResponseCode(resp.Code))
		}
		select {
		case <-col.ch:
		case <-time.After(200 * time.Millisecond):
		}
	}
	if got := bodies(col.snapshot()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("consumed %v, want exactly %v", got, want)
	}
}

func startPullConsumer(t testing.TB, b *brokertest.Broker, topic, expr string) rocketmq.PullConsumer {
	t.Helper()
	pc, err := rocketmq.NewPullConsumer(
		consumer.WithNameServer([]string{b.NamesrvAddr()}),
		consumer.WithGroupName(uniq("pull")),
		consumer.WithInstance(uniq("pc")),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe(topic, consumer.MessageSelector{Type: consumer.SQL92, Expression: expr}); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Shutdown() })
	return pc
}

func TestSQL92_pullConsumer_pullFromAndPoll_receiveExactlyTheMatchingMessages(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithDefaultQueues(1))
	topic := uniq("SqlPull")
	p := newProducer(t, b)
	sendWithA(t, p, topic, "T", "5", "0", "4", "1", "abc", "", "2", "3", "6")
	pc := startPullConsumer(t, b, topic, "a BETWEEN 0 AND 3")

	// PullFrom: one answer with the matches, and the next offset past all nine.
	mq := &primitive.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueId: 0}
	res, err := pc.PullFrom(context.Background(), mq, 0, 32)
	if err != nil {
		t.Fatal(err)
	}
	if got := bodies(res.GetMessageExts()); res.Status != primitive.PullFound || fmt.Sprint(got) != "[a=0 a=1 a=2 a=3]" || res.NextBeginOffset != 9 {
		t.Fatalf("PullFrom: %v %v next=%d, want [a=0 a=1 a=2 a=3] next=9", res.Status, got, res.NextBeginOffset)
	}

	// Poll (the consumer's own pull loop) delivers the same and nothing else.
	var polled []*primitive.MessageExt
	deadline := time.Now().Add(30 * time.Second)
	for len(polled) < 4 && time.Now().Before(deadline) {
		cr, err := pc.Poll(context.Background(), 2*time.Second)
		if consumer.IsNoNewMsgError(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		polled = append(polled, cr.GetMsgList()...)
		pc.ACK(context.Background(), cr, consumer.ConsumeSuccess)
	}
	if got := bodies(polled); fmt.Sprint(got) != "[a=0 a=1 a=2 a=3]" {
		t.Fatalf("Poll delivered %v, want [a=0 a=1 a=2 a=3]", got)
	}
	// A later match is found past the non-matching ones.
	sendWithA(t, p, topic, "T", "9", "8", "2")
	cr, err := pc.Poll(context.Background(), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := bodies(cr.GetMsgList()); fmt.Sprint(got) != "[a=2]" {
		t.Fatalf("Poll after more sends: %v, want [a=2]", got)
	}
}

func TestSQL92_pullConsumer_badExpression_returnsTheBrokersError(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithDefaultQueues(1))
	topic := uniq("SqlPullBad")
	p := newProducer(t, b)
	sendWithA(t, p, topic, "T", "1")
	pc := startPullConsumer(t, b, topic, "a BETWEEN 3")
	mq := &primitive.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueId: 0}
	_, err := pc.PullFrom(context.Background(), mq, 0, 32)
	if err == nil {
		t.Fatal("PullFrom with a bad SQL92 expression succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, strconv.Itoa(int(protocol.SubscriptionParseFailed))) || !strings.Contains(msg, "invalid SQL92 expression") {
		t.Fatalf("PullFrom error %q: want the broker's SUBSCRIPTION_PARSE_FAILED and its reason", msg)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
}
