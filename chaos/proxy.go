//go:build unix

package main

import (
	"errors"
	"net"
	"sync"
	"time"
)

// proxy forwards TCP connections from its listener to its targets, and injects two kinds of
// partition on that path:
//
//   - cut: every connection it carries is closed and new ones are closed at once, until the
//     partition heals (peers see resets and refused connections);
//   - blackhole: nothing is closed, but no byte is forwarded in either direction and new
//     connections are accepted and then left waiting, until it heals — as if the packets were
//     dropped: peers see timeouts, not resets, and whatever survived its timeouts flows on after.
//
// It is how the campaign cuts order_srv from inventory_srv and the services from the broker
// without root: every such path goes through one. With several targets (two inventory_srv) it
// spreads connections over them round-robin, and a target that refuses the dial (killed,
// restarting) is skipped for the next one: one address in front of several instances.
type proxy struct {
	name    string
	ln      net.Listener
	targets []string

	mu        sync.Mutex // guards until, blackhole, healed, conns, stopped, next
	until     time.Time  // partitioned until then
	blackhole bool       // the current partition drops bytes instead of closing connections
	healed    chan struct{}
	conns     map[net.Conn]struct{}
	stopped   bool
	next      int // the target of the next connection
}

// newProxy listens on a free port of ip (127.0.0.1, or the host address of -partitions netns).
func newProxy(ip, name string, targets ...string) (*proxy, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return nil, err
	}
	p := &proxy{name: name, ln: ln, targets: targets, conns: map[net.Conn]struct{}{}, healed: make(chan struct{})}
	close(p.healed)
	go p.serve()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// partition cuts the path for d: open connections are closed, new ones are closed at once.
func (p *proxy) partition(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startLocked(d, false)
	for c := range p.conns {
		_ = c.Close()
	}
}

// drop blackholes the path for d: connections stay open but carry nothing until it heals.
func (p *proxy) drop(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startLocked(d, true)
}

func (p *proxy) startLocked(d time.Duration, blackhole bool) {
	p.until, p.blackhole = time.Now().Add(d), blackhole
	select {
	case <-p.healed:
		p.healed = make(chan struct{})
	default: // already partitioned: extended
	}
	healed := p.healed
	time.AfterFunc(d, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.healed == healed && !time.Now().Before(p.until) {
			p.healLocked()
		}
	})
}

// heal ends a partition now.
func (p *proxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.healLocked()
}

func (p *proxy) healLocked() {
	p.until, p.blackhole = time.Time{}, false
	select {
	case <-p.healed:
	default:
		close(p.healed)
	}
}

// gate returns nil if bytes may flow now, or a channel closed when the blackhole heals.
func (p *proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blackhole && time.Now().Before(p.until) {
		return p.healed
	}
	return nil
}

func (p *proxy) close() {
	p.mu.Lock()
	p.stopped = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.healLocked()
	p.mu.Unlock()
	_ = p.ln.Close()
}

// track registers c, unless the proxy stopped or a cut is in force.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || (!p.blackhole && time.Now().Before(p.until)) {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *proxy) serve() {
	for {
		in, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		go p.forward(in)
	}
}

// dial connects to the next target that accepts, round-robin.
func (p *proxy) dial() (net.Conn, error) {
	p.mu.Lock()
	first := p.next
	p.next = (p.next + 1) % len(p.targets)
	p.mu.Unlock()
	var errs []error
	for i := range p.targets {
		out, err := net.DialTimeout("tcp", p.targets[(first+i)%len(p.targets)], 2*time.Second)
		if err == nil {
			return out, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func (p *proxy) forward(in net.Conn) {
	defer in.Close()
	if !p.track(in) {
		return
	}
	defer p.untrack(in)
	if g := p.gate(); g != nil {
		<-g // a new connection during a blackhole: accepted, then nothing
	}
	out, err := p.dial()
	if err != nil {
		return
	}
	defer out.Close()
	if !p.track(out) {
		return
	}
	defer p.untrack(out)
	done := make(chan struct{}, 2)
	go func() { p.copy(out, in); done <- struct{}{} }()
	go func() { p.copy(in, out); done <- struct{}{} }()
	<-done
}

// copy forwards src to dst until either fails, holding every chunk back while a blackhole
// lasts (the kernel's buffers then fill and the sender's writes block, as on a lossy link).
func (p *proxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if g := p.gate(); g != nil {
				<-g
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // forward closes both ends
		}
	}
}
