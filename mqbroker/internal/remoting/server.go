package remoting

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// Handler serves requests. Serve is called concurrently (up to
// Options.MaxInflight requests of a connection at once, each on its own
// goroutine) and may block (long polling); it returns the response to write or
// nil for none — for a request with the FlagOneway bit the response is
// dropped, never written. ctx is cancelled when the connection closes or the
// server shuts down.
type Handler interface {
	Serve(ctx context.Context, c *Conn, req *Command) *Command
}

// Inliner, when a Handler also implements it, names the requests that may
// be served on the connection's reader goroutine instead of a worker:
// Inline must report true only for requests whose Serve returns promptly
// without waiting on anything another request or the peer must provide
// (no long poll, no fsync wait, no request to the same peer). The reader
// serves such requests one after the other as it reads them (others of
// the connection still go to workers) and queues their responses, which
// it writes — all queued at once — before any read or budget wait that
// can block, and before the connection closes. That saves the hand-off
// to a worker (goroutine switches and futex wake-ups) per request, and
// with requests pipelined on the connection it batches their responses
// into one write.
//
// The trade-off: while an inlined request is served, nothing else of its
// connection is read, and a client may multiplex everything of a process
// on one connection (the Go client's heartbeats, locks, pulls and offset
// commits). A request that can stall (an fsync, a lock held across one)
// must therefore not be inlined, and Inline should decline everything
// while the resource inlined requests use is stalled (broker.Inline asks
// the store), so that one stall holds each connection's reader for at
// most the one request it had inlined when the stall began. Inline is
// called on the reader for every request and must not block.
type Inliner interface {
	Inline(req *Command) bool
}

// ConnObserver, when a Handler also implements it, is told when a
// connection closes (after its last request was dispatched).
type ConnObserver interface {
	ConnClosed(c *Conn)
}

// Options configures a Server. Zero fields take the Default* constants
// (limits.go). Together they bound what a peer can make the server hold:
// a frame's bytes are reserved only as they arrive (never its declared
// length up front), and while a budget is exhausted the reader stops
// reading (back-pressure) rather than failing requests. Budgets are kept
// per connection, per peer IP and in total, and a share of the total byte
// budget is reserved for small frames, so that no peer can starve the
// others of requests, bytes or heartbeats.
type Options struct {
	// MaxFrame bounds one frame (header plus body); larger frames close the
	// connection.
	MaxFrame int
	// MaxInflight bounds the requests served concurrently per connection,
	// MaxInflightTotal those of all connections.
	MaxInflight      int
	MaxInflightTotal int
	// MaxInflightBytes bounds the bytes of the frames a connection has
	// being read or served; MaxInflightBytesTotal those of all connections.
	// Each holds at least one MaxFrame.
	MaxInflightBytes      int64
	MaxInflightBytesTotal int64
	// MaxConnsPerIP bounds the open connections of one peer IP; more are
	// closed at once (logged). MaxInflightPerIP and MaxInflightBytesPerIP
	// bound the requests and bytes of all connections of one peer IP
	// (default: a quarter of the totals, at least one connection's).
	MaxConnsPerIP         int
	MaxInflightPerIP      int
	MaxInflightBytesPerIP int64
	// SmallFrameReserve is the part of MaxInflightBytesTotal that only
	// frames of at most SmallFrame bytes (heartbeats, offset commits,
	// pulls, small sends) may use, so they are read while large frames
	// hold the rest; each peer IP may hold an eighth of it. Default: a
	// sixteenth of the total; negative: none.
	SmallFrame        int
	SmallFrameReserve int64
	// IdleTimeout closes a connection that sent nothing for this long while
	// none of its requests was in flight; negative disables.
	IdleTimeout time.Duration
	// FrameTimeout closes a connection whose frame, once begun, has not
	// fully arrived in this time (slow senders).
	FrameTimeout time.Duration
	Logger       *slog.Logger
}

// Server accepts connections and serves the remoting protocol on them.
type Server struct {
	h    Handler
	opts Options
	log  *slog.Logger

	mu     sync.Mutex // guards lns, conns, ips (and each peerIP.conns), closed
	lns    []net.Listener
	conns  map[*Conn]struct{}
	ips    map[netip.Addr]*peerIP
	closed bool

	wg     sync.WaitGroup // connection loops
	nextID atomic.Uint64

	reqs          *semaphore.Weighted // MaxInflightTotal
	bytes         *semaphore.Weighted // MaxInflightBytesTotal - SmallFrameReserve
	reserve       *semaphore.Weighted // SmallFrameReserve; nil if none
	reserveBytes  atomic.Int64
	refused       atomic.Int64
	waiting       atomic.Int64
	inflight      atomic.Int64
	inflightBytes atomic.Int64
	reading       atomic.Int64
	framesRead    atomic.Int64
	idleBusy      atomic.Int64
}

