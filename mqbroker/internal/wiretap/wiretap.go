package wiretap

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// Route is one listening address of the proxy and where it forwards.
type Route struct {
	Name     string `json:"name"`     // "namesrv", "broker"
	Listen   string `json:"listen"`   // host:port the client dials
	Upstream string `json:"upstream"` // host:port of the real server
}

// Header is the first line of a golden file.
type Header struct {
	Version int     `json:"wiretap"`
	Command string  `json:"command"`
	Routes  []Route `json:"routes"`
	Note    string  `json:"note,omitempty"`
}

// Frame is one recorded frame (one line of a golden file).
type Frame struct {
	Seq       int               `json:"seq"`
	Conn      int               `json:"conn"`
	Route     string            `json:"route"`
	From      string            `json:"from"` // "client" or "server"
	Dir       string            `json:"dir"`  // "request" or "response"
	Raw       []byte            `json:"frame"`
	Code      int16             `json:"code"`
	Opaque    int32             `json:"opaque"`
	Flag      int32             `json:"flag"`
	Serialize int               `json:"serialize"`
	Language  string            `json:"language,omitempty"`
	Version   int16             `json:"version"`
	Remark    string            `json:"remark,omitempty"`
	Ext       map[string]string `json:"ext,omitempty"`
	Body      string            `json:"body,omitempty"`
	BodyLen   int               `json:"bodyLen"`
}

// Command decodes the recorded frame.
func (f Frame) Command() (*remoting.Command, error) {
	if len(f.Raw) < 4 {
		return nil, errors.New("wiretap: frame shorter than its length prefix")
	}
	return remoting.DecodeFrame(f.Raw[4:])
}

// Trailer is the last line of a golden file.
type Trailer struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Exit   int    `json:"exit"`
}

// Golden is a parsed golden file.
type Golden struct {
	Header  Header
	Frames  []Frame
	Trailer Trailer
}

// Requests returns the frames the client sent, in order.
func (g *Golden) Requests() []Frame {
	var out []Frame
	for _, f := range g.Frames {
		if f.From == "client" && f.Dir == "request" {
			out = append(out, f)
		}
	}
	return out
}

// ResponseTo returns the server's response to a client request (same
// connection and opaque), if recorded.
func (g *Golden) ResponseTo(req Frame) (Frame, bool) {
	for _, f := range g.Frames {
		if f.Conn == req.Conn && f.Route == req.Route && f.From == "server" && f.Dir == "response" && f.Opaque == req.Opaque {
			return f, true
		}
	}
	return Frame{}, false
}

// Parse reads a golden file.
func Parse(r io.Reader) (*Golden, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	g := &Golden{}
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(b, &probe); err != nil {
			return nil, fmt.Errorf("wiretap: line %d: %w", line, err)
		}
		var err error
		switch {
		case probe["wiretap"] != nil:
			err = json.Unmarshal(b, &g.Header)
		case probe["seq"] != nil:
			var f Frame
			err = json.Unmarshal(b, &f)
			g.Frames = append(g.Frames, f)
		case probe["exit"] != nil:
			err = json.Unmarshal(b, &g.Trailer)
		default:
			err = errors.New("neither header, frame nor trailer")
		}
		if err != nil {
			return nil, fmt.Errorf("wiretap: line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("wiretap: %w", err)
	}
	if g.Header.Version != 1 {
		return nil, fmt.Errorf("wiretap: unsupported golden version %d", g.Header.Version)
	}
	return g, nil
}

// Recording collects frames; it is safe for concurrent use.
type Recording struct {
	mu     sync.Mutex // guards frames
	frames []Frame
}

func (r *Recording) add(route string, conn int, fromClient bool, raw []byte) {
	f := Frame{Route: route, Conn: conn, From: "server", Raw: raw}
	if fromClient {
		f.From = "client"
	}
	if cmd, err := remoting.DecodeFrame(raw[4:]); err == nil {
		f.Code, f.Opaque, f.Flag, f.Serialize = cmd.Code, cmd.Opaque, cmd.Flag, int(cmd.Serialize)
		f.Language, f.Version, f.Remark, f.Ext = cmd.Language, cmd.Version, cmd.Remark, cmd.ExtFields
		f.BodyLen = len(cmd.Body)
		if utf8.Valid(cmd.Body) {
			f.Body = string(cmd.Body)
		}
		f.Dir = "request"
		if cmd.IsResponse() {
			f.Dir = "response"
		}
	} else {
		f.Dir = "undecodable"
		f.Remark = err.Error()
	}
	r.mu.Lock()
	f.Seq = len(r.frames) + 1
	r.frames = append(r.frames, f)
	r.mu.Unlock()
}

// Frames returns a copy of what was recorded so far.
func (r *Recording) Frames() []Frame {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Frame(nil), r.frames...)
}

