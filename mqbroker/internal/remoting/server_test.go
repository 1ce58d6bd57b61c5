package remoting_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// handlerFunc adapts a function to remoting.Handler.
type handlerFunc func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command

func (f handlerFunc) Serve(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	return f(ctx, c, req)
}

// observingHandler also implements remoting.ConnObserver.
type observingHandler struct {
	handlerFunc
	closed chan uint64
}

func (h observingHandler) ConnClosed(c *remoting.Conn) { h.closed <- c.ID() }

func echo(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	resp := remoting.NewResponse(req, 0, "")
	resp.Body = req.Body
	return resp
}

// startServer serves h on a random port until the test ends, then checks
// that Shutdown and Serve both return cleanly.
func startServer(t *testing.T, h remoting.Handler, opts remoting.Options) (string, *remoting.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := remoting.NewServer(h, opts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve returned %v after Shutdown, want nil", err)
			}
		case <-ctx.Done():
			t.Error("Serve did not return after Shutdown")
		}
	})
	return ln.Addr().String(), srv
}

// testConn is a raw client connection with a read deadline per frame.
type testConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dial(t *testing.T, addr string) *testConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &testConn{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (c *testConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *testConn) send(cmd *remoting.Command) { c.t.Helper(); c.write(cmd.AppendFrame(nil)) }

func (c *testConn) read() *remoting.Command {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	cmd, err := remoting.ReadCommand(c.r, 64<<20)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return cmd
}

// waitClosed reports whether the server closed the connection (EOF or
// reset) within d, discarding anything it still sends.
func (c *testConn) waitClosed(d time.Duration) bool {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func TestServer_answersRequestsOfOneConnectionConcurrently(t *testing.T) {
	const n = 16
	var arrived atomic.Int32
	all := make(chan struct{})
	addr, _ := startServer(t, handlerFunc(func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		// Nobody answers until all n requests are being served at once.
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
			return echo(ctx, c, req)
		case <-time.After(10 * time.Second):
			return remoting.NewResponse(req, 1, "requests were served one at a time")
		}
	}), remoting.Options{})
	c := dial(t, addr)
	var frames []byte
	for i := 1; i <= n; i++ {
		frames = (&remoting.Command{Code: 10, Opaque: int32(i), Body: []byte(fmt.Sprint(i))}).AppendFrame(frames)
	}
	c.write(frames)
	seen := map[int32]bool{}
	for range n {
		resp := c.read()
		if !resp.IsResponse() || resp.Code != 0 || string(resp.Body) != fmt.Sprint(resp.Opaque) || seen[resp.Opaque] {
			t.Fatalf("bad response %+v (remark %q)", resp, resp.Remark)
		}
		seen[resp.Opaque] = true
	}
}

