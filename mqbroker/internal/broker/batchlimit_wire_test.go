package broker_test

import (
	"strings"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
)

// Review finding 6: a SEND_BATCH body of tiny items is refused with a clear
// error, and nothing of it is stored.
func TestSendBatch_ofMoreThanMaxBatchItems_isRefusedWithAClearError(t *testing.T) {
	b := startWireBroker(t)
	c := dialWire(t, b.BrokerAddr())
	var body []byte
	for i := 0; i <= message.MaxBatchItems; i++ {
		body = message.EncodeBatchItem(body, message.BatchItem{Body: []byte("x")})
	}
	resp := c.mustCall(t, protocol.SendBatchMessage, batchExt("WireBatchLimit", 0), body)
	if resp.Code != int16(protocol.MessageIllegal) || !strings.Contains(resp.Remark, "more than 16384 messages") {
		t.Fatalf("batch of %d items: %s %q, want MESSAGE_ILLEGAL naming the limit", message.MaxBatchItems+1, protocol.ResponseCode(resp.Code), resp.Remark)
	}
	if got, err := c.pullAll("WireBatchLimit", 4); err != nil || len(got) != 0 {
		t.Fatalf("after the refused batch the topic holds %d messages (%v)", len(got), err)
	}
}
