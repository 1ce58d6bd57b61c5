package remoting

import "math/bits"

// plainLen returns the length of s's longest prefix of plain JSON string
// bytes: printable ASCII (0x20–0x7F) other than '"' and '\\' — bytes that
// appear in a JSON string literal as themselves, and all that the keys and
// almost all the values of a client's header consist of. It tests eight
// bytes at a time: a byte-by-byte loop over the ~600 bytes of a send's
// request and response headers was ~15 % of the broker's instructions per
// send (callgrind: appendJSONString, scanner.plainKey, scanner.appendStr).
func plainLen[T string | []byte](s T) int {
	const (
		lo = 0x0101010101010101
		hi = 0x8080808080808080
	)
	i := 0
	for ; len(s)-i >= 8; i += 8 {
		w := s[i : i+8] // one bounds check for the eight loads below (combined into one)
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		// The high bit of each byte that is ≥ 0x80, < 0x20, '"' or '\\'.
		// A borrow from a flagged byte may flag bytes above it too, never
		// one below: the lowest flagged byte is the first special one.
		q, bs := x^(lo*'"'), x^(lo*'\\')
		m := x&hi | (x-lo*0x20)&^x&hi | (q-lo)&^q&hi | (bs-lo)&^bs&hi
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return i
		}
	}
	return len(s)
}
