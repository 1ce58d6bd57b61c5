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

// content is what a client signs: the ext field values (but Signature's)
// in key order, then the body.
func content(ext map[string]string, body []byte) []byte {
	keys := make([]string, 0, len(ext))
	n := len(body)
	for k, v := range ext {
		if k != SignatureField && k != uniqueKeyQuery {
			keys = append(keys, k)
			n += len(v)
		}
	}
	slices.Sort(keys)
	buf := make([]byte, 0, n)
	for _, k := range keys {
		buf = append(buf, ext[k]...)
	}
	return append(buf, body...)
}

// Sign returns the Signature a client with secretKey sends for ext (which
// includes AccessKey) and body.
func Sign(ext map[string]string, body []byte, secretKey []byte) string {
	mac := hmac.New(sha1.New, secretKey)
	mac.Write(content(ext, body))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Verify reports whether ext's Signature is right for secretKey
// (constant-time).
func Verify(ext map[string]string, body []byte, secretKey []byte) bool {
	got, err := base64.StdEncoding.DecodeString(ext[SignatureField])
	if err != nil {
		return false
	}
	mac := hmac.New(sha1.New, secretKey)
	mac.Write(content(ext, body))
	return hmac.Equal(got, mac.Sum(nil))
}