// NewServer returns a server dispatching to h.
func NewServer(h Handler, opts Options) *Server {
	opts.setDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{h: h, opts: opts, log: opts.Logger, conns: make(map[*Conn]struct{}), ips: make(map[netip.Addr]*peerIP),
		reqs:  semaphore.NewWeighted(int64(opts.MaxInflightTotal)),
		bytes: semaphore.NewWeighted(opts.MaxInflightBytesTotal - opts.SmallFrameReserve)}
	if opts.SmallFrameReserve > 0 {
		s.reserve = semaphore.NewWeighted(opts.SmallFrameReserve)
	}
	return s
}

// Serve accepts connections on ln until Shutdown; it returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c, err := s.newConn(nc)
		if errors.Is(err, ErrTooManyConns) {
			s.refused.Add(1)
			s.log.Warn("refusing connection", "remote", nc.RemoteAddr().String(), "err", err, "limit", s.opts.MaxConnsPerIP)
			nc.Close()
			continue
		}
		if c == nil {
			nc.Close()
			return nil
		}
		go s.serveConn(c)
	}
}

// newConn registers a connection with its peer IP's budget; it returns
// nil after Shutdown and ErrTooManyConns over MaxConnsPerIP.
func (s *Server) newConn(nc net.Conn) (*Conn, error) {
	peer := peerAddr(nc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil
	}
	ip := s.ips[peer.Addr()]
	if ip == nil {
		ip = &peerIP{addr: peer.Addr(), reqs: semaphore.NewWeighted(int64(s.opts.MaxInflightPerIP)),
			bytes: semaphore.NewWeighted(s.opts.MaxInflightBytesPerIP)}
		s.ips[peer.Addr()] = ip
	}
	if ip.conns >= s.opts.MaxConnsPerIP {
		return nil, fmt.Errorf("%w: %v has %d", ErrTooManyConns, peer.Addr(), ip.conns)
	}
	ip.conns++
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{id: s.nextID.Add(1), nc: nc, ctx: ctx, cancel: cancel, log: s.log, peer: peer, ip: ip}
	c.wcond.L = &c.wmu
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return c, nil
}

// maxIdleWorkers bounds the handler goroutines a connection keeps waiting
// for its next request. A worker that has served a request has grown its
// stack to what a handler needs; reusing it spares the next request a new
// goroutine and that growth (runtime.newstack was ~30% of a send's
// handling when every request had a fresh goroutine). 16 is how many
// requests a client typically pipelines on one connection (16 goroutines
// sharing a producer): with 4, bursts of 16 ended 12 workers and started
// 12 new ones each time (runtime.newstack ~5 % of the broker's CPU in
// that bench row). An idle worker costs its stack, which the GC shrinks
// while it waits.
const maxIdleWorkers = 16

func (s *Server) serveConn(c *Conn) {
	defer s.wg.Done()
	w := &workers{s: s, c: c, work: make(chan request), sem: make(chan struct{}, s.opts.MaxInflight)}
	cr := &connReader{s: s, c: c, r: bufio.NewReaderSize(c.nc, 64<<10), flush: c.flush,
		bytes: semaphore.NewWeighted(s.opts.MaxInflightBytes), busy: func() bool { return len(w.sem) > 0 }}
	w.release = cr.release
	il, _ := s.h.(Inliner)
	for {
		cmd, size, err := cr.next()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || c.ctx.Err() != nil:
			case errors.Is(err, ErrIdle):
				s.log.Info("closing idle connection", "remote", c.RemoteAddr(), "err", err)
			default:
				s.log.Warn("closing connection", "remote", c.RemoteAddr(), "err", err)
			}
			break
		}
		if cmd.IsResponse() {
			cr.release(size)
			if o, ok := s.h.(ResponseObserver); ok {
				o.ServeResponse(c, cmd) // answers to SendRequest (invoke.go)
			}
			continue
		}
		if il != nil && il.Inline(cmd) {
			if !w.serveInline(request{cmd, size}) {
				break
			}
			continue
		}
		if !w.dispatch(request{cmd, size}) {
			break
		}
	}
	// The responses of requests served inline before the loop ended (a
	// frame refused after pipelined sends, whose records are stored) are
	// written before the connection closes: acks of stored messages must
	// not be dropped with a connection that is still writable.
	c.flush()
	// Requests that arrived right before EOF (offset commits at client
	// shutdown) are still served; their responses fail to write, harmlessly.
	w.stop()
	c.close()
	if o, ok := s.h.(ConnObserver); ok {
		o.ConnClosed(c)
	}
	s.mu.Lock()
	delete(s.conns, c)
	// Every request of c was released (w.stop), so a budget without
	// connections holds nothing.
	if c.ip.conns--; c.ip.conns == 0 {
		delete(s.ips, c.ip.addr)
	}
	s.mu.Unlock()
}