func TestServer_answersManyConnectionsAtOnce(t *testing.T) {
	addr, _ := startServer(t, handlerFunc(echo), remoting.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
			r := bufio.NewReader(nc)
			for i := range 200 {
				body := fmt.Sprintf("%d-%d", g, i)
				if _, err := nc.Write((&remoting.Command{Code: 10, Opaque: int32(i), Body: []byte(body)}).AppendFrame(nil)); err != nil {
					errs <- err
					return
				}
				resp, err := remoting.ReadCommand(r, 1<<20)
				if err != nil {
					errs <- err
					return
				}
				if resp.Opaque != int32(i) || string(resp.Body) != body {
					errs <- fmt.Errorf("connection %d: response %d/%q to request %d/%q", g, resp.Opaque, resp.Body, i, body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestServer_answersSystemError_whenHandlerPanics_andKeepsServing(t *testing.T) {
	addr, _ := startServer(t, handlerFunc(func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		switch req.Code {
		case 66:
			panic("handler bug")
		case 67:
			var m map[string]int
			m["x"]++ // runtime error: assignment to entry in nil map
		}
		return echo(ctx, c, req)
	}), remoting.Options{})
	c := dial(t, addr)
	for _, code := range []int16{66, 67} {
		c.send(&remoting.Command{Code: code, Opaque: int32(code), Serialize: remoting.SerializeRocketMQ})
		resp := c.read()
		if !resp.IsResponse() || resp.Code != 1 || resp.Opaque != int32(code) || resp.Remark == "" ||
			resp.Serialize != remoting.SerializeRocketMQ {
			t.Fatalf("answer to a panicking handler: %+v", resp)
		}
	}
	c.send(&remoting.Command{Code: 10, Opaque: 5, Body: []byte("still here")})
	if resp := c.read(); resp.Code != 0 || resp.Opaque != 5 || string(resp.Body) != "still here" {
		t.Fatalf("after the panics: %+v", resp)
	}
}

func TestServer_closesConnection_whenFrameExceedsMaxFrame(t *testing.T) {
	var calls atomic.Int32
	addr, _ := startServer(t, handlerFunc(func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		calls.Add(1)
		return echo(ctx, c, req)
	}), remoting.Options{MaxFrame: 1024})

	// A frame of exactly MaxFrame bytes is served.
	c := dial(t, addr)
	ok := &remoting.Command{Code: 10, Opaque: 1}
	ok.Body = make([]byte, 1024-(len(ok.AppendFrame(nil))-4))
	c.send(ok)
	if resp := c.read(); resp.Code != 0 || len(resp.Body) != len(ok.Body) {
		t.Fatalf("max-size frame: %+v", resp)
	}

	// One byte more closes the connection before the body is even sent.
	big := dial(t, addr)
	big.write(binary.BigEndian.AppendUint32(nil, 1025))
	if !big.waitClosed(5 * time.Second) {
		t.Fatal("connection still open after an oversized frame header")
	}
	// So does a length near 2 GiB (the server must not allocate it).
	huge := dial(t, addr)
	huge.write([]byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 2, '{', '}'})
	if !huge.waitClosed(5 * time.Second) {
		t.Fatal("connection still open after a 2 GiB frame header")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler called %d times, want 1", n)
	}
	// Other connections are unaffected.
	c.send(&remoting.Command{Code: 10, Opaque: 2})
	if resp := c.read(); resp.Opaque != 2 {
		t.Fatalf("first connection after the others were closed: %+v", resp)
	}
}

func TestServer_closesConnection_onMalformedOrTruncatedFrames(t *testing.T) {
	closed := make(chan uint64, 16)
	h := observingHandler{handlerFunc(echo), closed}
	addr, _ := startServer(t, h, remoting.Options{})
	cases := map[string][]byte{
		"garbage":              []byte("\x00\x00\x00\x08\x07garbage"),
		"negative length":      {0x80, 0, 0, 0},
		"json ext with number": frameOf(0, []byte(`{"code":10,"opaque":1,"extFields":{"queueId":1}}`), nil),
		"json ext with array":  frameOf(0, []byte(`{"code":10,"opaque":1,"extFields":{"queueId":["1"]}}`), nil),
		"bad binary header":    frameOf(1, []byte{0, 10}, nil),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			c := dial(t, addr)
			c.write(b)
			if !c.waitClosed(5 * time.Second) {
				t.Fatal("connection still open")
			}
		})
	}
	t.Run("truncated then EOF", func(t *testing.T) {
		c := dial(t, addr)
		f := (&remoting.Command{Code: 10, Opaque: 1, Body: []byte("0123456789")}).AppendFrame(nil)
		c.write(f[:len(f)-4])
		if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if !c.waitClosed(5 * time.Second) {
			t.Fatal("connection still open")
		}
	})
	for i := 0; i < len(cases)+1; i++ {
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatalf("ConnClosed called %d times, want %d", i, len(cases)+1)
		}
	}
}

func TestServer_ignoresResponseFramesFromTheClient(t *testing.T) {
	var calls atomic.Int32
	addr, _ := startServer(t, handlerFunc(func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		calls.Add(1)
		return echo(ctx, c, req)
	}), remoting.Options{})
	c := dial(t, addr)
	c.send(&remoting.Command{Code: 0, Opaque: 1, Flag: remoting.FlagResponse})
	c.send(&remoting.Command{Code: 10, Opaque: 2})
	if resp := c.read(); resp.Opaque != 2 {
		t.Fatalf("got %+v, want the answer to opaque 2", resp)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler called %d times, want 1 (responses are not requests)", n)
	}
}

func TestServer_sendOneway_reachesTheClient(t *testing.T) {
	addr, _ := startServer(t, handlerFunc(func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		if err := c.SendOneway(40, map[string]string{"consumerGroup": "cg"}, nil); err != nil {
			return remoting.NewResponse(req, 1, err.Error())
		}
		return echo(ctx, c, req)
	}), remoting.Options{})
	c := dial(t, addr)
	c.send(&remoting.Command{Code: 34, Opaque: 9})
	var push, resp *remoting.Command
	for range 2 {
		if cmd := c.read(); cmd.IsResponse() {
			resp = cmd
		} else {
			push = cmd
		}
	}
	if resp == nil || resp.Opaque != 9 || resp.Code != 0 {
		t.Fatalf("response %+v", resp)
	}
	if push == nil || push.Code != 40 || push.Flag&remoting.FlagOneway == 0 || push.Ext("consumerGroup") != "cg" {
		t.Fatalf("server-initiated request %+v", push)
	}
}

func TestServer_boundsInflightRequestsPerConnection(t *testing.T) {
	var cur, peak, entered atomic.Int32
	release := make(chan struct{}, 5)
	addr, _ := startServer(t, handlerFunc(func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		entered.Add(1)
		defer cur.Add(-1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return echo(ctx, c, req)
	}), remoting.Options{MaxInflight: 2})
	c := dial(t, addr)
	var frames []byte
	for i := range 5 {
		frames = (&remoting.Command{Code: 10, Opaque: int32(i)}).AppendFrame(frames)
	}
	c.write(frames)
	deadline := time.Now().Add(5 * time.Second)
	for entered.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests entered the handler, want 2", entered.Load())
		}
		time.Sleep(time.Millisecond)
	}
	for range 5 {
		release <- struct{}{}
		c.read()
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("peak concurrent handlers %d, want 2 (MaxInflight)", p)
	}
}

