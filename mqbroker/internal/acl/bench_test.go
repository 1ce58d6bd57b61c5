package acl_test

import (
	"bytes"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/acl"
)

// BenchmarkCheck_send is the broker's cost of ACL per 1 KiB send.
func BenchmarkCheck_send(b *testing.B) {
	p, err := acl.Parse([]byte(policyYAML))
	if err != nil {
		b.Fatal(err)
	}
	ext := map[string]string{"a": "pg", "b": "order_reback", "c": "TBW102", "d": "4", "e": "1", "f": "0",
		"g": "1733212345678", "h": "0", "i": "UNIQ_KEY\x01AC11000100002A9F0000000000000001\x02WAIT\x01true\x02", "j": "0", "k": "false", "m": "false"}
	req := signed(310, "order_srv", "order-secret", ext, string(bytes.Repeat([]byte("m"), 1024)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Check(req); err != nil {
			b.Fatal(err)
		}
	}
}
