package remoting

import (
	"encoding/json"
	"testing"
)

// plainLen agrees with the byte loop at every alignment, for a []byte
// and a string.
func FuzzPlainLen(f *testing.F) {
	f.Add([]byte("abcdefgh\"ijklmnop"))
	f.Add([]byte("\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x1f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for off := 0; off < len(b) && off < 9; off++ {
			s := b[off:]
			if got, want := plainLen(s), plainLenByBytes(s); got != want {
				t.Fatalf("plainLen(%q) = %d, want %d", s, got, want)
			}
			if got, want := plainLen(string(s)), plainLenByBytes(s); got != want {
				t.Fatalf("plainLen(string %q) = %d, want %d", s, got, want)
			}
		}
	})
}

// appendJSONString decodes (encoding/json) to what encoding/json's own
// encoding of s decodes to, for any bytes (invalid UTF-8 included).
func FuzzAppendJSONString(f *testing.F) {
	f.Add("plain ascii text here")
	f.Add("a\"b\\c\x00\x1f\x7f\xff\xc3\xa9\xe2\x80\xa8<>&")
	f.Fuzz(func(t *testing.T, s string) {
		enc := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: %v", s, enc, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("appendJSONString(%q) decodes to %q, encoding/json's to %q", s, got, want)
		}
		// And the broker's own scanner takes it back.
		h := append(append([]byte(`{"remark":`), enc...), '}')
		if cmd, ok := scanJSONHeader(h); ok && cmd.Remark != want {
			t.Fatalf("scanner read %q back as %q, want %q", s, cmd.Remark, want)
		}
	})
}
