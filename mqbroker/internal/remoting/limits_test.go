package remoting_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// await polls cond until it holds or 10 s pass.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// peakHandler serves echo after a token arrives on release (or the
// connection closes) and records the peak of concurrent requests.
type peakHandler struct {
	cur, peak, entered atomic.Int32
	release            chan struct{}
}

func newPeakHandler() *peakHandler { return &peakHandler{release: make(chan struct{}, 64)} }

func (h *peakHandler) Serve(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	n := h.cur.Add(1)
	for {
		p := h.peak.Load()
		if n <= p || h.peak.CompareAndSwap(p, n) {
			break
		}
	}
	h.entered.Add(1)
	defer h.cur.Add(-1)
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return echo(ctx, c, req)
}

func lengthPrefix(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

// Issue 12: 16 connections that sent only a 5 MiB length prefix made the
// broker hold 80 MiB. Now a frame's bytes are reserved as they arrive.
func TestServer_hugeLengthPrefix_reservesOnlyWhatArrived(t *testing.T) {
	const declared = 5 << 20
	addr, srv := startServer(t, handlerFunc(echo), remoting.Options{MaxFrame: 6 << 20})
	header := []byte(`{"code":10,"opaque":1}`)
	for range 16 {
		c := dial(t, addr)
		// The length, the header mark and a valid header; of the body, nothing.
		c.write(append(append(lengthPrefix(declared), lengthPrefix(len(header))...), header...))
	}
	await(t, "16 frames being read", func() bool { return srv.Stats().ReadingFrames == 16 })
	if got := srv.Stats().InflightBytes; got > 16*(64<<10) {
		t.Fatalf("server reserved %d bytes for 16 frames that sent %d bytes each, want ≤ %d (not their declared %d)",
			got, 8+len(header), 16*(64<<10), 16*declared)
	}

	// The same frame, once all of it arrives, is served whole.
	c := dial(t, addr)
	cmd := &remoting.Command{Code: 10, Opaque: 7, Body: bytes.Repeat([]byte("x"), declared-200)}
	c.send(cmd)
	if resp := c.read(); resp.Opaque != 7 || len(resp.Body) != len(cmd.Body) {
		t.Fatalf("echo of a frame read in growing chunks: opaque %d body %d, want 7 and %d", resp.Opaque, len(resp.Body), len(cmd.Body))
	}
}

func TestServer_closesIdleConnection(t *testing.T) {
	addr, srv := startServer(t, handlerFunc(echo), remoting.Options{IdleTimeout: 50 * time.Millisecond})
	c := dial(t, addr)
	c.send(&remoting.Command{Code: 10, Opaque: 1})
	c.read()
	if !c.waitClosed(10 * time.Second) {
		t.Fatal("idle connection not closed")
	}
	await(t, "no connections", func() bool { return srv.Stats().Conns == 0 })
}

func TestServer_keepsIdleConnection_whileItsRequestIsInFlight(t *testing.T) {
	h := newPeakHandler()
	addr, srv := startServer(t, h, remoting.Options{IdleTimeout: 20 * time.Millisecond})
	c := dial(t, addr)
	c.send(&remoting.Command{Code: 10, Opaque: 3})
	await(t, "two idle timeouts passed while busy", func() bool { return srv.Stats().IdleWhileBusy >= 2 })
	h.release <- struct{}{}
	if resp := c.read(); resp.Opaque != 3 {
		t.Fatalf("opaque %d, want 3", resp.Opaque)
	}
}

func TestServer_closesSlowSender(t *testing.T) {
	addr, srv := startServer(t, handlerFunc(echo), remoting.Options{FrameTimeout: 50 * time.Millisecond})
	c := dial(t, addr)
	c.write(append(lengthPrefix(100), 0, 0, 0, 10)) // 8 of 104 bytes, then nothing
	if !c.waitClosed(10 * time.Second) {
		t.Fatal("connection with an unfinished frame not closed")
	}
	await(t, "reservation released", func() bool { s := srv.Stats(); return s.Conns == 0 && s.InflightBytes == 0 })
}

func TestServer_boundsInflightRequestsInTotal(t *testing.T) {
	h := newPeakHandler()
	addr, _ := startServer(t, h, remoting.Options{MaxInflight: 2, MaxInflightTotal: 3, MaxInflightPerIP: 3}) // both connections come from 127.0.0.1
	conns := []*testConn{dial(t, addr), dial(t, addr)}
	for _, c := range conns {
		var frames []byte
		for i := range 3 {
			frames = (&remoting.Command{Code: 10, Opaque: int32(i)}).AppendFrame(frames)
		}
		c.write(frames)
	}
	await(t, "3 requests in the handler", func() bool { return h.entered.Load() >= 3 })
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				if _, err := remoting.ReadCommand(c.r, 1<<20); err != nil {
					t.Errorf("read: %v", err)
					return
				}
			}
		}()
	}
	for range 6 {
		h.release <- struct{}{}
	}
	wg.Wait()
	if p := h.peak.Load(); p != 3 {
		t.Fatalf("peak concurrent requests %d, want 3 (MaxInflightTotal)", p)
	}
}

