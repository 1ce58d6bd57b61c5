package remoting_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// Review findings on the inline serving of sends (feat/sendcpu): tests
// adopted from the review.

// inl is a handler that inlines code 1 (as Broker.Inline does for
// async-flush sends) and serves everything else on workers.
type inl struct{ handlerFunc }

func (inl) Inline(req *remoting.Command) bool { return req.Code == 1 }

// readWithin reads one frame within d.
func (c *testConn) readWithin(d time.Duration) (*remoting.Command, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	return remoting.ReadCommand(c.r, 64<<20)
}

// Two inlined sends pipelined with a frame the server refuses (length over
// MaxFrame) in one TCP write: both sends were stored (served), so both
// acks must reach the client before the server closes. On b747c49 the
// workers write them before c.close (w.stop runs first); on feat/sendcpu
// they sit in Conn.queued and are dropped with the connection.
func TestReview_inlinedAcks_writtenBeforeClosingOnARefusedFrame(t *testing.T) {
	var served atomic.Int32
	h := inl{func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		served.Add(1)
		return echo(ctx, c, req)
	}}
	for name, bad := range map[string][]byte{
		"frame too large":        lengthPrefix(1 << 20),
		"unknown serialize type": append(lengthPrefix(8), 7, 0, 0, 0, 0, 0, 0, 0),
		"length below 4":         lengthPrefix(1),
	} {
		t.Run(name, func(t *testing.T) {
			served.Store(0)
			addr, _ := startServer(t, h, remoting.Options{MaxFrame: 4096})
			c := dial(t, addr)
			var b []byte
			b = (&remoting.Command{Code: 1, Opaque: 1}).AppendFrame(b)
			b = (&remoting.Command{Code: 1, Opaque: 2}).AppendFrame(b)
			c.write(append(b, bad...))
			got := map[int32]bool{}
			for len(got) < 2 {
				resp, err := c.readWithin(3 * time.Second)
				if err != nil {
					t.Fatalf("acks %v of %d served requests received, then %v", got, served.Load(), err)
				}
				got[resp.Opaque] = true
			}
		})
	}
}

// An inlined send's ack must not be held while the reader waits for a
// byte budget for the next (fully buffered) frame: the package doc says
// responses are written "before any read or budget wait that can block".
func TestReview_inlinedAck_notHeldWhileTheReaderWaitsForBytes(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	h := inl{func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		if req.Code == 2 { // a worker request holding ~40 KiB of the connection's budget
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return remoting.NewResponse(req, 0, "")
	}}
	addr, _ := startServer(t, h, remoting.Options{MaxFrame: 64 << 10, MaxInflightBytes: 64 << 10, FrameTimeout: 5 * time.Second})
	defer close(release)
	c := dial(t, addr)
	c.send(&remoting.Command{Code: 2, Opaque: 1, Body: make([]byte, 40<<10)})
	<-started
	var b []byte
	b = (&remoting.Command{Code: 1, Opaque: 2}).AppendFrame(b)                             // inlined, ack queued
	b = (&remoting.Command{Code: 1, Opaque: 3, Body: make([]byte, 30<<10)}).AppendFrame(b) // needs bytes held by request 1
	c.write(b)
	resp, err := c.readWithin(2 * time.Second)
	if err != nil {
		t.Fatalf("ack of the served request 2 held while the reader waits for a byte budget: %v", err)
	}
	if resp.Opaque != 2 {
		t.Fatalf("opaque %d, want 2", resp.Opaque)
	}
}

// ... and when that budget wait ends in ErrBudget (FrameTimeout), the ack
// of the already-stored request must not be lost with the connection.
func TestReview_inlinedAck_notLostWhenTheBudgetWaitTimesOut(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	h := inl{func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		if req.Code == 2 {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return remoting.NewResponse(req, 0, "")
	}}
	addr, _ := startServer(t, h, remoting.Options{MaxFrame: 64 << 10, MaxInflightBytes: 64 << 10, FrameTimeout: 300 * time.Millisecond})
	defer close(release)
	c := dial(t, addr)
	c.send(&remoting.Command{Code: 2, Opaque: 1, Body: make([]byte, 40<<10)})
	<-started
	var b []byte
	b = (&remoting.Command{Code: 1, Opaque: 2}).AppendFrame(b)
	b = (&remoting.Command{Code: 1, Opaque: 3, Body: make([]byte, 30<<10)}).AppendFrame(b)
	c.write(b)
	for {
		resp, err := c.readWithin(3 * time.Second)
		if err != nil {
			t.Fatalf("connection ended (%v) without the ack of the served request 2", err)
		}
		if resp.Opaque == 2 {
			return
		}
	}
}

// With one frame and only 2 bytes of the next one's length prefix
// arrived, the response of the first is written before the reader waits
// for the rest of the prefix.
func TestReview_writesInlinedResponses_beforeWaitingForALengthPrefix(t *testing.T) {
	addr, _ := startServer(t, inl{echo}, remoting.Options{})
	c := dial(t, addr)
	first := (&remoting.Command{Code: 1, Opaque: 1}).AppendFrame(nil)
	second := (&remoting.Command{Code: 1, Opaque: 2}).AppendFrame(nil)
	c.write(append(first, second[:2]...))
	resp, err := c.readWithin(2 * time.Second)
	if err != nil {
		t.Fatalf("response of the first request held while the reader waits for a length prefix: %v", err)
	}
	if resp.Opaque != 1 {
		t.Fatalf("opaque %d, want 1", resp.Opaque)
	}
	c.write(second[2:])
	if got := c.read().Opaque; got != 2 {
		t.Fatalf("second response has opaque %d, want 2", got)
	}
}

// A one-way request served inline gets no response; the next one does.
func TestReview_onewayInlined_getsNoResponse(t *testing.T) {
	addr, _ := startServer(t, inl{echo}, remoting.Options{})
	c := dial(t, addr)
	var b []byte
	b = (&remoting.Command{Code: 1, Opaque: 1, Flag: remoting.FlagOneway}).AppendFrame(b)
	b = (&remoting.Command{Code: 1, Opaque: 2}).AppendFrame(b)
	c.write(b)
	if resp := c.read(); resp.Opaque != 2 {
		t.Fatalf("opaque %d, want 2", resp.Opaque)
	}
}

// Inlined and worker requests mixed on one connection from many
// goroutines: every request is answered exactly once with its opaque.
func TestReview_mixedInlineAndWorker_everyResponseOnce(t *testing.T) {
	h := inl{func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		if req.Code == 2 && req.Opaque%7 == 0 {
			time.Sleep(time.Millisecond)
		}
		return echo(ctx, c, req)
	}}
	addr, _ := startServer(t, h, remoting.Options{MaxInflight: 8})
	c := dial(t, addr)
	const n = 20000
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				code := int16(1)
				if i%3 == 0 {
					code = 2
				}
				f := (&remoting.Command{Code: code, Opaque: int32(i), Body: []byte{byte(i)}}).AppendFrame(nil)
				mu.Lock()
				_, err := c.nc.Write(f)
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	seen := make([]bool, n)
	for range n {
		resp := c.read()
		if resp.Opaque < 0 || resp.Opaque >= n || seen[resp.Opaque] {
			t.Fatalf("bad or duplicate opaque %d", resp.Opaque)
		}
		if len(resp.Body) != 1 || resp.Body[0] != byte(resp.Opaque) {
			t.Fatalf("opaque %d with body %v", resp.Opaque, resp.Body)
		}
		seen[resp.Opaque] = true
	}
	wg.Wait()
}
