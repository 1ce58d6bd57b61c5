package remoting_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

var update = flag.Bool("update", false, "rewrite the golden frames in testdata/")

// goldenCommands are the frames pinned in testdata/<name>.golden: requests
// and responses in both header codecs, shaped as PROTOCOL.md §1–§2 shows.
var goldenCommands = []struct {
	name string
	cmd  remoting.Command
}{
	{"json_send_request", remoting.Command{
		Code: 10, Language: "GO", Version: 317, Opaque: 123,
		ExtFields: map[string]string{
			"producerGroup": "pg", "topic": "TopicA", "queueId": "1", "sysFlag": "0",
			"bornTimestamp": "1795236133716", "flag": "0", "reconsumeTimes": "0", "unitMode": "false",
			"maxReconsumeTimes": "0", "batch": "false", "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
			"properties": "TAGS\x01TagA\x02KEYS\x01k1 k2\x02UNIQ_KEY\x01C0000202108700000000680190880001\x02",
		},
		Body: []byte("hello, broker"),
	}},
	{"json_error_response", remoting.Command{
		Code: 13, Language: "GO", Version: 317, Opaque: -7, Flag: remoting.FlagResponse,
		Remark: "topic \"bad topic\" has characters outside [%|a-zA-Z0-9_-]\n\ttab, é, \x01",
	}},
	{"json_oneway_bare", remoting.Command{
		Code: 40, Language: "GO", Version: 317, Opaque: 1, Flag: remoting.FlagOneway,
	}},
	{"rocketmq_heartbeat_request", remoting.Command{
		Code: 34, Language: "GO", Version: 317, Opaque: 2147483647, Serialize: remoting.SerializeRocketMQ,
		ExtFields: map[string]string{"b": "2", "a": "1", "": "empty key", "bin": "\x00\x01\xff"},
		Body:      []byte(`{"clientID":"192.0.2.2@c1","producerDataSet":[],"consumerDataSet":[]}`),
	}},
	{"rocketmq_pull_response", remoting.Command{
		Code: 19, Language: "GO", Version: 317, Opaque: 99, Flag: remoting.FlagResponse,
		Serialize: remoting.SerializeRocketMQ, Remark: "no new message",
		ExtFields: map[string]string{"nextBeginOffset": "5", "minOffset": "0", "maxOffset": "5", "suggestWhichBrokerId": "0"},
	}},
}

func TestAppendFrame_matchesGoldenFrames(t *testing.T) {
	for _, g := range goldenCommands {
		t.Run(g.name, func(t *testing.T) {
			path := filepath.Join("testdata", g.name+".golden")
			got := g.cmd.AppendFrame(nil)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("frame changed (run with -update if intended)\n got %q\nwant %q", got, want)
			}
			// The frame is deterministic whatever the map order.
			for i := 0; i < 20; i++ {
				if again := g.cmd.AppendFrame(nil); !bytes.Equal(again, want) {
					t.Fatalf("encoding %d differs: %q", i, again)
				}
			}
			// Layout: length excludes itself; mark = codec byte | 24-bit header length.
			if l := binary.BigEndian.Uint32(want); int(l) != len(want)-4 {
				t.Fatalf("length field %d, frame has %d bytes after it", l, len(want)-4)
			}
			if want[4] != byte(g.cmd.Serialize) {
				t.Fatalf("codec byte %d, want %d", want[4], g.cmd.Serialize)
			}
			hlen := int(binary.BigEndian.Uint32(want[4:]) & 0xFFFFFF)
			if body := want[8+hlen:]; !bytes.Equal(body, g.cmd.Body) {
				t.Fatalf("body after header %q, want %q", body, g.cmd.Body)
			}
			cmd, err := remoting.ReadCommand(bufio.NewReader(bytes.NewReader(want)), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			assertSameCommand(t, cmd, &g.cmd)
		})
	}
}

// frameOf assembles a frame by hand (independently of AppendFrame).
func frameOf(codec byte, header, body []byte) []byte {
	f := binary.BigEndian.AppendUint32(nil, uint32(4+len(header)+len(body)))
	f = binary.BigEndian.AppendUint32(f, uint32(codec)<<24|uint32(len(header)))
	f = append(f, header...)
	return append(f, body...)
}

