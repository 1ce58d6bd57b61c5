package message

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
)

// OffsetMsgID returns the offset message id of a record: upper-case hex of
// storeHost IP (4 bytes, or 16 for IPv6) | port (int32) | commit-log offset (int64); 32 characters
// for IPv4 (Java MessageDecoder.createMessageId; Go primitive.CreateMessageId).
func OffsetMsgID(storeHost netip.AddrPort, physOffset int64) string {
	var b [28]byte
	n := putHost(b[:], storeHost)
	binary.BigEndian.PutUint64(b[n:], uint64(physOffset))
	var out [56]byte
	for i, c := range b[:n+8] {
		out[2*i], out[2*i+1] = upperHex[c>>4], upperHex[c&0x0f]
	}
	return string(out[:2*(n+8)])
}

const upperHex = "0123456789ABCDEF"

// ParseOffsetMsgID is the inverse of OffsetMsgID (32 hex characters for IPv4, 56 for IPv6).
func ParseOffsetMsgID(id string) (netip.AddrPort, int64, error) {
	if len(id) != 32 && len(id) != 56 {
		return netip.AddrPort{}, 0, fmt.Errorf("%w: offset msg id %q: length %d, want 32 or 56", ErrMalformed, id, len(id))
	}
	b, err := hex.DecodeString(id)
	if err != nil {
		return netip.AddrPort{}, 0, fmt.Errorf("%w: offset msg id %q: %v", ErrMalformed, id, err)
	}
	r := reader{b: b}
	host := r.host(len(id) == 56, "STOREHOST")
	off := r.i64("OFFSET")
	if r.err != nil {
		return netip.AddrPort{}, 0, r.err
	}
	return host, off, nil
}