// workers serves one connection's requests concurrently: at most
// MaxInflight at a time, on goroutines that are reused while requests keep
// coming (up to maxIdleWorkers wait for the next one).
type workers struct {
	s       *Server
	c       *Conn
	work    chan request  // unbuffered: a send succeeds only into an idle worker
	sem     chan struct{} // one token per request being served
	idle    atomic.Int32  // workers waiting on work
	release func(held)    // returns a request's bytes to the budgets
	wg      sync.WaitGroup
}

// request is a frame read and the bytes reserved for it.
type request struct {
	cmd  *Command
	size held
}

// dispatch hands req to an idle worker or starts one; it blocks while
// MaxInflight requests of the connection, MaxInflightPerIP of its peer IP
// or MaxInflightTotal of the server are being served (back-pressure on
// the reader). It reports false if the connection closed meanwhile.
func (w *workers) dispatch(req request) bool {
	if !w.acquire(req) {
		return false
	}
	select {
	case w.work <- req:
	default:
		w.wg.Add(1)
		go w.run(req)
	}
	return true
}

// serveInline serves req on the calling (reader) goroutine, within the
// same budgets as dispatch; it reports false if the connection closed
// while waiting for them.
func (w *workers) serveInline(req request) bool {
	if !w.acquire(req) {
		return false
	}
	w.serve(req, true)
	<-w.sem
	return true
}

// acquire takes req's request tokens (connection, peer IP, server),
// blocking while they are exhausted; on failure (the connection closed) it
// releases req's bytes and reports false.
func (w *workers) acquire(req request) bool {
	select {
	case w.sem <- struct{}{}:
	default:
		w.c.flush() // responses of inline requests must not wait for the budgets
		w.sem <- struct{}{}
	}
	ip := w.c.ip
	if !ip.reqs.TryAcquire(1) {
		w.c.flush()
		if err := ip.reqs.Acquire(w.c.ctx, 1); err != nil {
			<-w.sem
			w.release(req.size)
			return false
		}
	}
	if !w.s.reqs.TryAcquire(1) {
		w.c.flush()
		if err := w.s.reqs.Acquire(w.c.ctx, 1); err != nil {
			ip.reqs.Release(1)
			<-w.sem
			w.release(req.size)
			return false
		}
	}
	w.s.inflight.Add(1)
	return true
}

// serve serves one acquired request, writes its response and releases
// its budgets except the connection's token (w.sem), which the caller
// returns.
func (w *workers) serve(req request, inline bool) {
	cmd := req.cmd
	resp := w.s.serveOne(w.c, cmd)
	// A one-way request (Java's RPC_ONEWAY flag bit) gets no response:
	// the Java client would log every one as unmatched.
	if resp != nil && cmd.Flag&FlagOneway == 0 {
		if inline {
			w.c.queue(resp) // flushed before the reader may block
		} else if err := w.c.Write(resp); err != nil && w.c.ctx.Err() == nil {
			w.s.log.Debug("write response", "remote", w.c.RemoteAddr(), "err", err)
		}
	}
	w.release(req.size)
	w.s.inflight.Add(-1)
	w.s.reqs.Release(1)
	w.c.ip.reqs.Release(1)
}

func (w *workers) run(req request) {
	defer w.wg.Done()
	for {
		w.serve(req, false)
		if w.idle.Add(1) > maxIdleWorkers {
			w.idle.Add(-1)
			<-w.sem
			return
		}
		<-w.sem // after counting as idle, so that the reader's next dispatch finds this worker
		var ok bool
		req, ok = <-w.work
		w.idle.Add(-1)
		if !ok {
			return
		}
	}
}

// stop waits for the requests being served and ends the idle workers.
func (w *workers) stop() {
	close(w.work)
	w.wg.Wait()
}

func (s *Server) serveOne(c *Conn, cmd *Command) (resp *Command) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("handler panic", "code", cmd.Code, "remote", c.RemoteAddr(), "panic", p)
			resp = NewResponse(cmd, 1, "internal error")
		}
	}()
	return s.h.Serve(c.ctx, c, cmd)
}

// Shutdown stops accepting, closes every connection (cancelling in-flight
// requests) and waits for the connection loops to end or ctx to expire.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeTimeout bounds one frame write; the deadline is re-armed when it
// has been armed for more than writeRearm (so a write has at least
// writeTimeout-writeRearm).
const (
	writeTimeout = 10 * time.Second
	writeRearm   = time.Second
)

