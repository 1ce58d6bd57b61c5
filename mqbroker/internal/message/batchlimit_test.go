package message

import (
	"errors"
	"strings"
	"testing"
)

// Review finding 6: a 4 MiB body of 1-byte items decoded into ~180k
// items (~18x the frame) before any budget applied.
func TestDecodeBatch_refusesMoreThanMaxBatchItems_beforeAllocating(t *testing.T) {
	var body []byte
	for len(body) < 4<<20-64 {
		body = EncodeBatchItem(body, BatchItem{Body: []byte("x")})
	}
	allocs := testing.AllocsPerRun(3, func() {
		items, err := DecodeBatch(body)
		if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "more than 16384 messages") {
			t.Fatalf("DecodeBatch of ~150k items: %d items, %v; want an error naming the limit", len(items), err)
		}
	})
	if allocs > 10 {
		t.Fatalf("refusing the batch took %.0f allocations, want a handful (nothing per item)", allocs)
	}

	var ok []byte
	for i := 0; i < MaxBatchItems; i++ {
		ok = EncodeBatchItem(ok, BatchItem{Body: []byte("x"), Properties: map[string]string{"UNIQ_KEY": "k"}})
	}
	items, err := DecodeBatch(ok)
	if err != nil || len(items) != MaxBatchItems {
		t.Fatalf("a batch of exactly %d items: %d, %v", MaxBatchItems, len(items), err)
	}
}
