package remoting_test

import (
	"bufio"
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// dialFrom connects to addr from the loopback address src (Linux routes
// all of 127.0.0.0/8 to lo), so tests can be several peer IPs.
func dialFrom(t *testing.T, addr, src string) *testConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &testConn{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// trickle starts a frame of declared bytes on c and sends sent bytes of it
// (in a goroutine: the server stops reading when its budget is held),
// then nothing more: a peer holding what the server reserved for it.
func trickle(c *testConn, declared, sent int) {
	header := []byte(`{"code":10,"opaque":1}`)
	frame := append(append(lengthPrefix(declared), lengthPrefix(len(header))...), header...)
	frame = append(frame, make([]byte, sent-len(frame))...)
	go c.nc.Write(frame) // fails once the test closes c
}

// Review finding 7: peers trickling large frames held the whole byte
// budget of the listener; every other connection, even for a heartbeat,
// then waited in reserve until its frame deadline and was closed.
func TestServer_smallFrame_servedWhileLargeFramesHoldTheByteBudget(t *testing.T) {
	const frame, total = 1 << 20, 4 << 20
	addr, srv := startServer(t, handlerFunc(echo), remoting.Options{
		MaxFrame: frame, MaxInflightBytes: frame, MaxInflightBytesTotal: total, FrameTimeout: time.Hour})
	// Four hostile peers (four IPs, so no per-IP cap is what saves the
	// heartbeat) each send all but the last byte of a 1 MiB frame: together
	// they want the listener's whole budget.
	// One after the other, each until it holds its whole frame or waits
	// for the budget (then it gets nothing more: nothing is released).
	for i, src := range []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"} {
		before := srv.Stats()
		trickle(dialFrom(t, addr, src), frame, frame-1)
		await(t, "hostile frame reserved or waiting", func() bool {
			s := srv.Stats()
			return s.ReadingFrames == int64(i+1) && (s.InflightBytes == before.InflightBytes+frame || s.Waiting > before.Waiting)
		})
	}
	if s := srv.Stats(); s.InflightBytes < 3<<20 {
		t.Fatalf("hostile frames hold %d bytes, want ≥ 3 MiB", s.InflightBytes)
	}

	good := dialFrom(t, addr, "127.0.0.2")
	good.send(&remoting.Command{Code: 34, Opaque: 9, Body: make([]byte, 16<<10)}) // a heartbeat
	resp := good.read()                                                           // fails after 10 s: the frame deadline is an hour away
	if resp.Opaque != 9 || len(resp.Body) != 16<<10 {
		t.Fatalf("heartbeat answer: opaque %d body %d, want 9 and %d", resp.Opaque, len(resp.Body), 16<<10)
	}
	if s := srv.Stats(); s.ReadingFrames != 4 {
		t.Fatalf("%d hostile frames still being read, want 4: the heartbeat must be answered while they hold the budget", s.ReadingFrames)
	}
}

// Review finding 7: 16 connections × 1024 long-poll pulls held all 16384
// request slots of the listener. Now one peer IP holds at most
// MaxInflightPerIP of them.
func TestServer_perIPInflightCap_leavesRequestSlotsForOtherPeers(t *testing.T) {
	var held atomic.Int32
	addr, srv := startServer(t, handlerFunc(func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		if req.Code == 11 { // a long poll: held until the connection closes
			held.Add(1)
			<-ctx.Done()
		}
		return echo(ctx, c, req)
	}), remoting.Options{MaxInflight: 4, MaxInflightTotal: 8, MaxInflightPerIP: 4})
	for range 2 { // one hostile IP, two connections of 4 pulls each: the listener's total
		c := dialFrom(t, addr, "127.0.0.11")
		var frames []byte
		for i := range 4 {
			frames = (&remoting.Command{Code: 11, Opaque: int32(i)}).AppendFrame(frames)
		}
		c.write(frames)
	}
	await(t, "4 pulls held", func() bool { return held.Load() >= 4 })

	good := dialFrom(t, addr, "127.0.0.2")
	good.send(&remoting.Command{Code: 10, Opaque: 9})
	if resp := good.read(); resp.Opaque != 9 {
		t.Fatalf("answer opaque %d, want 9", resp.Opaque)
	}
	// The good request counts as in flight until its worker is done, a
	// moment after its response is on the wire.
	await(t, "the good request to finish", func() bool { return srv.Stats().Inflight <= 4 })
	if n, s := held.Load(), srv.Stats(); n != 4 || s.Inflight != 4 {
		t.Fatalf("hostile IP holds %d pulls (%d in flight), want 4 (MaxInflightPerIP)", n, s.Inflight)
	}
}

func TestServer_perIPByteCap_leavesBytesForOtherPeers(t *testing.T) {
	const frame = 1 << 20
	addr, srv := startServer(t, handlerFunc(echo), remoting.Options{MaxFrame: frame, MaxInflightBytes: frame,
		MaxInflightBytesPerIP: frame, MaxInflightBytesTotal: 3 * frame, SmallFrameReserve: -1, FrameTimeout: time.Hour})
	for i := range 3 { // one hostile IP, three connections trickling 1 MiB frames: the listener's total
		before := srv.Stats()
		trickle(dialFrom(t, addr, "127.0.0.11"), frame, frame-1)
		await(t, "hostile frame reserved or waiting", func() bool {
			s := srv.Stats()
			return s.ReadingFrames == int64(i+1) && (s.InflightBytes == before.InflightBytes+frame || s.Waiting > before.Waiting)
		})
	}
	if s := srv.Stats(); s.InflightBytes != frame || s.Waiting != 2 {
		t.Fatalf("hostile IP holds %d bytes with %d frames waiting, want %d and 2 (MaxInflightBytesPerIP)", s.InflightBytes, s.Waiting, frame)
	}
	good := dialFrom(t, addr, "127.0.0.2")
	good.send(&remoting.Command{Code: 10, Opaque: 9, Body: make([]byte, 900<<10)}) // a large send
	if resp := good.read(); resp.Opaque != 9 || len(resp.Body) != 900<<10 {
		t.Fatalf("answer opaque %d body %d, want 9 and %d", resp.Opaque, len(resp.Body), 900<<10)
	}
}

