package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
)

// Fixed positions inside a V1 record, used by the store to patch store-assigned fields into an
// already encoded record.
const (
	PosTotalSize      = 0
	PosMagic          = 4
	PosBodyCRC        = 8
	PosQueueID        = 12
	PosFlag           = 16
	PosQueueOffset    = 20
	PosPhysicalOffset = 28
	PosSysFlag        = 36
	PosBornTimestamp  = 40
	PosBornHost       = 48
)

// MinRecordSize is the size of a V1 record with IPv4 hosts, empty body, topic and properties.
const MinRecordSize = 91

// StoreTimestampPos returns the position of STORETIMESTAMP in a record with the given sysFlag.
func StoreTimestampPos(sysFlag int32) int {
	if sysFlag&SysFlagBornHostV6 != 0 {
		return PosBornHost + 20
	}
	return PosBornHost + 8
}

var (
	errTopicTooLong = errors.New("message: topic longer than 127 bytes")
	errPropsTooLong = errors.New("message: encoded properties longer than 32767 bytes")
	errPropsChars   = errors.New("message: property key or value contains \\x01 or \\x02")
	errEmptyTopic   = errors.New("message: empty topic")
)

// hostLen returns the encoded length of an address (4+4 or 16+4) and whether it is IPv6.
func hostLen(a netip.AddrPort) (int, bool) {
	ip := a.Addr()
	if ip.Is6() && !ip.Is4In6() {
		return 20, true
	}
	return 8, false
}

// Validate reports whether m can be encoded in the V1 layout.
func (m *Message) Validate() error {
	_, err := m.validate()
	return err
}

// validate is Validate, returning also the encoded properties' length (propertiesLen), so that
// AppendEncode walks the properties once to check and size them and once to write them.
func (m *Message) validate() (propsLen int, err error) {
	if m.Topic == "" {
		return 0, errEmptyTopic
	}
	if len(m.Topic) > MaxTopicLen {
		return 0, errTopicTooLong
	}
	n := 0
	for k, v := range m.Properties {
		if !validPropString(k) || !validPropString(v) {
			return 0, errPropsChars
		}
		n += len(k) + len(v) + 2
	}
	if n > MaxPropertiesLen {
		return 0, errPropsTooLong
	}
	return n, nil
}

func validPropString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == nameValueSeparator || s[i] == propertySeparator {
			return false
		}
	}
	return true
}

// EncodedSize returns the TOTALSIZE of m's V1 record (without validating m).
func (m *Message) EncodedSize() int { return m.encodedSize(propertiesLen(m.Properties)) }

// encodedSize is EncodedSize given the properties' encoded length.
func (m *Message) encodedSize(propsLen int) int {
	bh, _ := hostLen(m.BornHost)
	sh, _ := hostLen(m.StoreHost)
	return MinRecordSize - 16 + bh + sh + len(m.Body) + len(m.Topic) + propsLen
}

// Encode returns m's V1 record exactly as the Go client decodes it. It returns nil if m is not
// encodable (see Validate); use AppendEncode to get the error.
func (m *Message) Encode() []byte {
	b, err := m.AppendEncode(make([]byte, 0, m.EncodedSize()))
	if err != nil {
		return nil
	}
	return b
}