func TestReadCommand_decodesTheGoClientsJSONRequest(t *testing.T) {
	// As rocketmq-client-go v2.1.2 marshals RemotingCommand with jsoniter:
	// every field present, remark empty.
	header := `{"code":11,"language":"GO","version":317,"opaque":4242,"flag":0,"remark":"",` +
		`"extFields":{"consumerGroup":"cg","topic":"TopicA","queueId":"1","queueOffset":"2","sysFlag":"3"},` +
		`"serializeTypeCurrentRPC":"JSON"}`
	cmd, err := remoting.ReadCommand(bufio.NewReader(bytes.NewReader(frameOf(0, []byte(header), []byte("xyz")))), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := &remoting.Command{Code: 11, Language: "GO", Version: 317, Opaque: 4242,
		ExtFields: map[string]string{"consumerGroup": "cg", "topic": "TopicA", "queueId": "1", "queueOffset": "2", "sysFlag": "3"},
		Body:      []byte("xyz")}
	assertSameCommand(t, cmd, want)
	if cmd.IsResponse() || cmd.Ext("queueOffset") != "2" || cmd.Ext("missing") != "" {
		t.Fatalf("accessors: response=%v queueOffset=%q", cmd.IsResponse(), cmd.Ext("queueOffset"))
	}
}

func TestReadCommand_decodesAJavaBinaryHeader(t *testing.T) {
	// Java RocketMQSerializable.rocketMQProtocolEncode, written out field by field.
	var h []byte
	h = binary.BigEndian.AppendUint16(h, 34)  // code
	h = append(h, 0)                          // language JAVA
	h = binary.BigEndian.AppendUint16(h, 433) // version
	h = binary.BigEndian.AppendUint32(h, 77)  // opaque
	h = binary.BigEndian.AppendUint32(h, 1)   // flag: response
	h = binary.BigEndian.AppendUint32(h, 2)   // remark length
	h = append(h, "ok"...)                    // remark
	ext := binary.BigEndian.AppendUint16(nil, 5)
	ext = append(ext, "isSub"...)
	ext = binary.BigEndian.AppendUint32(ext, 4)
	ext = append(ext, "true"...)
	h = binary.BigEndian.AppendUint32(h, uint32(len(ext)))
	h = append(h, ext...)
	cmd, err := remoting.DecodeFrame(frameOf(1, h, nil)[4:])
	if err != nil {
		t.Fatal(err)
	}
	want := &remoting.Command{Code: 34, Language: "JAVA", Version: 433, Opaque: 77, Flag: 1, Remark: "ok",
		ExtFields: map[string]string{"isSub": "true"}, Serialize: remoting.SerializeRocketMQ}
	assertSameCommand(t, cmd, want)
	if cmd.Language != "JAVA" {
		t.Fatalf("language %q, want JAVA", cmd.Language)
	}
}

func TestCommand_roundTripsInBothCodecs(t *testing.T) {
	big := bytes.Repeat([]byte{0, 1, 2, 0xff}, 64<<10)
	cmds := []remoting.Command{
		{Code: 0},
		{Code: -1, Version: -2, Opaque: -3, Flag: -4},
		{Code: 320, Opaque: 1, Remark: "remark", Body: big},
		{Code: 10, ExtFields: map[string]string{"k": "v", "quote\"key": "back\\slash", "ctl": "\x00\x1f\x7f", "uni": "日本語 \u2028"}},
		{Code: 1, Flag: remoting.FlagResponse, Remark: strings.Repeat("r", 70000)},
	}
	for i, c := range cmds {
		for _, codec := range []remoting.SerializeType{remoting.SerializeJSON, remoting.SerializeRocketMQ} {
			c.Serialize = codec
			c.Language = "GO"
			frame := c.AppendFrame([]byte("prefix"))
			if !bytes.HasPrefix(frame, []byte("prefix")) {
				t.Fatalf("AppendFrame clobbered dst")
			}
			got, err := remoting.ReadCommand(bufio.NewReader(bytes.NewReader(frame[6:])), len(frame))
			if err != nil {
				t.Fatalf("command %d codec %d: %v", i, codec, err)
			}
			assertSameCommand(t, got, &c)
		}
	}
}

func TestNewResponse_echoesOpaqueVersionAndCodec(t *testing.T) {
	req := &remoting.Command{Code: 10, Version: 317, Opaque: 55, Serialize: remoting.SerializeRocketMQ}
	resp := remoting.NewResponse(req, 13, "bad")
	resp.SetExtInt("queueOffset", -42)
	resp.SetExt("msgId", "x")
	if !resp.IsResponse() || resp.Opaque != 55 || resp.Version != 317 || resp.Serialize != remoting.SerializeRocketMQ ||
		resp.Code != 13 || resp.Remark != "bad" || resp.Ext("queueOffset") != "-42" || resp.Ext("msgId") != "x" {
		t.Fatalf("response %+v", resp)
	}
}

func TestDecodeFrame_rejectsMalformedFrames(t *testing.T) {
	binHeader := func(mutate func([]byte) []byte) []byte {
		var h []byte
		h = binary.BigEndian.AppendUint16(h, 10)
		h = append(h, 9)
		h = binary.BigEndian.AppendUint16(h, 317)
		h = binary.BigEndian.AppendUint32(h, 1)
		h = binary.BigEndian.AppendUint32(h, 0)
		h = binary.BigEndian.AppendUint32(h, 0) // remark length
		return mutate(h)
	}
	cases := map[string][]byte{
		"empty":                    {},
		"three bytes":              {0, 0, 0},
		"header longer than frame": {0, 0, 0, 200, '{', '}'},
		"unknown codec":            frameOf(2, []byte("{}"), nil)[4:],
		"empty json header":        frameOf(0, nil, []byte("body"))[4:],
		"json syntax":              frameOf(0, []byte(`{"code":10,`), nil)[4:],
		"json code out of int16":   frameOf(0, []byte(`{"code":40000}`), nil)[4:],
		"json ext number value":    frameOf(0, []byte(`{"code":10,"extFields":{"queueId":1}}`), nil)[4:],
		"json ext bool value":      frameOf(0, []byte(`{"code":10,"extFields":{"batch":true}}`), nil)[4:],
		"json ext object value":    frameOf(0, []byte(`{"code":10,"extFields":{"a":{"b":"c"}}}`), nil)[4:],
		"json ext array":           frameOf(0, []byte(`{"code":10,"extFields":["a"]}`), nil)[4:],
		"json opaque string":       frameOf(0, []byte(`{"code":10,"opaque":"1"}`), nil)[4:],
		"binary truncated":         frameOf(1, []byte{0, 10, 9}, nil)[4:],
		"binary no ext length":     frameOf(1, binHeader(func(h []byte) []byte { return h }), nil)[4:],
		"binary remark past end":   frameOf(1, binHeader(func(h []byte) []byte { binary.BigEndian.PutUint32(h[13:], 100); return h }), nil)[4:],
		"binary negative remark":   frameOf(1, binHeader(func(h []byte) []byte { binary.BigEndian.PutUint32(h[13:], 0xFFFFFFFF); return h }), nil)[4:],
		"binary negative ext len":  frameOf(1, binHeader(func(h []byte) []byte { return binary.BigEndian.AppendUint32(h, 0x80000000) }), nil)[4:],
		"binary ext len past end":  frameOf(1, binHeader(func(h []byte) []byte { return binary.BigEndian.AppendUint32(h, 50) }), nil)[4:],
		"binary ext key past end":  frameOf(1, binHeader(func(h []byte) []byte { return append(binary.BigEndian.AppendUint32(h, 3), 0, 9, 'k') }), nil)[4:],
		"binary ext value negative": frameOf(1, binHeader(func(h []byte) []byte {
			return append(binary.BigEndian.AppendUint32(h, 7), 0, 1, 'k', 0xff, 0xff, 0xff, 0xff)
		}), nil)[4:],
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			cmd, err := remoting.DecodeFrame(frame)
			if !errors.Is(err, remoting.ErrMalformed) {
				t.Fatalf("DecodeFrame = %+v, %v; want an error wrapping ErrMalformed", cmd, err)
			}
		})
	}
}

