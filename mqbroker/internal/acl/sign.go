package acl

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"slices"
)

// Ext fields of a signed request.
const (
	AccessKeyField     = "AccessKey"
	SignatureField     = "Signature"
	SecurityTokenField = "SecurityToken"
	uniqueKeyQuery     = "_UNIQUE_KEY_QUERY" // Apache leaves it out of the signed content
)

// mac returns HMAC-SHA1(secretKey, content) where content is what a
// client signs: the ext field values (but Signature's) in key order, then
// the body (hashed where it lies, not copied).
func mac(ext map[string]string, body []byte, secretKey []byte) []byte {
	var arr [32]string
	keys := arr[:0]
	n := 0
	for k, v := range ext {
		if k != SignatureField && k != uniqueKeyQuery {
			keys = append(keys, k)
			n += len(v)
		}
	}
	slices.Sort(keys)
	values := make([]byte, 0, n)
	for _, k := range keys {
		values = append(values, ext[k]...)
	}
	h := hmac.New(sha1.New, secretKey)
	h.Write(values)
	h.Write(body)
	return h.Sum(nil)
}

// Sign returns the Signature a client with secretKey sends for ext (which
// includes AccessKey) and body.
func Sign(ext map[string]string, body []byte, secretKey []byte) string {
	return base64.StdEncoding.EncodeToString(mac(ext, body, secretKey))
}

// Verify reports whether ext's Signature is right for secretKey
// (constant-time).
func Verify(ext map[string]string, body []byte, secretKey []byte) bool {
	sig := ext[SignatureField]
	var buf [32]byte
	if base64.StdEncoding.DecodedLen(len(sig)) > len(buf) {
		return false
	}
	n, err := base64.StdEncoding.Decode(buf[:], []byte(sig))
	if err != nil {
		return false
	}
	return hmac.Equal(buf[:n], mac(ext, body, secretKey))
}
