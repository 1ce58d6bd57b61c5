package remoting

import (
	"unicode/utf8"
)

// scanJSONHeader decodes the JSON header shape the clients send — one
// object with some of the keys code, language, version, opaque, flag,
// remark and extFields, spelled exactly so, each at most once, with integer
// numbers in range, string language and remark, and an object of string
// values as extFields — without reflection. It reports false for anything
// else (other or repeated keys, null, fractions, exponents, surrogate
// escapes, invalid UTF-8, any syntax error); the caller then decodes with
// encoding/json, which is thus the specification: whatever this accepts,
// encoding/json decodes to the same Command (FuzzScanJSONHeader).
//
// encoding/json took ~20 % of a send's CPU in the broker (and in the null
// responder) before: reflection, a validating pre-pass and one allocation
// per string. Here the extension values share one allocation.
func scanJSONHeader(b []byte) (*Command, bool) {
	s := scanner{b: b}
	cmd := &Command{}
	var seen uint8
	s.ws()
	ok := s.object(func(key []byte) bool {
		bit, ok := uint8(0), false
		switch string(key) {
		case "code":
			bit, ok = 1<<0, s.int16(&cmd.Code)
		case "language":
			bit = 1 << 1
			cmd.Language, ok = s.str()
		case "version":
			bit, ok = 1<<2, s.int16(&cmd.Version)
		case "opaque":
			bit, ok = 1<<3, s.int32(&cmd.Opaque)
		case "flag":
			bit, ok = 1<<4, s.int32(&cmd.Flag)
		case "remark":
			bit = 1 << 5
			cmd.Remark, ok = s.str()
		case "extFields":
			bit = 1 << 6
			cmd.ExtFields, ok = s.extFields()
		}
		if !ok || bit == 0 || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
	s.ws()
	return cmd, ok && len(s.b) == 0
}

// object reads an object whose keys are plain strings (plainKey), calling
// value for each key to read its value; it reports false at the first
// syntax error or when value does.
func (s *scanner) object(value func(key []byte) bool) bool {
	if !s.byte('{') {
		return false
	}
	s.ws()
	if s.byte('}') {
		return true
	}
	for {
		key, ok := s.plainKey()
		if !ok {
			return false
		}
		s.ws()
		if !s.byte(':') {
			return false
		}
		s.ws()
		if !value(key) {
			return false
		}
		s.ws()
		if s.byte('}') {
			return true
		}
		if !s.byte(',') {
			return false
		}
		s.ws()
	}
}

// scanner consumes b from the front.
type scanner struct {
	b []byte
}

func (s *scanner) ws() {
	for len(s.b) > 0 && (s.b[0] == ' ' || s.b[0] == '\t' || s.b[0] == '\n' || s.b[0] == '\r') {
		s.b = s.b[1:]
	}
}

func (s *scanner) byte(c byte) bool {
	if len(s.b) > 0 && s.b[0] == c {
		s.b = s.b[1:]
		return true
	}
	return false
}

// plainKey reads a string without escapes (all keys of the header and of
// the extension fields the clients send are plain ASCII); it aliases b.
func (s *scanner) plainKey() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	// A key ends at its first non-plain byte, which must be the closing quote.
	if i := plainLen(s.b); i < len(s.b) && s.b[i] == '"' {
		k := s.b[:i]
		s.b = s.b[i+1:]
		return k, true
	}
	return nil, false
}

// integer reads a JSON integer (no fraction or exponent) within [lo, hi].
func (s *scanner) integer(lo, hi int64) (int64, bool) {
	i, neg := 0, false
	if i < len(s.b) && s.b[i] == '-' {
		neg = true
		i++
	}
	start := i
	var v int64
	for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
		if i-start >= 10 { // beyond int32 either way
			return 0, false
		}
		v = v*10 + int64(s.b[i]-'0')
		i++
	}
	if i == start || (s.b[start] == '0' && i > start+1) {
		return 0, false
	}
	if i < len(s.b) && (s.b[i] == '.' || s.b[i] == 'e' || s.b[i] == 'E') {
		return 0, false
	}
	if neg {
		v = -v
	}
	if v < lo || v > hi {
		return 0, false
	}
	s.b = s.b[i:]
	return v, true
}

func (s *scanner) int16(dst *int16) bool {
	v, ok := s.integer(-1<<15, 1<<15-1)
	*dst = int16(v)
	return ok
}

