package remoting

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// Defaults of the limits in Options (what a peer can make the server hold).
const (
	DefaultMaxFrame              = 16 << 20
	DefaultMaxInflight           = 1024
	DefaultMaxInflightTotal      = 16384
	DefaultMaxInflightBytes      = 64 << 20
	DefaultMaxInflightBytesTotal = 512 << 20
	// DefaultMaxConnsPerIP bounds the connections of one peer IP; a Go or
	// Java client opens one or a few per broker, so a host running hundreds
	// of clients stays far below it.
	DefaultMaxConnsPerIP = 4096
	// DefaultSmallFrame is the largest frame that may use the small-frame
	// reserve (heartbeats, offset commits, pulls, small sends).
	DefaultSmallFrame = 64 << 10
	// DefaultIdleTimeout is Apache RocketMQ's: its server closes a channel
	// idle for 120 s (clients heartbeat every 30 s).
	DefaultIdleTimeout = 120 * time.Second
	// DefaultFrameTimeout bounds how long the rest of a frame may take to
	// arrive once its first byte did.
	DefaultFrameTimeout = 60 * time.Second
)

// firstChunk is what the reader reserves for a frame before more of it
// has arrived; the buffer then doubles as bytes come in, so a frame's
// declared length is never reserved up front.
const firstChunk = 16 << 10

// Errors of the connection loop (logged, then the connection is closed).
var (
	ErrIdle        = errors.New("remoting: connection idle")
	ErrSlowSender  = errors.New("remoting: frame not received in time")
	errBudgetLimit = errors.New("remoting: in-flight byte budget exhausted")
	// ErrTooManyConns: a peer IP already has MaxConnsPerIP connections;
	// the new one is closed at once.
	ErrTooManyConns = errors.New("remoting: too many connections from this IP")
)

// Stats is a snapshot of what the server holds for its peers.
type Stats struct {
	Conns         int   // open connections
	Inflight      int64 // requests being served
	InflightBytes int64 // bytes reserved for frames being read or served
	ReadingFrames int64 // frames whose length arrived but not all their bytes
	FramesRead    int64 // frames read since start
	// ReserveBytes is the part of InflightBytes that small frames took from
	// the small-frame reserve because the rest of the total was held.
	ReserveBytes int64
	// Waiting counts frames whose reader waits for a byte budget.
	Waiting int64
	PeerIPs int   // distinct peer IPs with open connections
	Refused int64 // connections closed at once for MaxConnsPerIP
	// IdleWhileBusy counts idle timeouts that did not close their
	// connection because requests of it were in flight.
	IdleWhileBusy int64
}

// Stats reports what the server currently holds (test and metrics hook).
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n, ips := len(s.conns), len(s.ips)
	s.mu.Unlock()
	return Stats{Conns: n, Inflight: s.inflight.Load(), InflightBytes: s.inflightBytes.Load(),
		ReadingFrames: s.reading.Load(), FramesRead: s.framesRead.Load(), IdleWhileBusy: s.idleBusy.Load(),
		ReserveBytes: s.reserveBytes.Load(), Waiting: s.waiting.Load(), PeerIPs: ips, Refused: s.refused.Load()}
}

