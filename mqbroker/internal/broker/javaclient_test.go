// Replays the Java 4.9.4 client examples captured against Apache RocketMQ
// 4.9.4 (testdata/javaclient; org.apache.rocketmq.example.*: batch,
// ordered and delayed producers, lite pull, broadcasting and orderly
// consumers) against mqbroker, comparing every response code with Apache's
// and, for pulls, the messages returned. For consumers, the broker is first
// filled with the messages Apache delivered, in the same queues at the same
// offsets.

package broker_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/wiretap"
)

func loadJavaGolden(t *testing.T, name string) *wiretap.Golden {
	t.Helper()
	return loadGoldenAt(t, filepath.Join("testdata", "javaclient", name+".golden.jsonl"))
}

// seedFromPulls stores, queue by queue and in offset order, every message
// Apache returned to the pulls of g.
func seedFromPulls(t *testing.T, b *brokertest.Broker, g *wiretap.Golden) {
	t.Helper()
	type qk struct {
		topic string
		queue int32
	}
	byQueue := map[qk]map[int64]*message.Message{}
	for _, req := range g.Requests() {
		if req.Code != int16(protocol.PullMessage) {
			continue
		}
		resp, ok := g.ResponseTo(req)
		if !ok || resp.Code != int16(protocol.Success) {
			continue
		}
		cmd, err := resp.Command()
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := message.DecodeAll(cmd.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			k := qk{m.Topic, m.QueueID}
			if byQueue[k] == nil {
				byQueue[k] = map[int64]*message.Message{}
			}
			byQueue[k][m.QueueOffset] = m
		}
	}
	if len(byQueue) == 0 {
		return
	}
	c := dialWire(t, b.BrokerAddr())
	created := map[string]bool{}
	for k, ms := range byQueue {
		if !created[k.topic] {
			created[k.topic] = true
			r := javaCall(t, c, protocol.UpdateAndCreateTopic, map[string]string{"topic": k.topic, "readQueueNums": "8", "writeQueueNums": "8"}, nil)
			if r.Code != 0 {
				t.Fatalf("create %s: %s", k.topic, r.Remark)
			}
		}
		offs := make([]int64, 0, len(ms))
		for o := range ms {
			offs = append(offs, o)
		}
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		for i, o := range offs {
			if int64(i) != o {
				t.Fatalf("%s queue %d: pulled offsets not contiguous from 0 (%d at %d)", k.topic, k.queue, o, i)
			}
			m := ms[o]
			if _, err := c.sendOne(k.topic, int(k.queue), m.UniqKey(), string(m.Body), "TAGS", m.Tags()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestJavaReplay_clientExamples(t *testing.T) {
	for _, name := range []string{"batchProducer", "orderedProducer", "scheduledProducer",
		"litePullConsumer", "broadcastConsumer", "orderlyConsumer"} {
		t.Run(name, func(t *testing.T) {
			g := loadJavaGolden(t, name)
			b := startWireBroker(t, brokertest.WithConfig(func(c *broker.Config) { c.LongPollMax = 50 * time.Millisecond }))
			seedFromPulls(t, b, g)
			w := &adminWorld{b: b}
			rs := replayGolden(t, w, g)
			if len(rs) == 0 {
				t.Fatal("nothing replayed")
			}
			pulled := 0
			for _, r := range rs {
				code := protocol.Code(r.req.Code)
				if code == protocol.QueryConsumerOffset && r.golden.Code == int16(protocol.Success) && r.resp.Code == int16(protocol.QueryNotFound) {
					continue // documented deviation: a new group has no offset (ARCHITECTURE.md)
				}
				if code == protocol.PullMessage {
					if g := r.golden.Code; g >= 24 && g <= 26 {
						// SUBSCRIPTION_NOT_EXIST/NOT_LATEST/GROUP_NOT_EXIST: Apache's
						// pull raced the client's first heartbeat; mqbroker takes
						// the subscription from the pull itself.
						continue
					}
					if r.resp.Code != r.golden.Code && !(r.resp.Code == int16(protocol.PullNotFound) && r.golden.Code == int16(protocol.PullNotFound)) {
						t.Errorf("pull %v: answered %s, Apache %s", r.req.Ext, protocol.ResponseCode(r.resp.Code), protocol.ResponseCode(r.golden.Code))
						continue
					}
					if r.resp.Code == int16(protocol.Success) {
						gc, _ := r.golden.Command()
						want, _ := message.DecodeAll(gc.Body)
						got, err := message.DecodeAll(r.resp.Body)
						if err != nil || len(got) != len(want) {
							t.Errorf("pull %v: %d messages (%v), Apache %d", r.req.Ext, len(got), err, len(want))
							continue
						}
						for i := range got {
							if got[i].UniqKey() != want[i].UniqKey() || got[i].QueueOffset != want[i].QueueOffset {
								t.Errorf("pull %v: message %d is %s@%d, Apache %s@%d", r.req.Ext, i, got[i].UniqKey(), got[i].QueueOffset, want[i].UniqKey(), want[i].QueueOffset)
							}
						}
						pulled += len(got)
						if next := r.resp.Ext("nextBeginOffset"); next != strconv.FormatInt(want[len(want)-1].QueueOffset+1, 10) {
							t.Errorf("pull: nextBeginOffset %s, want %d", next, want[len(want)-1].QueueOffset+1)
						}
					}
					continue
				}
				checkResponse(t, name, r) // code, and the field names of JSON bodies (routes, locks)
			}
			t.Log(fmt.Sprintf("%d requests replayed, %d messages pulled", len(rs), pulled))
		})
	}
}