// AppendEncode appends m's V1 record to dst. BODYCRC is crc32-IEEE(body)&0x7fffffff, the host
// sysFlag bits are derived from the addresses and properties are written in sorted key order.
func (m *Message) AppendEncode(dst []byte) ([]byte, error) {
	pl, err := m.validate()
	if err != nil {
		return dst, err
	}
	total := m.encodedSize(pl)
	start := len(dst)
	dst = grow(dst, total)
	b := dst[start : start+total]

	sysFlag := m.SysFlag &^ (SysFlagBornHostV6 | SysFlagStoreHostV6)
	if _, v6 := hostLen(m.BornHost); v6 {
		sysFlag |= SysFlagBornHostV6
	}
	if _, v6 := hostLen(m.StoreHost); v6 {
		sysFlag |= SysFlagStoreHostV6
	}
	be := binary.BigEndian
	be.PutUint32(b[PosTotalSize:], uint32(total))
	be.PutUint32(b[PosMagic:], 0xDAA320A7)
	be.PutUint32(b[PosBodyCRC:], crc32.ChecksumIEEE(m.Body)&0x7fffffff)
	be.PutUint32(b[PosQueueID:], uint32(m.QueueID))
	be.PutUint32(b[PosFlag:], uint32(m.Flag))
	be.PutUint64(b[PosQueueOffset:], uint64(m.QueueOffset))
	be.PutUint64(b[PosPhysicalOffset:], uint64(m.PhysicalOffset))
	be.PutUint32(b[PosSysFlag:], uint32(sysFlag))
	be.PutUint64(b[PosBornTimestamp:], uint64(m.BornTimestamp))
	p := PosBornHost
	p += putHost(b[p:], m.BornHost)
	be.PutUint64(b[p:], uint64(m.StoreTimestamp))
	p += 8
	p += putHost(b[p:], m.StoreHost)
	be.PutUint32(b[p:], uint32(m.ReconsumeTimes))
	p += 4
	be.PutUint64(b[p:], uint64(m.PreparedTransactionOffset))
	p += 8
	be.PutUint32(b[p:], uint32(len(m.Body)))
	p += 4
	p += copy(b[p:], m.Body)
	b[p] = byte(len(m.Topic))
	p++
	p += copy(b[p:], m.Topic)
	be.PutUint16(b[p:], uint16(pl))
	p += 2
	appendProperties(b[p:p:p+pl], m.Properties)
	return dst, nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

func putHost(b []byte, a netip.AddrPort) int {
	ip := a.Addr()
	if ip.Is6() && !ip.Is4In6() {
		ip16 := ip.As16()
		copy(b, ip16[:])
		binary.BigEndian.PutUint32(b[16:], uint32(a.Port()))
		return 20
	}
	if ip.IsValid() {
		ip4 := ip.Unmap().As4()
		copy(b, ip4[:])
	} else {
		copy(b, []byte{0, 0, 0, 0})
	}
	binary.BigEndian.PutUint32(b[4:], uint32(a.Port()))
	return 8
}

// reader is a bounds-checked big-endian cursor; the first failure sticks.
type reader struct {
	b   []byte
	p   int
	err error
}

func (r *reader) next(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.p < n {
		r.err = fmt.Errorf("%w: truncated at %s (need %d bytes at %d, have %d)", ErrMalformed, what, n, r.p, len(r.b)-r.p)
		return nil
	}
	s := r.b[r.p : r.p+n : r.p+n]
	r.p += n
	return s
}

func (r *reader) u8(what string) uint8 {
	if s := r.next(1, what); s != nil {
		return s[0]
	}
	return 0
}

func (r *reader) i16(what string) int16 {
	if s := r.next(2, what); s != nil {
		return int16(binary.BigEndian.Uint16(s))
	}
	return 0
}

func (r *reader) i32(what string) int32 {
	if s := r.next(4, what); s != nil {
		return int32(binary.BigEndian.Uint32(s))
	}
	return 0
}

func (r *reader) i64(what string) int64 {
	if s := r.next(8, what); s != nil {
		return int64(binary.BigEndian.Uint64(s))
	}
	return 0
}

func (r *reader) host(v6 bool, what string) netip.AddrPort {
	n := 4
	if v6 {
		n = 16
	}
	ipb := r.next(n, what)
	port := r.i32(what)
	if r.err != nil {
		return netip.AddrPort{}
	}
	ip, _ := netip.AddrFromSlice(ipb)
	return netip.AddrPortFrom(ip, uint16(port))
}

// Header is the part of a V1 record the store indexes. Topic and Properties alias the decoded
// bytes.
type Header struct {
	Size           int
	QueueID        int32
	QueueOffset    int64
	PhysicalOffset int64
	SysFlag        int32
	StoreTimestamp int64
	Topic          []byte
	Properties     []byte // raw properties string
}

// DecodeHeader decodes the indexable fields of the record at the front of b without allocating.
// It validates the whole record structure like Decode does.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	r := reader{b: b}
	total := r.i32("TOTALSIZE")
	if r.err != nil {
		return h, r.err
	}
	if total < MinRecordSize || int64(total) > int64(len(b)) {
		return h, fmt.Errorf("%w: TOTALSIZE %d with %d bytes available", ErrMalformed, total, len(b))
	}
	r.b = b[:total]
	if magic := r.i32("MAGICCODE"); r.err == nil && magic != MagicV1 {
		return h, fmt.Errorf("%w: magic code %#x", ErrMalformed, uint32(magic))
	}
	r.next(4, "BODYCRC")
	h.QueueID = r.i32("QUEUEID")
	r.next(4, "FLAG")
	h.QueueOffset = r.i64("QUEUEOFFSET")
	h.PhysicalOffset = r.i64("PHYSICALOFFSET")
	h.SysFlag = r.i32("SYSFLAG")
	r.next(8, "BORNTIMESTAMP")
	if h.SysFlag&SysFlagBornHostV6 != 0 {
		r.next(20, "BORNHOST")
	} else {
		r.next(8, "BORNHOST")
	}
	h.StoreTimestamp = r.i64("STORETIMESTAMP")
	if h.SysFlag&SysFlagStoreHostV6 != 0 {
		r.next(20, "STOREHOST")
	} else {
		r.next(8, "STOREHOST")
	}
	r.next(4+8, "RECONSUMETIMES")
	r.next(int(r.i32("BODYLEN")), "BODY")
	if tl := r.u8("TOPICLEN"); r.err == nil && (tl == 0 || tl > MaxTopicLen) {
		return h, fmt.Errorf("%w: topic length %d", ErrMalformed, tl)
	} else {
		h.Topic = r.next(int(tl), "TOPIC")
	}
	h.Properties = r.next(int(r.i16("PROPLEN")), "PROPERTIES")
	if r.err != nil {
		return h, r.err
	}
	if r.p != int(total) {
		return h, fmt.Errorf("%w: TOTALSIZE %d but fields end at %d", ErrMalformed, total, r.p)
	}
	h.Size = int(total)
	return h, nil
}

