package broker_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// BenchmarkPullFilter measures pulls (maxMsgNums 32) of 1 KiB messages from a queue of 1,024,
// without a filter, with a tag filter that keeps half of them (matched on the consume queue's
// tags hashes, so 32 are still delivered) and with a SQL92 selector that keeps the same half (the
// broker reads 32 records, evaluates the selector on each and delivers 16): the cost of
// filtering on the broker, per pull and per delivered message (ns/msg; decoding included).
func BenchmarkPullFilter(b *testing.B) {
	br := brokertest.Start(b)
	c := dialWire(b, br.BrokerAddr())
	const n = 1024
	body := strings.Repeat("x", 1024)
	for i := range n {
		tag := []string{"TagA", "TagB"}[i%2]
		if _, err := c.sendOne("benchpull", 0, fmt.Sprintf("k%d", i), body, "TAGS", tag, "a", strconv.Itoa(i%4)); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct{ name, typ, expr string }{
		{"none", "TAG", "*"},
		{"tag", "TAG", "TagA"},
		{"sql92", "SQL92", "(TAGS is not null and TAGS in ('TagA', 'TagC')) and (a is not null and a between 0 and 3)"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			offset, delivered := int64(0), 0
			for b.Loop() {
				resp, err := c.do(&remoting.Command{Code: int16(protocol.PullMessage),
					ExtFields: sqlPullExt("benchcg", "benchpull", offset, 0, tc.typ, tc.expr)}, wireTimeout)
				if err != nil {
					b.Fatal(err)
				}
				if resp.Code != int16(protocol.Success) {
					b.Fatalf("pull at %d: %s %s", offset, protocol.ResponseCode(resp.Code), resp.Remark)
				}
				msgs, err := decodeRecords(resp.Body)
				if err != nil {
					b.Fatal(err)
				}
				delivered += len(msgs)
				if offset, _ = strconv.ParseInt(resp.Ext("nextBeginOffset"), 10, 64); offset >= n-64 {
					offset = 0
				}
			}
			b.ReportMetric(float64(delivered)/float64(b.N), "msgs/op")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(delivered), "ns/msg")
		})
	}
}