// Write writes a golden file: header, frames, trailer.
func Write(w io.Writer, h Header, frames []Frame, t Trailer) error {
	h.Version = 1
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return err
	}
	for _, f := range frames {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return enc.Encode(t)
}

// Proxy forwards and records; create it with Listen.
type Proxy struct {
	Rec     Recording
	routes  []Route
	lns     []net.Listener
	rewrite [][2][]byte // upstream form → listen form, applied to server→client frames
	wg      sync.WaitGroup

	mu    sync.Mutex // guards conns, next
	conns map[net.Conn]struct{}
	next  int
}

// Listen binds every route's listening address.
func Listen(routes []Route) (*Proxy, error) {
	p := &Proxy{routes: routes, conns: make(map[net.Conn]struct{})}
	for _, rt := range routes {
		if len(rt.Listen) != len(rt.Upstream) {
			p.Close()
			return nil, fmt.Errorf("wiretap: route %s: listen %q and upstream %q differ in length", rt.Name, rt.Listen, rt.Upstream)
		}
		p.rewrite = append(p.rewrite, [2][]byte{[]byte(rt.Upstream), []byte(rt.Listen)})
		if up, err1 := hexAddr(rt.Upstream); err1 == nil {
			if ls, err2 := hexAddr(rt.Listen); err2 == nil {
				p.rewrite = append(p.rewrite, [2][]byte{[]byte(up), []byte(ls)})
			}
		}
		ln, err := net.Listen("tcp", rt.Listen)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("wiretap: %w", err)
		}
		p.lns = append(p.lns, ln)
	}
	for i, ln := range p.lns {
		p.wg.Add(1)
		go p.accept(ln, p.routes[i])
	}
	return p, nil
}

// hexAddr is the message-id form of an IPv4 address: 8 hex digits of the
// address, 8 of the port, upper case.
func hexAddr(addr string) (string, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return "", fmt.Errorf("not an IPv4 address: %q", addr)
	}
	var b [8]byte
	a4 := ap.Addr().As4()
	copy(b[:4], a4[:])
	binary.BigEndian.PutUint32(b[4:], uint32(ap.Port()))
	return strings.ToUpper(hex.EncodeToString(b[:])), nil
}

func (p *Proxy) accept(ln net.Listener, rt Route) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", rt.Upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.next++
		id := p.next
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(rt.Name, id, c, up, true)
		go p.pipe(rt.Name, id, up, c, false)
	}
}

func (p *Proxy) pipe(route string, id int, src, dst net.Conn, fromClient bool) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	r := bufio.NewReader(src)
	for {
		raw, err := readFrame(r)
		if err != nil {
			return
		}
		p.Rec.add(route, id, fromClient, raw)
		out := raw
		if !fromClient {
			out = p.rewriteFrame(raw)
		}
		if _, err := dst.Write(out); err != nil {
			return
		}
	}
}

func (p *Proxy) rewriteFrame(raw []byte) []byte {
	out := raw
	for _, rw := range p.rewrite {
		if bytes.Contains(out, rw[0]) {
			out = bytes.ReplaceAll(out, rw[0], rw[1]) // same length: prefix stays valid
		}
	}
	return out
}

// readFrame reads one complete frame including its length prefix.
func readFrame(r *bufio.Reader) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(l[:])
	if n > 256<<20 {
		return nil, fmt.Errorf("wiretap: frame of %d bytes", n)
	}
	buf := make([]byte, 4+int(n))
	copy(buf, l[:])
	if _, err := io.ReadFull(r, buf[4:]); err != nil {
		return nil, err
	}
	return buf, nil
}

// Close stops listening, ends every proxied connection and waits.
func (p *Proxy) Close() error {
	for _, ln := range p.lns {
		ln.Close()
	}
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}
