package remoting

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
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
)

// Stats is a snapshot of what the server holds for its peers.
type Stats struct {
	Conns         int   // open connections
	Inflight      int64 // requests being served
	InflightBytes int64 // bytes reserved for frames being read or served
	ReadingFrames int64 // frames whose length arrived but not all their bytes
	FramesRead    int64 // frames read since start
	// IdleWhileBusy counts idle timeouts that did not close their
	// connection because requests of it were in flight.
	IdleWhileBusy int64
}

// Stats reports what the server currently holds (test and metrics hook).
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	return Stats{Conns: n, Inflight: s.inflight.Load(), InflightBytes: s.inflightBytes.Load(),
		ReadingFrames: s.reading.Load(), FramesRead: s.framesRead.Load(), IdleWhileBusy: s.idleBusy.Load()}
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
	if o.IdleTimeout < 0 || o.FrameTimeout <= 0 {
		errs = append(errs, fmt.Errorf("idle timeout %v and frame timeout %v must be positive", o.IdleTimeout, o.FrameTimeout))
	}
	return errors.Join(errs...)
}

// connReader reads a connection's frames under its limits.
type connReader struct {
	s     *Server
	c     *Conn
	r     *bufio.Reader
	bytes *semaphore.Weighted // this connection's in-flight bytes
	busy  func() bool         // requests of this connection are being served
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// next reads one frame: it waits up to IdleTimeout for its first byte
// (longer while requests of the connection are in flight — a long poll is
// not idleness), then up to FrameTimeout for the rest. The frame's bytes
// are reserved from the connection's and the server's budgets as they
// arrive; the caller releases size once the request is done.
func (cr *connReader) next() (cmd *Command, size int64, err error) {
	o := &cr.s.opts
	for {
		if o.IdleTimeout > 0 {
			_ = cr.c.nc.SetReadDeadline(time.Now().Add(o.IdleTimeout))
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
			return nil, 0, fmt.Errorf("%w for %v", ErrIdle, o.IdleTimeout)
		}
		return nil, 0, err
	}
	deadline := time.Now().Add(o.FrameTimeout)
	_ = cr.c.nc.SetReadDeadline(deadline)
	var lenBuf [4]byte
	if _, err := io.ReadFull(cr.r, lenBuf[:]); err != nil {
		return nil, 0, cr.readErr(err)
	}
	length := int64(int32(binary.BigEndian.Uint32(lenBuf[:])))
	if length < 4 {
		return nil, 0, fmt.Errorf("%w: length %d", ErrMalformed, length)
	}
	if length > int64(o.MaxFrame) {
		return nil, 0, fmt.Errorf("%w: %d bytes > %d", ErrFrameTooLarge, length, o.MaxFrame)
	}
	cr.s.reading.Add(1)
	defer cr.s.reading.Add(-1)
	cmd, buf, err := cr.readFrame(int(length), deadline)
	if err != nil {
		cr.release(int64(cap(buf)))
		return nil, 0, err
	}
	cr.s.framesRead.Add(1)
	return cmd, int64(cap(buf)), nil
}

// maxHeader bounds a frame's header (code, flags, remark, ext fields):
// real ones are a few KiB (message properties are capped at 32 KiB).
const maxHeader = 1 << 20

// readFrame reads a frame of length bytes (after its length field): its
// header mark first, checked before anything more is read, then the
// header, decoded before the body is read, then the body. Garbage is thus
// refused after a few bytes, and a frame's buffer (and its reservation)
// grows only as bytes arrive. On error the caller releases cap(buf).
func (cr *connReader) readFrame(length int, deadline time.Time) (cmd *Command, buf []byte, err error) {
	if buf, err = cr.grow(buf, 4, length, deadline); err != nil {
		return nil, buf, err
	}
	mark := binary.BigEndian.Uint32(buf[:4])
	st, hlen := SerializeType(mark>>24), int(mark&0xFFFFFF)
	if st != SerializeJSON && st != SerializeRocketMQ {
		return nil, buf, fmt.Errorf("%w: unknown serialize type %d", ErrMalformed, st)
	}
	if hlen > length-4 || hlen > maxHeader {
		return nil, buf, fmt.Errorf("%w: header length %d (frame %d, limit %d)", ErrMalformed, hlen, length, maxHeader)
	}
	if buf, err = cr.grow(buf, 4+hlen, length, deadline); err != nil {
		return nil, buf, err
	}
	if cmd, err = decodeHeader(st, buf[4:4+hlen]); err != nil {
		return nil, buf, err
	}
	if buf, err = cr.grow(buf, length, length, deadline); err != nil {
		return nil, buf, err
	}
	if len(buf) > 4+hlen {
		cmd.Body = buf[4+hlen:]
	}
	return cmd, buf, nil
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

// grow reads until buf holds want bytes of a frame of length, growing
// its capacity (and the reservation) by doubling, never beyond length.
func (cr *connReader) grow(buf []byte, want, length int, deadline time.Time) ([]byte, error) {
	for len(buf) < want {
		if len(buf) == cap(buf) {
			newCap := min(length, max(firstChunk, 2*cap(buf)))
			if err := cr.reserve(int64(newCap-cap(buf)), deadline); err != nil {
				return buf, err
			}
			nb := make([]byte, len(buf), newCap)
			copy(nb, buf)
			buf = nb
		}
		n, err := cr.r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil && len(buf) < want {
			return buf, cr.readErr(err)
		}
	}
	return buf, nil
}

// reserve takes n bytes from the connection's and the server's budgets,
// waiting (the reader stops reading: back-pressure) until the frame's
// deadline.
func (cr *connReader) reserve(n int64, deadline time.Time) error {
	if !cr.bytes.TryAcquire(n) {
		ctx, cancel := context.WithDeadline(cr.c.ctx, deadline)
		err := cr.bytes.Acquire(ctx, n)
		cancel()
		if err != nil {
			return fmt.Errorf("%w: connection (%d bytes)", errBudgetLimit, cr.s.opts.MaxInflightBytes)
		}
	}
	if !cr.s.bytes.TryAcquire(n) {
		ctx, cancel := context.WithDeadline(cr.c.ctx, deadline)
		err := cr.s.bytes.Acquire(ctx, n)
		cancel()
		if err != nil {
			cr.bytes.Release(n)
			return fmt.Errorf("%w: server (%d bytes)", errBudgetLimit, cr.s.opts.MaxInflightBytesTotal)
		}
	}
	cr.s.inflightBytes.Add(n)
	return nil
}

func (cr *connReader) release(n int64) {
	if n == 0 {
		return
	}
	cr.s.inflightBytes.Add(-n)
	cr.s.bytes.Release(n)
	cr.bytes.Release(n)
}
