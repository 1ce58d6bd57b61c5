package remoting

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

func plainLenByBytes(s []byte) int {
	for i, c := range s {
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return i
		}
	}
	return len(s)
}

// Every byte value at every position of strings up to 19 bytes long
// (covering both the 8-byte steps and the tail), alone and with another
// special byte after it (a borrow must not hide the first one).
func TestPlainLen_findsTheFirstNonPlainByte(t *testing.T) {
	for n := range 20 {
		for p := range n {
			for c := range 256 {
				for _, later := range []int{-1, 0x00, 0x1f, '"', '\\', 0x80, 0xff} {
					s := make([]byte, n)
					for i := range s {
						s[i] = 'a' + byte(i%26)
					}
					s[p] = byte(c)
					if later >= 0 && p+1 < n {
						s[n-1] = byte(later)
					}
					want := plainLenByBytes(s)
					if got := plainLen(s); got != want {
						t.Fatalf("plainLen(%q) = %d, want %d", s, got, want)
					}
					if got := plainLen(string(s)); got != want {
						t.Fatalf("plainLen(string %q) = %d, want %d", s, got, want)
					}
				}
			}
		}
	}
}

func TestPlainLen_agreesWithTheByteLoop_onRandomInput(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		s := make([]byte, r.IntN(40))
		for i := range s {
			if r.IntN(10) == 0 {
				s[i] = byte(r.IntN(256))
			} else {
				s[i] = byte(0x20 + r.IntN(0x60))
			}
		}
		if got, want := plainLen(s), plainLenByBytes(s); got != want {
			t.Fatalf("plainLen(%q) = %d, want %d", s, got, want)
		}
	}
}

// appendJSONString's output decodes (encoding/json) to its input, for
// strings with every kind of byte.
func TestAppendJSONString_roundTripsThroughEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 50000 {
		s := make([]byte, r.IntN(40))
		for i := range s {
			switch r.IntN(8) {
			case 0:
				s[i] = byte(r.IntN(0x20))
			case 1:
				s[i] = `"\`[r.IntN(2)]
			default:
				s[i] = byte(0x20 + r.IntN(0x60))
			}
		}
		if r.IntN(4) == 0 {
			s = append(s, "é€"...)
		}
		var got string
		enc := appendJSONString(nil, string(s))
		if err := json.Unmarshal(enc, &got); err != nil || got != string(s) {
			t.Fatalf("appendJSONString(%q) = %s, decodes to %q (%v)", s, enc, got, err)
		}
	}
}

// Extension fields are written in key order, both below and above the
// insertion-sort bound, and decode back to the same map.
func TestAppendFrame_writesExtFieldsInKeyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 2, 6, 16, 17, 40} {
		for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
			ext := map[string]string{}
			for len(ext) < n {
				ext[string(rune('a'+r.IntN(26)))+string(rune('a'+r.IntN(26)))+string(rune('a'+r.IntN(26)))] = string(rune('A' + r.IntN(26)))
			}
			cmd := &Command{Code: 1, ExtFields: ext, Serialize: st}
			fs := sortedFields(ext, nil)
			if len(fs) != n {
				t.Fatalf("%d fields: sortedFields gave %d", n, len(fs))
			}
			for i := 1; i < len(fs); i++ {
				if fs[i-1].k >= fs[i].k {
					t.Fatalf("%d fields: %q before %q", n, fs[i-1].k, fs[i].k)
				}
			}
			for _, f := range fs {
				if ext[f.k] != f.v {
					t.Fatalf("field %q = %q, map has %q", f.k, f.v, ext[f.k])
				}
			}
			got, err := DecodeFrame(cmd.AppendFrame(nil)[4:])
			if err != nil {
				t.Fatal(err)
			}
			if len(got.ExtFields) != n {
				t.Fatalf("%d fields (codec %d) decoded to %v", n, st, got.ExtFields)
			}
			for k, v := range ext {
				if got.ExtFields[k] != v {
					t.Fatalf("field %q = %q after a round trip, want %q", k, got.ExtFields[k], v)
				}
			}
		}
	}
}
