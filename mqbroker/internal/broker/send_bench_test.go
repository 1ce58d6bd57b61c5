package broker_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
)

// BenchmarkSend measures SEND_MESSAGE round trips of 1 KiB bodies through the
// whole broker (remoting, handler, store) from the minimal wire client, whose
// own cost is far below rocketmq-client-go's, so the broker's part shows.
// Properties are what rocketmq-client-go v2.1.2 puts on a plain SendSync.
// mqbroker/bench measures the same path with the official client.
func BenchmarkSend(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts []brokertest.Option
	}{{"async", nil}, {"sync", []brokertest.Option{brokertest.WithSyncFlush()}}} {
		for _, par := range []int{1, 16} {
			b.Run(fmt.Sprintf("flush=%s/conc=%d", mode.name, par), func(b *testing.B) {
				br := brokertest.Start(b, mode.opts...)
				c := dialWire(b, br.BrokerAddr())
				body := []byte(strings.Repeat("x", 1024))
				if _, err := c.call(protocol.SendMessage, sendExt("bench", 0, 0, props("UNIQ_KEY", "warm", "WAIT", "true")), body); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				b.SetParallelism(par) // par × GOMAXPROCS goroutines on one connection
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						i++
						key := fmt.Sprintf("7F000001%08X%016X", i, i)
						resp, err := c.call(protocol.SendMessage, sendExt("bench", i%4, 0, props("UNIQ_KEY", key, "WAIT", "true")), body)
						if err != nil {
							b.Error(err)
							return
						}
						if resp.Code != int16(protocol.Success) {
							b.Errorf("send answered %d: %s", resp.Code, resp.Remark)
							return
						}
					}
				})
			})
		}
	}
}