func TestReadCommand_reportsStreamProblems(t *testing.T) {
	valid := (&remoting.Command{Code: 30, Opaque: 1}).AppendFrame(nil)
	lengthOnly := func(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	cases := []struct {
		name   string
		stream []byte
		want   error
	}{
		{"clean end", nil, io.EOF},
		{"partial length", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"length but no frame", lengthOnly(100), io.ErrUnexpectedEOF},
		{"truncated frame", valid[:len(valid)-3], io.ErrUnexpectedEOF},
		{"negative length", lengthOnly(-1), remoting.ErrMalformed},
		{"length below mark size", append(lengthOnly(3), 0, 0, 0), remoting.ErrMalformed},
		{"over max frame", append(lengthOnly(1025), make([]byte, 1025)...), remoting.ErrFrameTooLarge},
		{"http request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), remoting.ErrFrameTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd, err := remoting.ReadCommand(bufio.NewReader(bytes.NewReader(c.stream)), 1024)
			if !errors.Is(err, c.want) {
				t.Fatalf("ReadCommand = %+v, %v; want %v", cmd, err, c.want)
			}
		})
	}
	// Exactly MaxFrame is accepted.
	f := (&remoting.Command{Code: 1, Body: make([]byte, 1000)}).AppendFrame(nil)
	if _, err := remoting.ReadCommand(bufio.NewReader(bytes.NewReader(f)), len(f)-4); err != nil {
		t.Fatalf("frame of exactly maxFrame bytes: %v", err)
	}
	if _, err := remoting.ReadCommand(bufio.NewReader(bytes.NewReader(f)), len(f)-5); !errors.Is(err, remoting.ErrFrameTooLarge) {
		t.Fatalf("frame one byte over maxFrame: %v", err)
	}
}

