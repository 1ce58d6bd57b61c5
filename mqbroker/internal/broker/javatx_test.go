// Replays the Java 4.9.4 client's transaction producer example
// (org.apache.rocketmq.example.transaction.TransactionProducer), captured
// against Apache RocketMQ 4.9.4 in testdata/javaclient, against mqbroker:
// the route lookups (TOPIC_NOT_EXIST, then the default topic), the half
// messages, the oneway END_TRANSACTION "unknown" after the local
// transaction, then the broker's CHECK_TRANSACTION_STATE and the client's
// answers from the capture (commit, rollback or still unknown).

package broker_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
	"github.com/shopsaga/shopsaga/mqbroker/internal/wiretap"
)

func TestJavaReplay_transactionProducerWithCheckBack(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "javaclient", "transactionProducer.golden.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := wiretap.Parse(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	b := startWireBroker(t, brokertest.WithTxTimeout(300*time.Millisecond), brokertest.WithTxCheckInterval(300*time.Millisecond))
	ns := dialWire(t, b.NamesrvAddr())
	prod := dialWire(t, b.BrokerAddr())

	// What the client answers to a check of each message (by unique key), from the capture.
	answers := map[string]string{}
	checkExt := map[string]bool{}
	for _, fr := range g.Frames {
		if fr.Code == int16(protocol.EndTransaction) && fr.From == "client" && fr.Ext["fromTransactionCheck"] == "true" {
			answers[fr.Ext["msgId"]] = fr.Ext["commitOrRollback"]
		}
		if fr.Code == int16(protocol.CheckTransactionState) && fr.From == "server" {
			for k := range fr.Ext {
				checkExt[k] = true
			}
		}
	}
	if len(answers) == 0 || len(checkExt) == 0 {
		t.Fatal("the capture holds no check-back")
	}

	halves := map[string]int64{} // unique key → our commit-log offset
	for _, req := range g.Requests() {
		cmd, err := req.Command()
		if err != nil {
			t.Fatal(err)
		}
		if cmd.Code == int16(protocol.EndTransaction) && cmd.Ext("fromTransactionCheck") == "true" {
			continue // answered below, when mqbroker checks
		}
		c := ns
		if req.Route == "broker" {
			c = prod
		}
		if cmd.Code == int16(protocol.EndTransaction) {
			uniq := cmd.Ext("msgId")
			cmd.SetExtInt("commitLogOffset", halves[uniq])
			if err := c.writeRaw(cmd.AppendFrame(nil)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if cmd.Code == int16(protocol.UnregisterClient) {
			break // the capture's end: the producer shut down
		}
		resp, err := c.do(cmd, wireTimeout)
		if err != nil {
			t.Fatal(err)
		}
		golden, ok := g.ResponseTo(req)
		if ok && resp.Code != golden.Code {
			t.Fatalf("%s %v: answered %s (%q), Apache answered %s", protocol.Code(cmd.Code), cmd.ExtFields,
				protocol.ResponseCode(resp.Code), resp.Remark, protocol.ResponseCode(golden.Code))
		}
		if cmd.Code == int16(protocol.SendMessageV2) {
			_, phys, err := message.ParseOffsetMsgID(resp.Ext("msgId"))
			if err != nil {
				t.Fatal(err)
			}
			halves[message.DecodeProperties(cmd.Ext("i"))[message.PropUniqKey]] = phys
		}
	}
	if len(halves) != 10 {
		t.Fatalf("%d half messages stored, want 10", len(halves))
	}

	// mqbroker checks every undecided half; answer as the Java client did.
	decided := map[string]string{}
	deadline := time.After(20 * time.Second)
	for len(decided) < len(halves) {
		var check *remoting.Command
		select {
		case check = <-prod.pushed:
		case <-deadline:
			t.Fatalf("checked back %d of %d half messages", len(decided), len(halves))
		}
		if check.Code != int16(protocol.CheckTransactionState) {
			continue
		}
		for k := range checkExt {
			if check.Ext(k) == "" && k != "AccessKey" && k != "Signature" {
				t.Errorf("CHECK_TRANSACTION_STATE lacks ext field %s that Apache sends: %v", k, check.ExtFields)
			}
		}
		msgs, err := message.DecodeAll(check.Body)
		if err != nil || len(msgs) != 1 || msgs[0].Property(message.PropTransactionPrepared) != "true" {
			t.Fatalf("check body: %v %d messages", err, len(msgs))
		}
		uniq := check.Ext("msgId")
		answer, ok := answers[uniq]
		if !ok {
			t.Fatalf("check of %s, which the capture does not know", uniq)
		}
		if answer == "0" {
			answer = "8" // the example commits on a later check; commit now to finish
		}
		decided[uniq] = answer
		end := &remoting.Command{Code: int16(protocol.EndTransaction), Flag: remoting.FlagOneway, ExtFields: map[string]string{
			"producerGroup": "please_rename_unique_group_name", "tranStateTableOffset": check.Ext("tranStateTableOffset"),
			"commitLogOffset": check.Ext("commitLogOffset"), "commitOrRollback": answer, "fromTransactionCheck": "true",
			"msgId": uniq, "transactionId": check.Ext("transactionId")}}
		if err := prod.writeRaw(end.AppendFrame(nil)); err != nil {
			t.Fatal(err)
		}
	}

	// Committed messages are visible in the topic, rolled-back ones are not.
	want := 0
	for _, a := range decided {
		if a == "8" {
			want++
		}
	}
	waitFor(t, "the committed messages", func() bool {
		n := 0
		for q := range 4 {
			r := javaCall(t, prod, protocol.GetMaxOffset, map[string]string{"topic": "TopicTest1234", "queueId": strconv.Itoa(q)}, nil)
			v, _ := strconv.Atoi(r.Ext("offset"))
			n += v
		}
		return n == want
	})
}