// Decode decodes one V1 record from the front of b and returns it with its length. Body and
// properties are copied; m does not alias b.
func Decode(b []byte) (m *Message, n int, err error) {
	if _, err := DecodeHeader(b); err != nil {
		return nil, 0, err
	}
	r := reader{b: b}
	m = &Message{}
	total := r.i32("TOTALSIZE")
	r.next(8, "MAGICCODE")
	m.QueueID = r.i32("QUEUEID")
	m.Flag = r.i32("FLAG")
	m.QueueOffset = r.i64("QUEUEOFFSET")
	m.PhysicalOffset = r.i64("PHYSICALOFFSET")
	m.SysFlag = r.i32("SYSFLAG")
	m.BornTimestamp = r.i64("BORNTIMESTAMP")
	m.BornHost = r.host(m.SysFlag&SysFlagBornHostV6 != 0, "BORNHOST")
	m.StoreTimestamp = r.i64("STORETIMESTAMP")
	m.StoreHost = r.host(m.SysFlag&SysFlagStoreHostV6 != 0, "STOREHOST")
	m.ReconsumeTimes = r.i32("RECONSUMETIMES")
	m.PreparedTransactionOffset = r.i64("PREPAREDTRANSACTIONOFFSET")
	body := r.next(int(r.i32("BODYLEN")), "BODY")
	m.Body = append([]byte{}, body...)
	m.Topic = string(r.next(int(r.u8("TOPICLEN")), "TOPIC"))
	if props := r.next(int(r.i16("PROPLEN")), "PROPERTIES"); len(props) > 0 {
		m.Properties = DecodeProperties(string(props))
	}
	if r.err != nil { // unreachable after DecodeHeader succeeded; kept as a guard
		return nil, 0, r.err
	}
	return m, int(total), nil
}

// DecodeAll decodes a concatenation of V1 records (a PULL body).
func DecodeAll(b []byte) ([]*Message, error) {
	var out []*Message
	for off := 0; off < len(b); {
		m, n, err := Decode(b[off:])
		if err != nil {
			return out, fmt.Errorf("record %d at byte %d: %w", len(out), off, err)
		}
		out = append(out, m)
		off += n
	}
	return out, nil
}