func TestServer_shutdownCancelsInflightRequests_andClosesConnections(t *testing.T) {
	entered := make(chan struct{})
	cancelled := make(chan struct{})
	closed := make(chan uint64, 1)
	h := observingHandler{func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		close(entered)
		<-ctx.Done()
		close(cancelled)
		return nil
	}, closed}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := remoting.NewServer(h, remoting.Options{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	c := dial(t, ln.Addr().String())
	c.send(&remoting.Command{Code: 11, Opaque: 1})
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-cancelled:
	default:
		t.Fatal("Shutdown returned while a request's context was still live")
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v, want nil", err)
	}
	if !c.waitClosed(5 * time.Second) {
		t.Fatal("client connection still open after Shutdown")
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("ConnClosed not called")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("listener still accepting after Shutdown")
	}
	// Serving again after Shutdown returns at once.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln2); err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

// inliningHandler also implements remoting.Inliner: code 1 may be inlined.
// It counts the requests it was asked about and those it served on the
// connection's reader (the remoting server's serveInline on the stack).
type inliningHandler struct {
	handlerFunc
	asked   atomic.Int64
	inlined atomic.Int64
}

func (h *inliningHandler) Serve(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	if calledFrom("remoting.(*workers).serveInline") {
		h.inlined.Add(1)
	}
	return h.handlerFunc(ctx, c, req)
}

// calledFrom reports whether fn (a function name's suffix) is on the
// caller's stack.
func calledFrom(fn string) bool {
	pc := make([]uintptr, 32)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, fn) {
			return true
		}
		if !more {
			return false
		}
	}
}

func (h *inliningHandler) Inline(req *remoting.Command) bool {
	h.asked.Add(1)
	return req.Code == 1
}

func TestServer_servesInlinableRequests_oneAtATime(t *testing.T) {
	h := &inliningHandler{handlerFunc: echo}
	addr, _ := startServer(t, h, remoting.Options{})
	c := dial(t, addr)
	for i := range int32(20) {
		c.send(&remoting.Command{Code: 1, Opaque: i, Body: []byte{byte(i)}})
		resp := c.read()
		if resp.Opaque != i || len(resp.Body) != 1 || resp.Body[0] != byte(i) {
			t.Fatalf("request %d answered with opaque %d body %v", i, resp.Opaque, resp.Body)
		}
	}
	if h.asked.Load() == 0 {
		t.Fatal("the server never asked the handler whether a request may be inlined")
	}
	if n := h.inlined.Load(); n != 20 {
		t.Fatalf("%d of 20 inlinable requests served on the connection's reader", n)
	}
}

// Inlined requests pipelined in one read are answered without the
// client sending anything more: their queued responses are written before
// the reader waits for input.
func TestServer_writesInlinedResponses_beforeWaitingForMoreInput(t *testing.T) {
	h := &inliningHandler{handlerFunc: echo}
	addr, _ := startServer(t, h, remoting.Options{})
	c := dial(t, addr)
	var frames []byte
	for i := range int32(5) {
		frames = (&remoting.Command{Code: 1, Opaque: i}).AppendFrame(frames)
	}
	c.write(frames)
	for i := range int32(5) {
		if got := c.read().Opaque; got != i {
			t.Fatalf("response %d has opaque %d", i, got)
		}
	}
}

// With a frame only partly arrived, the responses of the requests before
// it are written first (the reader would otherwise hold them until the
// rest arrives).
func TestServer_writesInlinedResponses_beforeWaitingForARestOfAFrame(t *testing.T) {
	h := &inliningHandler{handlerFunc: echo}
	addr, _ := startServer(t, h, remoting.Options{})
	c := dial(t, addr)
	first := (&remoting.Command{Code: 1, Opaque: 1}).AppendFrame(nil)
	second := (&remoting.Command{Code: 1, Opaque: 2, Body: []byte("body")}).AppendFrame(nil)
	c.write(append(first, second[:len(second)-3]...))
	if got := c.read().Opaque; got != 1 {
		t.Fatalf("first response has opaque %d, want 1", got)
	}
	c.write(second[len(second)-3:])
	if got := c.read().Opaque; got != 2 {
		t.Fatalf("second response has opaque %d, want 2", got)
	}
}

// Requests the handler does not inline still run on workers: one that
// blocks does not hold up the inlined ones behind it.
func TestServer_servesInlinedRequests_whileAWorkerBlocks(t *testing.T) {
	release := make(chan struct{})
	h := &inliningHandler{handlerFunc: func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		if req.Code == 2 {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return remoting.NewResponse(req, 0, "")
	}}
	addr, _ := startServer(t, h, remoting.Options{})
	c := dial(t, addr)
	c.send(&remoting.Command{Code: 2, Opaque: 1})
	c.send(&remoting.Command{Code: 1, Opaque: 2})
	if got := c.read().Opaque; got != 2 {
		t.Fatalf("first response has opaque %d, want 2 (the inlined request)", got)
	}
	close(release)
	if got := c.read().Opaque; got != 1 {
		t.Fatalf("second response has opaque %d, want 1", got)
	}
}
