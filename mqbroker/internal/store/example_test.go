package store_test

import (
	"fmt"
	"log"
	"net/netip"
	"os"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/store"
)

func Example() {
	dir, err := os.MkdirTemp("", "store-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(store.Options{Dir: dir, Flush: store.FlushSync})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	m := &message.Message{
		Topic: "order_reback", QueueID: 1, Body: []byte(`{"order_sn":"S1"}`),
		StoreHost:  netip.MustParseAddrPort("127.0.0.1:10911"),
		Properties: map[string]string{message.PropTags: "reback"},
	}
	if _, err := s.Put(m); err != nil {
		log.Fatal(err)
	}
	tag := message.TagsHash("reback")
	r, err := s.Get("order_reback", 1, 0, 32, 1<<20, func(h int64) bool { return h == tag })
	if err != nil {
		log.Fatal(err)
	}
	got, _, err := message.Decode(r.Records[0])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Status, r.NextBeginOffset, string(got.Body), message.OffsetMsgID(got.StoreHost, got.PhysicalOffset))
	// Output: FOUND 1 {"order_sn":"S1"} 7F00000100002A9F0000000000000000
}
