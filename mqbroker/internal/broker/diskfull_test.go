package broker

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

func TestSend_refusedWithAClearErrorWhileTheDiskIsFull(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NamesrvAddr, cfg.BrokerAddr, cfg.DataDir, cfg.SegmentSize = "127.0.0.1:0", "127.0.0.1:0", t.TempDir(), 64<<20
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	send := func() *remoting.Command {
		return b.handleSend(nil, &remoting.Command{Code: int16(protocol.SendMessage), Body: []byte("x"), ExtFields: map[string]string{
			"producerGroup": "pg", "topic": "DiskFull", "queueId": "0", "sysFlag": "0",
			"bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10), "flag": "0", "reconsumeTimes": "0",
			"unitMode": "false", "maxReconsumeTimes": "0", "batch": "false", "defaultTopic": "TBW102",
			"defaultTopicQueueNums": "4", "properties": ""}})
	}
	b.diskFull.Store(true) // what retain sets above store.DiskFullPercent
	if resp := send(); resp.Code != int16(protocol.ServiceNotAvailable) || !strings.Contains(resp.Remark, "disk full") {
		t.Fatalf("send while the disk is full: %s %q, want SERVICE_NOT_AVAILABLE naming the full disk", protocol.ResponseCode(resp.Code), resp.Remark)
	}
	if n := b.store.MaxOffset("DiskFull", 0); n != 0 {
		t.Fatalf("%d messages stored while the disk was full", n)
	}
	b.retain() // the real file system is not full: the flag clears
	if b.diskFull.Load() {
		t.Skip("the test machine's file system is above 95 %")
	}
}
