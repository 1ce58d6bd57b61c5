//go:build !race

package mqclient

import (
	"context"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

type unknownThenCommit struct{ checked chan string }

func (l *unknownThenCommit) ExecuteLocalTransaction(*primitive.Message) primitive.LocalTransactionState {
	return primitive.UnknowState
}

func (l *unknownThenCommit) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	select {
	case l.checked <- m.GetProperty(primitive.PropertyUniqueClientMessageIdKeyIndex):
	default:
	}
	return primitive.CommitMessageState
}

// The compose policy with review finding 3's permissions (PUB on the
// producer group for heartbeats and END_TRANSACTION, PUB on the half's
// topic for check-backs and decisions): order_srv's transaction producer
// still sends its stock returns as halves, is checked back, and commits.
func TestCredentials_orderSrvsTransactionProducerIsCheckedBack_againstABrokerWithACL(t *testing.T) {
	b := startComposeACLBroker(t, brokertest.WithTxTimeout(200*time.Millisecond),
		brokertest.WithTxCheckInterval(200*time.Millisecond))
	l := &unknownThenCommit{checked: make(chan string, 1)}
	c := Credentials{AccessKey: "order_srv", SecretKey: "order-secret-1"}
	p, err := rocketmq.NewTransactionProducer(l, append([]producer.Option{
		producer.WithNameServer([]string{b.NamesrvAddr()}),
		producer.WithGroupName("order_srv_tx"),
		producer.WithInstanceName(InstanceName("acl-tx-test")),
		producer.WithRetry(0),
	}, c.ProducerOptions()...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.SendMessageInTransaction(ctx, primitive.NewMessage("order_reback", []byte("stock return")))
	if err != nil {
		t.Fatalf("half to order_reback: %v", err)
	}
	select {
	case id := <-l.checked:
		if id != res.MsgID {
			t.Fatalf("checked back %q, want %q", id, res.MsgID)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("order_srv's transaction producer was not checked back within 15 s")
	}
}