func TestServer_perIPConnCap_closesExtraConnectionsAtOnce(t *testing.T) {
	addr, srv := startServer(t, handlerFunc(echo), remoting.Options{MaxConnsPerIP: 2})
	a, b := dialFrom(t, addr, "127.0.0.11"), dialFrom(t, addr, "127.0.0.11")
	for _, c := range []*testConn{a, b} {
		c.send(&remoting.Command{Code: 10, Opaque: 1})
		c.read()
	}
	extra := dialFrom(t, addr, "127.0.0.11")
	if !extra.waitClosed(10 * time.Second) {
		t.Fatal("third connection of one IP not closed")
	}
	if s := srv.Stats(); s.Refused != 1 || s.Conns != 2 || s.PeerIPs != 1 {
		t.Fatalf("stats %+v, want 1 refused, 2 connections of 1 IP", s)
	}
	other := dialFrom(t, addr, "127.0.0.2")
	other.send(&remoting.Command{Code: 10, Opaque: 2})
	if resp := other.read(); resp.Opaque != 2 {
		t.Fatalf("other IP: opaque %d, want 2", resp.Opaque)
	}
	// A closed connection frees its place.
	a.nc.Close()
	await(t, "first connection gone", func() bool { return srv.Stats().Conns == 2 })
	again := dialFrom(t, addr, "127.0.0.11")
	again.send(&remoting.Command{Code: 10, Opaque: 3})
	if resp := again.read(); resp.Opaque != 3 {
		t.Fatalf("after a close: opaque %d, want 3", resp.Opaque)
	}
}

func TestValidateLimits_perIPAndReserve(t *testing.T) {
	base := remoting.Options{MaxFrame: 1 << 20, MaxInflight: 4, MaxInflightTotal: 16, MaxInflightBytes: 1 << 20,
		MaxInflightBytesTotal: 4 << 20, IdleTimeout: time.Minute, FrameTimeout: time.Minute}
	if err := remoting.ValidateLimits(base); err != nil {
		t.Fatalf("defaults of the per-IP limits: %v", err)
	}
	for name, mod := range map[string]func(*remoting.Options){
		"per-IP requests below one connection's": func(o *remoting.Options) { o.MaxInflightPerIP = 2 },
		"per-IP requests above the total":        func(o *remoting.Options) { o.MaxInflightPerIP = 17 },
		"per-IP bytes below one connection's":    func(o *remoting.Options) { o.MaxInflightBytesPerIP = 1 << 10 },
		"per-IP bytes above the total":           func(o *remoting.Options) { o.MaxInflightBytesPerIP = 5 << 20 },
		"reserve leaving no large frame":         func(o *remoting.Options) { o.SmallFrameReserve = 3<<20 + 1 },
		"negative connections per IP":            func(o *remoting.Options) { o.MaxConnsPerIP = -1 },
	} {
		o := base
		mod(&o)
		if err := remoting.ValidateLimits(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// One peer IP may hold at most an eighth of the small-frame reserve, so
// a peer trickling small frames cannot take it from the others.
func TestServer_smallFrameReserve_perIPShare_leavesTheReserveToOthers(t *testing.T) {
	const frame, small = 1 << 20, 64 << 10
	addr, srv := startServer(t, handlerFunc(echo), remoting.Options{MaxFrame: frame, MaxInflightBytes: frame,
		MaxInflightBytesPerIP: 2 * frame, MaxInflightBytesTotal: 2 * frame, SmallFrameReserve: frame, FrameTimeout: time.Hour})
	// The general budget (1 MiB) held by one large frame, then three small
	// frames of the same IP: two take its share (128 KiB) of the reserve,
	// the third waits.
	trickle(dialFrom(t, addr, "127.0.0.11"), frame, frame-1)
	await(t, "large frame reserved", func() bool { return srv.Stats().InflightBytes == frame })
	for i := range 3 {
		before := srv.Stats()
		trickle(dialFrom(t, addr, "127.0.0.11"), small, small-1)
		await(t, "small frame reserved or waiting", func() bool {
			s := srv.Stats()
			return s.ReadingFrames == int64(i+2) && (s.ReserveBytes == before.ReserveBytes+small || s.Waiting > before.Waiting)
		})
	}
	if s := srv.Stats(); s.ReserveBytes != 2*small || s.Waiting != 1 {
		t.Fatalf("one IP holds %d bytes of the reserve with %d frames waiting, want %d (an eighth of it) and 1", s.ReserveBytes, s.Waiting, 2*small)
	}
	good := dialFrom(t, addr, "127.0.0.2")
	good.send(&remoting.Command{Code: 34, Opaque: 9, Body: make([]byte, 16<<10)})
	if resp := good.read(); resp.Opaque != 9 {
		t.Fatalf("heartbeat of another IP: opaque %d, want 9", resp.Opaque)
	}
}
