package message

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf16"
)

const (
	nameValueSeparator = '\x01'
	propertySeparator  = '\x02'
)

// EncodeProperties encodes p as "key\x01value\x02" pairs in sorted key order (deterministic, so
// golden bytes are stable).
func EncodeProperties(p map[string]string) string {
	if len(p) == 0 {
		return ""
	}
	return string(appendProperties(make([]byte, 0, propertiesLen(p)), p))
}

func propertiesLen(p map[string]string) int {
	n := 0
	for k, v := range p {
		n += len(k) + len(v) + 2
	}
	return n
}

func appendProperties(b []byte, p map[string]string) []byte {
	var arr [16]string
	keys := arr[:0]
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = append(b, k...)
		b = append(b, nameValueSeparator)
		b = append(b, p[k]...)
		b = append(b, propertySeparator)
	}
	return b
}

// DecodeProperties parses a properties string the way the Go client does: items separated by
// \x02, each kept only if it holds exactly one \x01. It returns nil for an empty string.
func DecodeProperties(s string) map[string]string {
	if s == "" {
		return nil
	}
	m := make(map[string]string, strings.Count(s, string(propertySeparator))+1)
	for item := range strings.SplitSeq(s, string(propertySeparator)) {
		k, v, ok := strings.Cut(item, string(nameValueSeparator))
		if !ok || strings.IndexByte(v, nameValueSeparator) >= 0 {
			continue
		}
		m[k] = v
	}
	return m
}

// PropertyValue finds key in a raw properties string without allocating. Items are parsed like
// DecodeProperties does; if a key repeats, the last value wins (as in a map).
func PropertyValue(props []byte, key string) (value []byte, ok bool) {
	for len(props) > 0 {
		item := props
		if i := bytes.IndexByte(props, propertySeparator); i >= 0 {
			item, props = props[:i], props[i+1:]
		} else {
			props = nil
		}
		i := bytes.IndexByte(item, nameValueSeparator)
		if i < 0 || bytes.IndexByte(item[i+1:], nameValueSeparator) >= 0 {
			continue
		}
		if string(item[:i]) == key {
			value, ok = item[i+1:], true
		}
	}
	return value, ok
}

// TagsHash is Java's String.hashCode of tags (over UTF-16 code units), widened to int64. It is
// the tags code stored in consume queues and sent by subscribers in SubscriptionData.codeSet.
func TagsHash(tags string) int64 {
	var h int32
	for _, r := range tags {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			h = 31*h + r1
			h = 31*h + r2
			continue
		}
		h = 31*h + r
	}
	return int64(h)
}

// TagsHashBytes is TagsHash over raw UTF-8 bytes.
func TagsHashBytes(tags []byte) int64 {
	var h int32
	for i := 0; i < len(tags); {
		c := tags[i]
		if c < 0x80 { // ASCII fast path: no allocation, no decoding
			h = 31*h + int32(c)
			i++
			continue
		}
		return TagsHash(string(tags))
	}
	return int64(h)
}
