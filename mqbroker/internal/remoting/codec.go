// Package remoting implements the RocketMQ remoting protocol's transport: the
// length-prefixed frame codec (JSON and ROCKETMQ binary headers), a TCP server
// that reads frames, dispatches requests to a Handler concurrently and writes
// responses, and server-initiated one-way requests on a connection. The
// server bounds what a peer can make it hold (limits.go): frames are
// reserved as they arrive, in-flight requests and bytes are budgeted per
// connection, per peer IP and in total, idle and slow connections are
// closed. So that no peer starves the others, a peer IP has at most
// MaxConnsPerIP connections (more are closed at once) and a share of the
// request and byte totals, and a part of the byte total (SmallFrameReserve)
// is kept for frames of at most SmallFrame bytes — heartbeats, offset
// commits, pulls — which are thus read while large frames hold the rest.
//
// Per request it keeps the CPU low, since on a small machine the broker's
// CPU is taken from its clients: JSON headers of the clients' shape are
// scanned without reflection (jsonheader.go, encoding/json for any other),
// plain string bytes are scanned and written eight at a time (plain.go),
// handler goroutines are reused per connection, requests the handler
// declares prompt (Inliner) are served on the reader itself, their
// responses written together before it may block (a read, a budget wait,
// the connection's close), read deadlines are armed only
// before a read that can block and the write deadline about once a second,
// and responses that finish while another is being written are coalesced
// into that writer's next syscall (Conn.Write).
//
// It knows nothing about request codes or message semantics (package protocol
// and package broker own those) and must not import them.
//
// Frame layout (big-endian), see ../../../shared/PROTOCOL.md §1:
//
//	int32 length (excludes itself) | byte serializeType | uint24 headerLength | header | body
package remoting

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SerializeType is the header codec of one frame.
type SerializeType byte

// Header codecs. The Go client always sends JSON; Java clients may send RocketMQ.
const (
	SerializeJSON     SerializeType = 0
	SerializeRocketMQ SerializeType = 1
)

// Flag bits of Command.Flag.
const (
	FlagResponse = 1 << 0
	FlagOneway   = 1 << 1
)

// Errors returned by ReadCommand. A connection that yields one is closed.
var (
	ErrFrameTooLarge = errors.New("remoting: frame too large")
	ErrMalformed     = errors.New("remoting: malformed frame")
)

// Command is one request or response.
type Command struct {
	Code      int16
	Language  string
	Version   int16
	Opaque    int32
	Flag      int32
	Remark    string
	ExtFields map[string]string
	Body      []byte

	// Serialize is the header codec the command was received in; a
	// response is written in the same codec as its request.
	Serialize SerializeType
}

// IsResponse reports whether the command is a response.
func (c *Command) IsResponse() bool { return c.Flag&FlagResponse != 0 }

// Ext returns the extension field k, or "".
func (c *Command) Ext(k string) string { return c.ExtFields[k] }

// NewResponse returns a response to req with the given code and remark.
func NewResponse(req *Command, code int16, remark string) *Command {
	return &Command{
		Code:      code,
		Language:  "GO",
		Version:   req.Version,
		Opaque:    req.Opaque,
		Flag:      FlagResponse,
		Remark:    remark,
		Serialize: req.Serialize,
	}
}

// SetExt sets an extension field, allocating the map on first use.
func (c *Command) SetExt(k, v string) {
	if c.ExtFields == nil {
		c.ExtFields = make(map[string]string, 4)
	}
	c.ExtFields[k] = v
}

// SetExtInt sets an integer extension field (extFields values are always strings).
func (c *Command) SetExtInt(k string, v int64) { c.SetExt(k, strconv.FormatInt(v, 10)) }

const maxHeaderLength = 1 << 24 // the header length field has 24 bits