func (s *scanner) int32(dst *int32) bool {
	v, ok := s.integer(-1<<31, 1<<31-1)
	*dst = int32(v)
	return ok
}

// str reads a string value into a new string.
func (s *scanner) str() (string, bool) {
	var buf [128]byte
	v, ok := s.appendStr(buf[:0])
	if !ok {
		return "", false
	}
	switch string(v) {
	case "GO":
		return "GO", true
	case "JAVA":
		return "JAVA", true
	case "":
		return "", true
	}
	return string(v), true
}

// appendStr appends a string value, unescaped, to dst.
func (s *scanner) appendStr(dst []byte) ([]byte, bool) {
	if !s.byte('"') {
		return dst, false
	}
	b := s.b
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			s.b = b[i+1:]
			return dst, true
		case c == '\\':
			if i+1 >= len(b) {
				return dst, false
			}
			switch b[i+1] {
			case '"', '\\', '/':
				dst = append(dst, b[i+1])
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r, ok := hex4(b[i+2:])
				if !ok || (r >= 0xD800 && r < 0xE000) { // surrogates: encoding/json pairs or replaces them
					return dst, false
				}
				dst = utf8.AppendRune(dst, r)
				i += 6
				continue
			default:
				return dst, false
			}
			i += 2
		case c < 0x20:
			return dst, false
		case c < utf8.RuneSelf:
			// A run of plain ASCII at once.
			j := i + plainLen(b[i:]) // ≥ i+1: b[i] is plain
			dst = append(dst, b[i:j]...)
			i = j
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 { // encoding/json replaces it with U+FFFD
				return dst, false
			}
			dst = append(dst, b[i:i+size]...)
			i += size
		}
	}
	return dst, false
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// maxScannedExt bounds the extension fields scanJSONHeader decodes itself
// (requests carry up to ~15); more go to encoding/json.
const maxScannedExt = 32

// extFields reads an object of string values. The values are unescaped
// into one buffer and converted to one string that they slice; keys the
// broker reads often are interned.
func (s *scanner) extFields() (map[string]string, bool) {
	var (
		keys [maxScannedExt]string
		ends [maxScannedExt]int
		n    int
		stk  [1024]byte
	)
	vals := stk[:0]
	ok := s.object(func(k []byte) bool {
		if n == maxScannedExt {
			return false
		}
		var ok bool
		if vals, ok = s.appendStr(vals); !ok {
			return false
		}
		keys[n], ends[n] = internKey(k), len(vals)
		n++
		return true
	})
	if !ok {
		return nil, false
	}
	m := make(map[string]string, n)
	all := string(vals)
	start := 0
	for i := range n {
		m[keys[i]] = all[start:ends[i]]
		start = ends[i]
	}
	return m, true
}

// internKey returns k as a string, without allocating for the keys of the
// requests the broker serves most (send, pull, heartbeat, offsets).
func internKey(k []byte) string {
	if len(k) == 1 && k[0] >= 'a' && k[0] <= 'z' { // SEND_MESSAGE_V2's one-letter fields
		return oneLetterKeys[k[0]-'a' : k[0]-'a'+1]
	}
	switch string(k) {
	case "topic":
		return "topic"
	case "queueId":
		return "queueId"
	case "consumerGroup":
		return "consumerGroup"
	case "queueOffset":
		return "queueOffset"
	case "maxMsgNums":
		return "maxMsgNums"
	case "sysFlag":
		return "sysFlag"
	case "commitOffset":
		return "commitOffset"
	case "suspendTimeoutMillis":
		return "suspendTimeoutMillis"
	case "subscription":
		return "subscription"
	case "subVersion":
		return "subVersion"
	case "expressionType":
		return "expressionType"
	case "producerGroup":
		return "producerGroup"
	case "properties":
		return "properties"
	case "bornTimestamp":
		return "bornTimestamp"
	case "flag":
		return "flag"
	case "reconsumeTimes":
		return "reconsumeTimes"
	case "maxReconsumeTimes":
		return "maxReconsumeTimes"
	case "unitMode":
		return "unitMode"
	case "batch":
		return "batch"
	case "defaultTopic":
		return "defaultTopic"
	case "defaultTopicQueueNums":
		return "defaultTopicQueueNums"
	}
	return string(k)
}

const oneLetterKeys = "abcdefghijklmnopqrstuvwxyz"