// bigFrames returns n frames of about 40 KiB each.
func bigFrames(n int) []byte {
	var frames []byte
	for i := range n {
		frames = (&remoting.Command{Code: 10, Opaque: int32(i), Body: make([]byte, 40<<10)}).AppendFrame(frames)
	}
	return frames
}

func TestServer_boundsInflightBytesPerConnection(t *testing.T) {
	h := newPeakHandler()
	addr, srv := startServer(t, h, remoting.Options{MaxFrame: 64 << 10, MaxInflightBytes: 64 << 10})
	c := dial(t, addr)
	c.write(bigFrames(3))
	await(t, "a request in the handler", func() bool { return h.entered.Load() >= 1 })
	for range 3 {
		if got := srv.Stats().InflightBytes; got > 64<<10 {
			t.Fatalf("in-flight bytes %d > MaxInflightBytes %d", got, 64<<10)
		}
		h.release <- struct{}{}
		c.read()
	}
	if p := h.peak.Load(); p != 1 {
		t.Fatalf("peak concurrent 40 KiB requests %d, want 1 (64 KiB per connection)", p)
	}
}

func TestServer_boundsInflightBytesInTotal(t *testing.T) {
	h := newPeakHandler()
	addr, _ := startServer(t, h, remoting.Options{MaxFrame: 64 << 10, MaxInflightBytes: 64 << 10, MaxInflightBytesTotal: 64 << 10})
	a, b := dial(t, addr), dial(t, addr)
	a.write(bigFrames(1))
	b.write(bigFrames(1))
	await(t, "a request in the handler", func() bool { return h.entered.Load() >= 1 })
	h.release <- struct{}{}
	h.release <- struct{}{}
	a.read()
	b.read()
	if p := h.peak.Load(); p != 1 {
		t.Fatalf("peak concurrent 40 KiB requests of two connections %d, want 1 (64 KiB in total)", p)
	}
}

// Issue 12: the Java client logged "receive response, but not matched any
// request" for every one-way request the broker answered.
func TestServer_onewayRequest_getsNoResponse(t *testing.T) {
	var served atomic.Int32
	addr, _ := startServer(t, handlerFunc(func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		served.Add(1)
		return echo(ctx, c, req)
	}), remoting.Options{MaxInflight: 1}) // served in order: a response to the first would come first
	c := dial(t, addr)
	c.send(&remoting.Command{Code: 36, Opaque: 1, Flag: remoting.FlagOneway})
	c.send(&remoting.Command{Code: 10, Opaque: 2})
	if resp := c.read(); resp.Opaque != 2 {
		t.Fatalf("first response has opaque %d, want 2 (the one-way request 1 must get none)", resp.Opaque)
	}
	if n := served.Load(); n != 2 {
		t.Fatalf("handler served %d requests, want 2 (one-way requests are still served)", n)
	}
}

// Garbage is refused at its header mark or header, before its declared
// body arrives (it never would: the peer sends no more).
func TestServer_refusesGarbageHeader_beforeReadingTheBody(t *testing.T) {
	addr, srv := startServer(t, handlerFunc(echo), remoting.Options{MaxFrame: 6 << 20})
	for name, prefix := range map[string][]byte{
		"unknown serialize type":       append(lengthPrefix(5<<20), 7, 0, 0, 10),
		"header longer than the frame": append(lengthPrefix(100), 0, 0, 1, 0),
		"header over 1 MiB":            append(lengthPrefix(5<<20), 0, 0x10, 0, 1),
		"header not JSON":              append(append(lengthPrefix(5<<20), 0, 0, 0, 5), []byte("junk!")...),
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, addr)
			c.write(prefix)
			if !c.waitClosed(10 * time.Second) {
				t.Fatal("connection not closed at its bad header")
			}
		})
	}
	await(t, "nothing held", func() bool { s := srv.Stats(); return s.Conns == 0 && s.InflightBytes == 0 })
}