// ReadCommand reads one frame from r. maxFrame bounds the frame length
// (header plus body). Errors other than io.EOF mean the stream is unusable.
func ReadCommand(r *bufio.Reader, maxFrame int) (*Command, error) {
	var lenBuf [4]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, err
	}
	length := int64(int32(binary.BigEndian.Uint32(lenBuf[:])))
	if length < 4 {
		return nil, fmt.Errorf("%w: length %d", ErrMalformed, length)
	}
	if length > int64(maxFrame) {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrFrameTooLarge, length, maxFrame)
	}
	frame := make([]byte, length)
	if _, err := io.ReadFull(r, frame); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return DecodeFrame(frame)
}

// DecodeFrame decodes a frame without its leading length field.
func DecodeFrame(frame []byte) (*Command, error) {
	if len(frame) < 4 {
		return nil, fmt.Errorf("%w: short frame", ErrMalformed)
	}
	mark := binary.BigEndian.Uint32(frame[:4])
	st := SerializeType(mark >> 24)
	hlen := int(mark & 0xFFFFFF)
	if hlen > len(frame)-4 {
		return nil, fmt.Errorf("%w: header length %d exceeds frame", ErrMalformed, hlen)
	}
	cmd, err := decodeHeader(st, frame[4:4+hlen])
	if err != nil {
		return nil, err
	}
	if body := frame[4+hlen:]; len(body) > 0 {
		cmd.Body = body
	}
	return cmd, nil
}

// decodeHeader decodes a frame's header in codec st.
func decodeHeader(st SerializeType, header []byte) (*Command, error) {
	var cmd *Command
	var err error
	switch st {
	case SerializeJSON:
		var ok bool
		if cmd, ok = scanJSONHeader(header); !ok {
			cmd, err = decodeJSONHeader(header)
		}
	case SerializeRocketMQ:
		cmd, err = decodeBinaryHeader(header)
	default:
		return nil, fmt.Errorf("%w: unknown serialize type %d", ErrMalformed, st)
	}
	if err != nil {
		return nil, err
	}
	cmd.Serialize = st
	return cmd, nil
}

type jsonHeader struct {
	Code      int16             `json:"code"`
	Language  any               `json:"language"`
	Version   int16             `json:"version"`
	Opaque    int32             `json:"opaque"`
	Flag      int32             `json:"flag"`
	Remark    string            `json:"remark"`
	ExtFields map[string]string `json:"extFields"`
}

// decodeJSONHeader decodes any JSON header with encoding/json: what
// scanJSONHeader (jsonheader.go) does not take itself.
func decodeJSONHeader(b []byte) (*Command, error) {
	var h jsonHeader
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%w: json header: %v", ErrMalformed, err)
	}
	lang, _ := h.Language.(string)
	return &Command{Code: h.Code, Language: lang, Version: h.Version, Opaque: h.Opaque,
		Flag: h.Flag, Remark: h.Remark, ExtFields: h.ExtFields}, nil
}

// binary header: code int16 | language byte | version int16 | opaque int32 |
// flag int32 | remarkLen int32 | remark | extLen int32 | (keyLen int16 | key | valLen int32 | val)*
func decodeBinaryHeader(b []byte) (*Command, error) {
	d := decoder{b: b}
	cmd := &Command{}
	cmd.Code = int16(d.u16())
	lang := d.u8()
	cmd.Language = languageName(lang)
	cmd.Version = int16(d.u16())
	cmd.Opaque = int32(d.u32())
	cmd.Flag = int32(d.u32())
	cmd.Remark = string(d.bytes(int(int32(d.u32()))))
	extLen := int(int32(d.u32()))
	if d.err == nil && (extLen < 0 || extLen > len(d.b)) {
		d.err = ErrMalformed
	}
	if d.err == nil && extLen > 0 {
		ext := decoder{b: d.bytes(extLen)}
		cmd.ExtFields = make(map[string]string)
		for ext.err == nil && len(ext.b) > 0 {
			k := ext.bytes(int(ext.u16()))
			v := ext.bytes(int(int32(ext.u32())))
			if ext.err == nil {
				cmd.ExtFields[string(k)] = string(v)
			}
		}
		d.err = ext.err
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: binary header", ErrMalformed)
	}
	return cmd, nil
}

