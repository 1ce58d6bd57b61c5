package message

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/primitive"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func sampleMessage() *Message {
	return &Message{
		Topic:                     "TopicA",
		QueueID:                   3,
		Flag:                      7,
		QueueOffset:               42,
		PhysicalOffset:            0x4E9,
		SysFlag:                   SysFlagTransactionPrepared,
		BornTimestamp:             1795236133716,
		BornHost:                  netip.MustParseAddrPort("192.0.2.2:51000"),
		StoreTimestamp:            1795236133800,
		StoreHost:                 netip.MustParseAddrPort("127.0.0.1:45725"),
		ReconsumeTimes:            2,
		PreparedTransactionOffset: 99,
		Body:                      []byte("hello, saga"),
		Properties: map[string]string{
			PropTags:    "TagA",
			PropKeys:    "k1 k2",
			PropUniqKey: "C0000202108700000000680190880001",
		},
	}
}

func TestEncode_matchesGoldenBytes(t *testing.T) {
	got := sampleMessage().Encode()
	path := filepath.Join("testdata", "record_v1.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding changed:\n got %x\nwant %x", got, want)
	}
}

func TestEncode_totalSizeIsExact(t *testing.T) {
	m := sampleMessage()
	b := m.Encode()
	if len(b) != m.EncodedSize() {
		t.Fatalf("len %d, EncodedSize %d", len(b), m.EncodedSize())
	}
	if got := int(int32(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))); got != len(b) {
		t.Fatalf("TOTALSIZE %d, record %d bytes", got, len(b))
	}
}

