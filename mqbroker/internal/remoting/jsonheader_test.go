package remoting

import (
	"maps"
	"testing"
)

// clientHeaders are JSON headers as the Go client (jsoniter) and the Java
// client (fastjson) write them; the scanner must take them itself.
var clientHeaders = []string{
	`{"code":310,"language":"GO","version":317,"opaque":42,"flag":0,"remark":"","extFields":{"a":"pg","b":"TopicA","c":"TBW102","d":"4","e":"1","f":"0","g":"1795236133716","h":"0","i":"TAGS\u0001TagA\u0002KEYS\u0001k1 k2\u0002UNIQ_KEY\u0001C0000202108700000000680190880001\u0002","j":"0","k":"false","l":"0","m":"false"}}`,
	`{"code":34,"language":"GO","version":317,"opaque":1,"flag":0,"remark":""}`,
	`{"code":11,"extFields":{"consumerGroup":"cg","topic":"T","queueId":"3","queueOffset":"12","maxMsgNums":"32","sysFlag":"6","commitOffset":"0","suspendTimeoutMillis":"20000","subscription":"*","subVersion":"0","expressionType":"TAG"},"flag":0,"language":"JAVA","opaque":7,"version":395}`,
	` { "code" : -1 , "remark" : "tab\tis \"escaped\" \\ \/ é \u00e9 \u20ac" , "extFields" : { } } `,
	`{"code":1,"flag":3,"opaque":-2147483648,"version":-32768}`,
	`{}`,
}

func TestScanJSONHeader_takesTheClientsHeaders(t *testing.T) {
	for _, h := range clientHeaders {
		got, ok := scanJSONHeader([]byte(h))
		if !ok {
			t.Fatalf("scanner refused %s", h)
		}
		want, err := decodeJSONHeader([]byte(h))
		if err != nil {
			t.Fatalf("encoding/json refused %s: %v", h, err)
		}
		assertSameHeader(t, h, got, want)
	}
}

func TestScanJSONHeader_leavesTheRestToEncodingJSON(t *testing.T) {
	for _, h := range []string{
		``, `null`, `[]`, `{`, `{"code":1,}`, `{"code":1}x`, `{"Code":1}`, `{"code":1,"code":2}`,
		`{"code":1.0}`, `{"code":1e2}`, `{"code":01}`, `{"code":32768}`, `{"opaque":2147483648}`, `{"code":-}`,
		`{"code":null}`, `{"remark":null}`, `{"language":9}`, `{"extFields":null}`, `{"extFields":{"a":1}}`,
		`{"extFields":{"a":"1","a":"2"},"extFields":{}}`, `{"remark":"\ud83d\ude00"}`, `{"remark":"\x"}`,
		"{\"remark\":\"\xff\"}", "{\"remark\":\"a\nb\"}", `{"other":1}`, `{"extFields":{"k\"":"v"}}`,
	} {
		if _, ok := scanJSONHeader([]byte(h)); ok {
			t.Errorf("scanner took %q; it must leave it to encoding/json", h)
		}
	}
}

// FuzzScanJSONHeader: the scanner never panics, and whatever it takes,
// encoding/json (the specification) decodes to the same Command.
func FuzzScanJSONHeader(f *testing.F) {
	for _, h := range clientHeaders {
		f.Add([]byte(h))
	}
	f.Add([]byte(`{"extFields":{"a":"1","a":"2"}}`))
	f.Add([]byte(`{"remark":"\u0000\u001f\ud800"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := scanJSONHeader(b)
		if !ok {
			return
		}
		want, err := decodeJSONHeader(b)
		if err != nil {
			t.Fatalf("scanner took %q, encoding/json refuses it: %v", b, err)
		}
		assertSameHeader(t, string(b), got, want)
	})
}

func assertSameHeader(t *testing.T, h string, got, want *Command) {
	t.Helper()
	if got.Code != want.Code || got.Language != want.Language || got.Version != want.Version || got.Opaque != want.Opaque ||
		got.Flag != want.Flag || got.Remark != want.Remark || (got.ExtFields == nil) != (want.ExtFields == nil) ||
		!maps.Equal(got.ExtFields, want.ExtFields) {
		t.Fatalf("%s:\nscanner       %+v\nencoding/json %+v", h, *got, *want)
	}
}

func BenchmarkDecodeJSONHeader(b *testing.B) {
	h := []byte(clientHeaders[0])
	b.Run("scanner", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, ok := scanJSONHeader(h); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := decodeJSONHeader(h); err != nil {
				b.Fatal(err)
			}
		}
	})
}