func languageName(b byte) string {
	switch b {
	case 0:
		return "JAVA"
	case 9:
		return "GO"
	default:
		return "OTHER"
	}
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = ErrMalformed
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte {
	if b := d.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.bytes(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// AppendFrame appends c's complete frame (with its length prefix) to dst,
// extension fields in sorted key order.
func (c *Command) AppendFrame(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0) // length, mark
	var hlen int
	if c.Serialize == SerializeRocketMQ {
		dst = c.appendBinaryHeader(dst)
	} else {
		dst = c.appendJSONHeader(dst)
	}
	hlen = len(dst) - start - 8
	dst = append(dst, c.Body...)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	binary.BigEndian.PutUint32(dst[start+4:], uint32(c.Serialize)<<24|uint32(hlen)&0xFFFFFF)
	return dst
}

func (c *Command) appendJSONHeader(dst []byte) []byte {
	lang := c.Language
	if lang == "" {
		lang = "GO"
	}
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(c.Code), 10)
	dst = append(dst, `,"language":`...)
	dst = appendJSONString(dst, lang)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, int64(c.Version), 10)
	dst = append(dst, `,"opaque":`...)
	dst = strconv.AppendInt(dst, int64(c.Opaque), 10)
	dst = append(dst, `,"flag":`...)
	dst = strconv.AppendInt(dst, int64(c.Flag), 10)
	if c.Remark != "" {
		dst = append(dst, `,"remark":`...)
		dst = appendJSONString(dst, c.Remark)
	}
	if len(c.ExtFields) > 0 {
		dst = append(dst, `,"extFields":{`...)
		var buf [16]field
		for i, f := range sortedFields(c.ExtFields, buf[:0]) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, f.k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, f.v)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

func (c *Command) appendBinaryHeader(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(c.Code))
	dst = append(dst, 9) // GO
	dst = binary.BigEndian.AppendUint16(dst, uint16(c.Version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Opaque))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Flag))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(c.Remark)))
	dst = append(dst, c.Remark...)
	lenAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	var buf [16]field
	for _, f := range sortedFields(c.ExtFields, buf[:0]) {
		k, v := f.k, f.v
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(k)))
		dst = append(dst, k...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	}
	binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
	return dst
}

// field is one extension field.
type field struct{ k, v string }

// sortedFields appends m's fields to dst in key order: frames are
// deterministic (golden tests, reproducible captures) whatever the map's
// iteration order. The fields are taken in one pass over the map (no
// lookup per key afterwards) and insertion-sorted as they come, which for
// the few fields of a header (a send's response has 6) is cheaper than
// sorting the keys and looking each up again.
func sortedFields(m map[string]string, dst []field) []field {
	if len(m) > 16 {
		for k, v := range m {
			dst = append(dst, field{k, v})
		}
		slices.SortFunc(dst, func(a, b field) int { return strings.Compare(a.k, b.k) })
		return dst
	}
	for k, v := range m {
		i := len(dst)
		dst = append(dst, field{})
		for ; i > 0 && dst[i-1].k > k; i-- {
			dst[i] = dst[i-1]
		}
		dst[i] = field{k, v}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal. Invalid UTF-8 is
// replaced with U+FFFD, as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		if n := plainLen(s[i:]); n > 0 {
			dst = append(dst, s[i:i+n]...)
			if i += n; i == len(s) {
				break
			}
		}
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\':
				dst = append(dst, '\\', b)
			case b == '\n':
				dst = append(dst, '\\', 'n')
			case b == '\r':
				dst = append(dst, '\\', 'r')
			case b == '\t':
				dst = append(dst, '\\', 't')
			case b < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			default:
				dst = append(dst, b)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