// Conn is one client connection.
type Conn struct {
	id     uint64
	nc     net.Conn
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger
	peer   netip.AddrPort
	ip     *peerIP // budgets shared with the peer IP's other connections

	// Responses are coalesced: a Write while another goroutine is writing
	// to nc queues its frame, and the writing goroutine sends everything
	// queued with its next write — one syscall for all responses that
	// finished meanwhile (with 16 requests pipelined on a connection this
	// batches), and no added latency when nothing is queued.
	wmu      sync.Mutex // guards queued, spare, flushing
	wcond    sync.Cond  // L is &wmu; broadcast when a flush took the queue
	queued   []byte     // frames waiting for the flushing goroutine
	spare    []byte     // the previous batch's buffer, for reuse
	flushing bool       // a goroutine is writing to nc
	// wdeadline is the write deadline armed on nc; only the flushing
	// goroutine reads or sets it (handed over under wmu).
	wdeadline time.Time
	once      sync.Once

	opaque atomic.Int32 // for server-initiated requests
}

// peerAddr is the connection's remote IPv4/IPv6 address and port (127.0.0.1:0 if unknown).
func peerAddr(nc net.Conn) netip.AddrPort {
	if tcp, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		ap := tcp.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0)
}

// Peer is the remote address, parsed once (written into stored messages as BORNHOST).
func (c *Conn) Peer() netip.AddrPort { return c.peer }

// ID is unique per server for the connection's lifetime.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() string { return c.nc.RemoteAddr().String() }

// Context is cancelled when the connection closes.
func (c *Conn) Context() context.Context { return c.ctx }

// maxQueued bounds the frames queued behind a write in progress: a Write
// that finds more waits until the flushing goroutine takes them (so a peer
// that reads slowly holds at most this much plus one frame per connection
// beyond its in-flight requests).
const maxQueued = 1 << 20

// Write writes one command, or queues it behind a write in progress on
// the connection (then the goroutine writing sends it next and a failure
// closes the connection). It is safe for concurrent use; frames go out in
// the order of the calls. A failed write closes the connection.
func (c *Conn) Write(cmd *Command) error {
	c.wmu.Lock()
	for c.flushing && len(c.queued) >= maxQueued {
		c.wcond.Wait()
	}
	c.queued = cmd.AppendFrame(c.queued)
	if c.flushing {
		c.wmu.Unlock()
		return nil
	}
	return c.flushLocked()
}

// queue appends cmd's frame for a later flush (or for the goroutine
// flushing now); the reader uses it for the responses of requests it
// serves inline and flushes them before it may block (connReader.flush).
func (c *Conn) queue(cmd *Command) {
	c.wmu.Lock()
	for c.flushing && len(c.queued) >= maxQueued {
		c.wcond.Wait()
	}
	c.queued = cmd.AppendFrame(c.queued)
	if !c.flushing && len(c.queued) >= maxQueued {
		_ = c.flushLocked()
		return
	}
	c.wmu.Unlock()
}

// flush writes the frames queue left, unless another goroutine is
// flushing (it then takes them with its next write).
func (c *Conn) flush() {
	c.wmu.Lock()
	if c.flushing || len(c.queued) == 0 {
		c.wmu.Unlock()
		return
	}
	_ = c.flushLocked()
}

// flushLocked writes everything queued, including what is queued while
// it writes; called with wmu held and no other goroutine flushing, it
// returns with wmu released. A failed write closes the connection.
func (c *Conn) flushLocked() error {
	c.flushing = true
	var err error
	for len(c.queued) > 0 {
		buf := c.queued
		c.queued, c.spare = c.spare[:0], nil
		c.wmu.Unlock()
		if err == nil {
			// A peer that stops reading for writeTimeout is dropped (its
			// writes fail and the connection closes, which unregisters its
			// clients). The deadline is re-armed only once less than
			// writeTimeout-writeRearm of it is left, not on every write (a
			// timer update each): a write thus has between 9 and 10 s.
			if now := time.Now(); c.wdeadline.Sub(now) < writeTimeout-writeRearm {
				c.wdeadline = now.Add(writeTimeout)
				_ = c.nc.SetWriteDeadline(c.wdeadline)
			}
			_, err = c.nc.Write(buf)
		}
		c.wmu.Lock()
		if cap(buf) <= maxQueued { // don't pin a large pull response's buffer
			c.spare = buf[:0]
		}
		c.wcond.Broadcast()
	}
	c.flushing = false
	c.wmu.Unlock()
	if err != nil {
		c.close()
	}
	return err
}

// SendOneway sends a server-initiated request (no response expected).
func (c *Conn) SendOneway(code int16, ext map[string]string, body []byte) error {
	return c.Write(&Command{Code: code, Language: "GO", Version: 317,
		Opaque: c.opaque.Add(1), Flag: FlagOneway, ExtFields: ext, Body: body})
}

// Close closes the connection.
func (c *Conn) Close() { c.close() }

func (c *Conn) close() {
	c.once.Do(func() {
		c.cancel()
		c.nc.Close()
	})
}