func (o *Options) setDefaults() {
	if o.MaxFrame <= 0 {
		o.MaxFrame = DefaultMaxFrame
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	if o.MaxInflightTotal <= 0 {
		o.MaxInflightTotal = DefaultMaxInflightTotal
	}
	if o.MaxInflightBytes <= 0 {
		o.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if o.MaxInflightBytesTotal <= 0 {
		o.MaxInflightBytesTotal = DefaultMaxInflightBytesTotal
	}
	// One frame must always fit, or a reader would wait forever.
	o.MaxInflightBytes = max(o.MaxInflightBytes, int64(o.MaxFrame))
	o.MaxInflightBytesTotal = max(o.MaxInflightBytesTotal, o.MaxInflightBytes)
	o.MaxInflightTotal = max(o.MaxInflightTotal, o.MaxInflight)
	// Per peer IP: by default a quarter of the totals, so that at least four
	// peers are needed to hold a listener's budgets.
	if o.MaxConnsPerIP <= 0 {
		o.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if o.MaxInflightPerIP <= 0 {
		o.MaxInflightPerIP = o.MaxInflightTotal / 4
	}
	o.MaxInflightPerIP = min(max(o.MaxInflightPerIP, o.MaxInflight), o.MaxInflightTotal)
	if o.MaxInflightBytesPerIP <= 0 {
		o.MaxInflightBytesPerIP = o.MaxInflightBytesTotal / 4
	}
	o.MaxInflightBytesPerIP = min(max(o.MaxInflightBytesPerIP, o.MaxInflightBytes), o.MaxInflightBytesTotal)
	if o.SmallFrame <= 0 {
		o.SmallFrame = DefaultSmallFrame
	}
	if o.SmallFrameReserve == 0 {
		o.SmallFrameReserve = o.MaxInflightBytesTotal / 16
	}
	// Large frames keep at least one connection's budget of the total.
	o.SmallFrameReserve = min(max(o.SmallFrameReserve, 0), o.MaxInflightBytesTotal-o.MaxInflightBytes)
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.FrameTimeout <= 0 {
		o.FrameTimeout = DefaultFrameTimeout
	}
}

// ValidateLimits reports limits that cannot work together (for config
// validation; NewServer itself repairs them).
func ValidateLimits(o Options) error {
	var errs []error
	if o.MaxInflight < 1 || o.MaxInflightTotal < o.MaxInflight {
		errs = append(errs, fmt.Errorf("max in-flight requests: per connection %d must be ≥ 1 and ≤ total %d", o.MaxInflight, o.MaxInflightTotal))
	}
	if o.MaxInflightBytes < int64(o.MaxFrame) || o.MaxInflightBytesTotal < o.MaxInflightBytes {
		errs = append(errs, fmt.Errorf("max in-flight bytes: per connection %d must hold one frame (%d) and be ≤ total %d",
			o.MaxInflightBytes, o.MaxFrame, o.MaxInflightBytesTotal))
	}
	if o.MaxConnsPerIP < 0 || (o.MaxInflightPerIP != 0 && (o.MaxInflightPerIP < o.MaxInflight || o.MaxInflightPerIP > o.MaxInflightTotal)) {
		errs = append(errs, fmt.Errorf("per peer IP: max connections %d must not be negative, max in-flight requests %d must be 0 (default) or between per connection %d and total %d",
			o.MaxConnsPerIP, o.MaxInflightPerIP, o.MaxInflight, o.MaxInflightTotal))
	}
	if o.MaxInflightBytesPerIP != 0 && (o.MaxInflightBytesPerIP < o.MaxInflightBytes || o.MaxInflightBytesPerIP > o.MaxInflightBytesTotal) {
		errs = append(errs, fmt.Errorf("max in-flight bytes per peer IP %d must be 0 (default) or between per connection %d and total %d",
			o.MaxInflightBytesPerIP, o.MaxInflightBytes, o.MaxInflightBytesTotal))
	}
	if o.SmallFrameReserve > 0 && o.MaxInflightBytesTotal-o.SmallFrameReserve < o.MaxInflightBytes {
		errs = append(errs, fmt.Errorf("small-frame reserve %d must leave one connection's budget (%d) of the total %d to large frames",
			o.SmallFrameReserve, o.MaxInflightBytes, o.MaxInflightBytesTotal))
	}
	if o.IdleTimeout < 0 || o.FrameTimeout <= 0 {
		errs = append(errs, fmt.Errorf("idle timeout %v and frame timeout %v must be positive", o.IdleTimeout, o.FrameTimeout))
	}
	return errors.Join(errs...)
}

// peerIP is the budget shared by the connections of one peer IP.
type peerIP struct {
	addr     netip.Addr
	conns    int                 // open connections; guarded by Server.mu
	reqs     *semaphore.Weighted // MaxInflightPerIP
	bytes    *semaphore.Weighted // MaxInflightBytesPerIP
	reserved atomic.Int64        // bytes of this IP's frames taken from the small-frame reserve
}

// held is what one frame holds of the byte budgets.
type held struct {
	bytes   int64 // of the connection's, the IP's and the listener's budgets
	reserve int64 // of bytes, the part taken from the small-frame reserve
}

// connReader reads a connection's frames under its limits.
type connReader struct {
	s     *Server
	c     *Conn
	r     *bufio.Reader
	bytes *semaphore.Weighted // this connection's in-flight bytes
	busy  func() bool         // requests of this connection are being served
	flush func()              // writes the responses of requests served inline; called before a read that can block
	// armed is the read deadline last set on the connection (zero: none).
	// Setting one modifies a runtime timer (a lock and a syscall-free but
	// measurable ~1 µs); next sets it only before a read that can block,
	// i.e. when the bytes it needs are not buffered yet.
	armed time.Time
}

// setDeadline arms the connection's read deadline at t unless it already is.
func (cr *connReader) setDeadline(t time.Time) {
	if !t.Equal(cr.armed) {
		_ = cr.c.nc.SetReadDeadline(t)
		cr.armed = t
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// next reads one frame: it waits up to IdleTimeout for its first byte
// (longer while requests of the connection are in flight — a long poll is
// not idleness), then up to FrameTimeout for the rest. The frame's bytes
// are reserved from the connection's, its IP's and the server's budgets as
// they arrive; the caller releases h once the request is done. A
// deadline is armed only before a read that can block: bytes already
// buffered (frames pipelined by the client arrive several per read) are
// taken without touching the connection's timers.
func (cr *connReader) next() (cmd *Command, h held, err error) {
	o := &cr.s.opts
	for {
		if cr.r.Buffered() == 0 {
			cr.flush()
			if o.IdleTimeout > 0 {
				cr.setDeadline(time.Now().Add(o.IdleTimeout))
			} else {
				cr.setDeadline(time.Time{}) // no idle limit: not a previous frame's deadline either
			}
		}
		_, err := cr.r.Peek(1)
		if err == nil {
			break
		}
		if isTimeout(err) {
			if cr.busy() {
				cr.s.idleBusy.Add(1)
				continue
			}
			return nil, h, fmt.Errorf("%w for %v", ErrIdle, o.IdleTimeout)
		}
		return nil, h, err
	}
	deadline := time.Now().Add(o.FrameTimeout)
	if cr.r.Buffered() < 4 {
		cr.flush()
		cr.setDeadline(deadline)
	}
	var lenBuf [4]byte
	if _, err := io.ReadFull(cr.r, lenBuf[:]); err != nil {
		return nil, h, cr.readErr(err)
	}
	length := int64(int32(binary.BigEndian.Uint32(lenBuf[:])))
	if length < 4 {
		return nil, h, fmt.Errorf("%w: length %d", ErrMalformed, length)
	}
	if length > int64(o.MaxFrame) {
		return nil, h, fmt.Errorf("%w: %d bytes > %d", ErrFrameTooLarge, length, o.MaxFrame)
	}
	if cr.r.Buffered() < int(length) {
		cr.flush()
		cr.setDeadline(deadline) // the rest of the frame is still to be read
	}
	cr.s.reading.Add(1)
	defer cr.s.reading.Add(-1)
	fr := frameReader{cr: cr, length: int(length), deadline: deadline, small: length <= int64(o.SmallFrame)}
	cmd, err = fr.read()
	if err != nil {
		cr.release(fr.held)
		return nil, held{}, err
	}
	cr.s.framesRead.Add(1)
	return cmd, fr.held, nil
}

// maxHeader bounds a frame's header (code, flags, remark, ext fields):
// real ones are a few KiB (message properties are capped at 32 KiB).
const maxHeader = 1 << 20

// frameReader reads one frame of length bytes (after its length field).
type frameReader struct {
	cr       *connReader
	length   int
	deadline time.Time
	small    bool // length ≤ SmallFrame: may use the small-frame reserve
	buf      []byte
	held     held // released by the caller on error, else with the request
}

// read reads the frame: its header mark first, checked before anything
// more is read, then the header, decoded before the body is read, then the
// body. Garbage is thus refused after a few bytes, and the frame's buffer
// (and its reservation) grows only as bytes arrive.
func (fr *frameReader) read() (cmd *Command, err error) {
	if err = fr.grow(4); err != nil {
		return nil, err
	}
	mark := binary.BigEndian.Uint32(fr.buf[:4])
	st, hlen := SerializeType(mark>>24), int(mark&0xFFFFFF)
	if st != SerializeJSON && st != SerializeRocketMQ {
		return nil, fmt.Errorf("%w: unknown serialize type %d", ErrMalformed, st)
	}
	if hlen > fr.length-4 || hlen > maxHeader {
		return nil, fmt.Errorf("%w: header length %d (frame %d, limit %d)", ErrMalformed, hlen, fr.length, maxHeader)
	}
	if err = fr.grow(4 + hlen); err != nil {
		return nil, err
	}
	if cmd, err = decodeHeader(st, fr.buf[4:4+hlen]); err != nil {
		return nil, err
	}
	if err = fr.grow(fr.length); err != nil {
		return nil, err
	}
	if len(fr.buf) > 4+hlen {
		cmd.Body = fr.buf[4+hlen:]
	}
	return cmd, nil
}

func (cr *connReader) readErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	if isTimeout(err) {
		return fmt.Errorf("%w (%v)", ErrSlowSender, cr.s.opts.FrameTimeout)
	}
	return err
}

// grow reads until buf holds want bytes of the frame, growing its
// capacity (and the reservation) by doubling, never beyond its length.
func (fr *frameReader) grow(want int) error {
	for len(fr.buf) < want {
		if len(fr.buf) == cap(fr.buf) {
			newCap := min(fr.length, max(firstChunk, 2*cap(fr.buf)))
			if err := fr.cr.reserve(int64(newCap-cap(fr.buf)), fr.deadline, fr.small, &fr.held); err != nil {
				return err
			}
			nb := make([]byte, len(fr.buf), newCap)
			copy(nb, fr.buf)
			fr.buf = nb
		}
		n, err := fr.cr.r.Read(fr.buf[len(fr.buf):cap(fr.buf)])
		fr.buf = fr.buf[:len(fr.buf)+n]
		if err != nil && len(fr.buf) < want {
			return fr.cr.readErr(err)
		}
	}
	return nil
}

// acquire takes n of sem, waiting (the reader stops reading:
// back-pressure) until the frame's deadline. Before it waits it writes
// the responses of the requests served inline: they must not be held for
// the budget (which the peer may free only once it has them), nor lost
// if the wait ends the connection.
func (cr *connReader) acquire(sem *semaphore.Weighted, n int64, deadline time.Time) bool {
	if sem.TryAcquire(n) {
		return true
	}
	cr.flush()
	cr.s.waiting.Add(1)
	defer cr.s.waiting.Add(-1)
	ctx, cancel := context.WithDeadline(cr.c.ctx, deadline)
	defer cancel()
	return sem.Acquire(ctx, n) == nil
}

// reserve takes n bytes from the connection's, its peer IP's and the
// server's budgets, adding them to h. A small frame that finds the
// server's general budget held takes them from the small-frame reserve
// instead (each IP at most an eighth of it), so heartbeats and offset
// commits keep flowing while large frames hold the rest; it waits on the
// reserve, a large frame on the general budget.
func (cr *connReader) reserve(n int64, deadline time.Time, small bool, h *held) error {
	s, ip := cr.s, cr.c.ip
	if !cr.acquire(cr.bytes, n, deadline) {
		return fmt.Errorf("%w: connection (%d bytes)", errBudgetLimit, s.opts.MaxInflightBytes)
	}
	if !cr.acquire(ip.bytes, n, deadline) {
		cr.bytes.Release(n)
		return fmt.Errorf("%w: peer IP %v (%d bytes)", errBudgetLimit, ip.addr, s.opts.MaxInflightBytesPerIP)
	}
	fromReserve := false
	switch {
	case s.bytes.TryAcquire(n):
	case small && cr.takeReserve(n, deadline):
		fromReserve = true
	case cr.acquire(s.bytes, n, deadline):
	default:
		ip.bytes.Release(n)
		cr.bytes.Release(n)
		return fmt.Errorf("%w: server (%d bytes, of them %d reserved for frames ≤ %d bytes)",
			errBudgetLimit, s.opts.MaxInflightBytesTotal, s.opts.SmallFrameReserve, s.opts.SmallFrame)
	}
	h.bytes += n
	if fromReserve {
		h.reserve += n
		s.reserveBytes.Add(n)
	}
	s.inflightBytes.Add(n)
	return nil
}

// takeReserve takes n bytes of the small-frame reserve within the peer
// IP's share of it, waiting for the reserve until deadline.
func (cr *connReader) takeReserve(n int64, deadline time.Time) bool {
	s, ip := cr.s, cr.c.ip
	if s.reserve == nil {
		return false
	}
	share := max(s.opts.SmallFrameReserve/8, int64(s.opts.SmallFrame))
	if ip.reserved.Add(n) > share {
		ip.reserved.Add(-n)
		return false
	}
	if !cr.acquire(s.reserve, n, deadline) {
		ip.reserved.Add(-n)
		return false
	}
	return true
}

func (cr *connReader) release(h held) {
	if h.bytes == 0 {
		return
	}
	s := cr.s
	s.inflightBytes.Add(-h.bytes)
	s.bytes.Release(h.bytes - h.reserve)
	if h.reserve > 0 {
		s.reserveBytes.Add(-h.reserve)
		cr.c.ip.reserved.Add(-h.reserve)
		s.reserve.Release(h.reserve)
	}
	cr.c.ip.bytes.Release(h.bytes)
	cr.bytes.Release(h.bytes)
}