func TestDecode_roundTripsEncode(t *testing.T) {
	v4 := sampleMessage()
	v6 := sampleMessage()
	v6.BornHost = netip.MustParseAddrPort("[2001:db8::1]:1234")
	v6.StoreHost = netip.MustParseAddrPort("[2001:db8::2]:10911")
	empty := &Message{Topic: "t"}
	for name, m := range map[string]*Message{"ipv4": v4, "ipv6": v6, "empty": empty} {
		t.Run(name, func(t *testing.T) {
			b := m.Encode()
			got, n, err := Decode(append(b, 0xFF)) // trailing garbage belongs to the next record
			if err != nil {
				t.Fatal(err)
			}
			if n != len(b) {
				t.Fatalf("n = %d, want %d", n, len(b))
			}
			want := m.Clone()
			want.SysFlag = m.SysFlag
			if m.BornHost.Addr().Is6() {
				want.SysFlag |= SysFlagBornHostV6
			}
			if m.StoreHost.Addr().Is6() {
				want.SysFlag |= SysFlagStoreHostV6
			}
			if !m.BornHost.IsValid() {
				want.BornHost = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
				want.StoreHost = want.BornHost
			}
			if want.Body == nil {
				want.Body = []byte{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestEncode_isDecodedIdenticallyByOfficialClient(t *testing.T) {
	m := sampleMessage()
	m2 := sampleMessage()
	m2.Topic, m2.QueueID, m2.PhysicalOffset, m2.Properties = "TopicB", 0, 0x1000, nil
	body := append(m.Encode(), m2.Encode()...)

	got := primitive.DecodeMessage(body)
	if len(got) != 2 {
		t.Fatalf("client decoded %d messages, want 2", len(got))
	}
	for i, want := range []*Message{m, m2} {
		c := got[i]
		if c.Topic != want.Topic || int32(c.Queue.QueueId) != want.QueueID || c.QueueOffset != want.QueueOffset ||
			c.CommitLogOffset != want.PhysicalOffset || !bytes.Equal(c.Body, want.Body) ||
			c.ReconsumeTimes != want.ReconsumeTimes || c.Flag != want.Flag || c.SysFlag != want.SysFlag ||
			c.BornTimestamp != want.BornTimestamp || c.StoreTimestamp != want.StoreTimestamp ||
			c.PreparedTransactionOffset != want.PreparedTransactionOffset || c.StoreSize != int32(want.EncodedSize()) {
			t.Errorf("message %d: client decoded %+v, want %+v", i, c, want)
		}
		if c.StoreHost != want.StoreHost.String() || c.BornHost != want.BornHost.String() {
			t.Errorf("message %d: hosts %s %s, want %s %s", i, c.BornHost, c.StoreHost, want.BornHost, want.StoreHost)
		}
		wantProps := want.Properties
		if wantProps == nil {
			wantProps = map[string]string{}
		}
		if !reflect.DeepEqual(c.GetProperties(), wantProps) {
			t.Errorf("message %d: properties %v, want %v", i, c.GetProperties(), wantProps)
		}
		if id := OffsetMsgID(want.StoreHost, want.PhysicalOffset); c.OffsetMsgId != id {
			t.Errorf("message %d: client OffsetMsgId %s, ours %s", i, c.OffsetMsgId, id)
		}
		if c.MsgId != want.MsgID() {
			t.Errorf("message %d: client MsgId %s, ours %s", i, c.MsgId, want.MsgID())
		}
	}
}

func TestAppendEncode_rejectsUnencodableMessages(t *testing.T) {
	long := make([]byte, 128)
	for i := range long {
		long[i] = 'a'
	}
	big := make([]byte, 40000)
	cases := map[string]*Message{
		"empty topic":      {},
		"topic too long":   {Topic: string(long)},
		"separator in key": {Topic: "t", Properties: map[string]string{"a\x01": "b"}},
		"separator in val": {Topic: "t", Properties: map[string]string{"a": "b\x02"}},
		"properties >32k":  {Topic: "t", Properties: map[string]string{"a": string(big)}},
	}
	for name, m := range cases {
		if _, err := m.AppendEncode(nil); err == nil {
			t.Errorf("%s: no error", name)
		}
		if m.Encode() != nil {
			t.Errorf("%s: Encode returned bytes", name)
		}
	}
}

func TestDecode_rejectsTruncatedRecordsAtEveryLength(t *testing.T) {
	b := sampleMessage().Encode()
	for n := 0; n < len(b); n++ {
		if _, _, err := Decode(b[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Decode(%d of %d bytes): err = %v, want ErrMalformed", n, len(b), err)
		}
	}
}

func TestDecodeAll_decodesConcatenation(t *testing.T) {
	a, b := sampleMessage(), sampleMessage()
	b.QueueOffset = 43
	ms, err := DecodeAll(append(a.Encode(), b.Encode()...))
	if err != nil || len(ms) != 2 || ms[1].QueueOffset != 43 {
		t.Fatalf("DecodeAll = %v, %v", ms, err)
	}
	if _, err := DecodeAll(append(a.Encode(), 1, 2, 3)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing garbage: err = %v", err)
	}
}

func TestProperties_encodeSortedAndDecodeLikeTheClient(t *testing.T) {
	p := map[string]string{"b": "2", "a": "1", "c": ""}
	if got, want := EncodeProperties(p), "a\x011\x02b\x012\x02c\x01\x02"; got != want {
		t.Fatalf("EncodeProperties = %q, want %q", got, want)
	}
	got := DecodeProperties("a\x011\x02junk\x02x\x01y\x01z\x02\x02b\x012")
	if want := map[string]string{"a": "1", "b": "2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeProperties = %v, want %v", got, want)
	}
	if v, ok := PropertyValue([]byte("a\x011\x02TAGS\x01TagA\x02"), "TAGS"); !ok || string(v) != "TagA" {
		t.Fatalf("PropertyValue = %q, %v", v, ok)
	}
	if _, ok := PropertyValue([]byte("a\x011\x02"), "TAGS"); ok {
		t.Fatal("PropertyValue found a missing key")
	}
}

func TestTagsHash_matchesJavaStringHashCode(t *testing.T) {
	cases := []struct {
		s    string
		want int64
	}{
		{"", 0},
		{"TagA", 2598919}, // PROTOCOL.md §2.4 (captured codeSet)
		{"TagB", 2598920},
		{"hello", 99162322},
		{"Hello World", -862545276},      // overflows int32: sign must be kept
		{"\U0001F600", 55357*31 + 56832}, // surrogate pair D83D DE00
	}
	for _, c := range cases {
		if got := TagsHash(c.s); got != c.want {
			t.Errorf("TagsHash(%q) = %d, want %d", c.s, got, c.want)
		}
		if got := TagsHashBytes([]byte(c.s)); got != c.want {
			t.Errorf("TagsHashBytes(%q) = %d, want %d", c.s, got, c.want)
		}
	}
}

func TestOffsetMsgID_matchesCapturedIDAndParses(t *testing.T) {
	host := netip.MustParseAddrPort("127.0.0.1:45725")
	id := OffsetMsgID(host, 0x4E9)
	if id != "7F0000010000B29D00000000000004E9" { // PROTOCOL.md §3.4 [captured]
		t.Fatalf("OffsetMsgID = %s", id)
	}
	if got := primitive.CreateMessageId([]byte{127, 0, 0, 1}, 45725, 0x4E9); got != id {
		t.Fatalf("client CreateMessageId = %s, ours %s", got, id)
	}
	h, off, err := ParseOffsetMsgID(id)
	if err != nil || h != host || off != 0x4E9 {
		t.Fatalf("ParseOffsetMsgID = %v %d %v", h, off, err)
	}
	v6 := netip.MustParseAddrPort("[2001:db8::1]:10911")
	if h, off, err := ParseOffsetMsgID(OffsetMsgID(v6, 77)); err != nil || h != v6 || off != 77 {
		t.Fatalf("IPv6 round trip = %v %d %v", h, off, err)
	}
	for _, bad := range []string{"", "7F00", "ZZ0000010000B29D00000000000004E9"} {
		if _, _, err := ParseOffsetMsgID(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseOffsetMsgID(%q): err = %v", bad, err)
		}
	}
}

func TestDecodeBatch_decodesOfficialClientMarshal(t *testing.T) {
	var body []byte
	var want []BatchItem
	for i, b := range []string{"one", "two", ""} {
		m := primitive.NewMessage("TopicA", []byte(b))
		m.WithTag("TagA")
		m.WithKeys([]string{"k" + string(rune('0'+i))})
		m.Flag = int32(i)
		body = append(body, m.Marshal()...)
		want = append(want, BatchItem{Flag: int32(i), Body: []byte(b), Properties: m.GetProperties()})
	}
	got, err := DecodeBatch(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d items, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Flag != want[i].Flag || !bytes.Equal(got[i].Body, want[i].Body) || !reflect.DeepEqual(got[i].Properties, want[i].Properties) {
			t.Errorf("item %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// Our encoder writes the same format.
	var ours []byte
	for _, it := range want {
		ours = EncodeBatchItem(ours, it)
	}
	if again, err := DecodeBatch(ours); err != nil || len(again) != len(want) {
		t.Fatalf("DecodeBatch(EncodeBatchItem) = %d items, %v", len(again), err)
	}
}

func TestDecodeBatch_rejectsMalformedBodies(t *testing.T) {
	good := EncodeBatchItem(nil, BatchItem{Body: []byte("x"), Properties: map[string]string{"a": "b"}})
	for n := 0; n < len(good); n++ {
		if _, err := DecodeBatch(good[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("DecodeBatch(%d of %d bytes): err = %v", n, len(good), err)
		}
	}
	bad := append([]byte(nil), good...)
	bad[19] = 0xFF // BODYLEN low byte: body runs past the item
	if _, err := DecodeBatch(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad body length: err = %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(sampleMessage().Encode())
	v6 := sampleMessage()
	v6.StoreHost = netip.MustParseAddrPort("[2001:db8::2]:10911")
	f.Add(v6.Encode())
	f.Add([]byte{0, 0, 0, 91})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("n = %d for %d bytes", n, len(b))
		}
		// Encoding what was decoded is a fixed point after one cycle (the first cycle may
		// normalise, e.g. an IPv4-mapped IPv6 host becomes IPv4, duplicate properties collapse).
		re := m.Encode()
		if re == nil {
			t.Fatalf("decoded message is not encodable: %+v", m)
		}
		m2, _, err := Decode(re)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if re2 := m2.Encode(); !bytes.Equal(re, re2) {
			t.Fatalf("encode(decode(x)) is not stable:\n%x\n%x", re, re2)
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(EncodeBatchItem(EncodeBatchItem(nil, BatchItem{Body: []byte("a")}), BatchItem{Flag: 1, Properties: map[string]string{"k": "v"}}))
	f.Add([]byte{0, 0, 0, 22})
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := DecodeBatch(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if len(items) == 0 {
			t.Fatal("no items and no error")
		}
	})
}