// FuzzDecodeFrame: DecodeFrame never panics, fails only with ErrMalformed,
// and whatever it accepts re-encodes to a frame that decodes the same.
func FuzzDecodeFrame(f *testing.F) {
	for _, g := range goldenCommands {
		f.Add(g.cmd.AppendFrame(nil)[4:])
	}
	f.Add(frameOf(0, []byte(`{"code":10,"extFields":{"a":1}}`), nil)[4:])
	f.Add(frameOf(0, []byte(`null`), []byte("b"))[4:])
	f.Add(frameOf(1, []byte{0, 10, 9, 1, 61, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil)[4:])
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, frame []byte) {
		cmd, err := remoting.DecodeFrame(frame)
		if err != nil {
			if !errors.Is(err, remoting.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again := cmd.AppendFrame(nil)
		cmd2, err := remoting.ReadCommand(bufio.NewReader(bytes.NewReader(again)), len(again))
		if err != nil {
			t.Fatalf("re-encoded frame %q does not decode: %v", again, err)
		}
		assertSameCommand(t, cmd2, cmd)
	})
}

// FuzzReadCommand: reading a byte stream of frames never panics and stops
// with io.EOF, io.ErrUnexpectedEOF, ErrMalformed or ErrFrameTooLarge, after
// consuming exactly the frames it returned.
func FuzzReadCommand(f *testing.F) {
	var two []byte
	for _, g := range goldenCommands[:2] {
		two = g.cmd.AppendFrame(two)
	}
	f.Add(two)
	f.Add(append(two, 0, 0, 0, 9, 0))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, stream []byte) {
		const maxFrame = 4096
		r := bufio.NewReader(bytes.NewReader(stream))
		consumed := 0
		for {
			cmd, err := remoting.ReadCommand(r, maxFrame)
			if err != nil {
				switch {
				case errors.Is(err, io.EOF):
					if consumed != len(stream) {
						t.Fatalf("io.EOF after %d of %d bytes", consumed, len(stream))
					}
				case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, remoting.ErrMalformed), errors.Is(err, remoting.ErrFrameTooLarge):
				default:
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			consumed += 4 + int(binary.BigEndian.Uint32(stream[consumed:]))
			if consumed > len(stream) {
				t.Fatalf("returned %+v beyond the end of the stream", cmd)
			}
		}
	})
}

// assertSameCommand compares everything a peer can observe. Language is
// not compared: the JSON encoder writes "GO" for "", the binary one always
// writes the GO byte.
func assertSameCommand(t *testing.T, got, want *remoting.Command) {
	t.Helper()
	if got.Code != want.Code || got.Version != want.Version || got.Opaque != want.Opaque || got.Flag != want.Flag ||
		got.Remark != want.Remark || got.Serialize != want.Serialize {
		t.Fatalf("header: got code=%d version=%d opaque=%d flag=%d codec=%d remark=%q\nwant code=%d version=%d opaque=%d flag=%d codec=%d remark=%q",
			got.Code, got.Version, got.Opaque, got.Flag, got.Serialize, got.Remark,
			want.Code, want.Version, want.Opaque, want.Flag, want.Serialize, want.Remark)
	}
	if len(got.ExtFields) != len(want.ExtFields) || (len(want.ExtFields) > 0 && !maps.Equal(got.ExtFields, want.ExtFields)) {
		t.Fatalf("extFields: got %q, want %q", got.ExtFields, want.ExtFields)
	}
	if !bytes.Equal(got.Body, want.Body) || (got.Body == nil) != (len(want.Body) == 0) {
		t.Fatalf("body: got %d bytes (nil=%v), want %d bytes", len(got.Body), got.Body == nil, len(want.Body))
	}
}
