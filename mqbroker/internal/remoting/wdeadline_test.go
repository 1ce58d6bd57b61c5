package remoting

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// deadlineConn is a net.Conn that accepts every write and records the
// write deadlines set on it.
type deadlineConn struct {
	net.Conn // nil: only the methods below are used
	mu       sync.Mutex
	set      []time.Time
	writes   int
}

func (d *deadlineConn) Write(b []byte) (int, error) {
	d.mu.Lock()
	d.writes++
	d.mu.Unlock()
	return len(b), nil
}

func (d *deadlineConn) SetWriteDeadline(t time.Time) error {
	d.mu.Lock()
	d.set = append(d.set, t)
	d.mu.Unlock()
	return nil
}

func (d *deadlineConn) Close() error { return nil }
func (d *deadlineConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
}

func (d *deadlineConn) deadlines() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.set...)
}

type nopHandler struct{}

func (nopHandler) Serve(context.Context, *Conn, *Command) *Command { return nil }

// The write deadline of a long-lived connection is armed on its first
// write, kept while fresh, and re-armed once it was armed more than
// writeRearm ago (1.1 s, and 10 s without writes: the deadline passed),
// so a write always has at least writeTimeout-writeRearm and the deadline
// is never left in the past. Time passing is simulated by moving the
// remembered deadline back (flushLocked compares it with the clock).
func TestReview_writeDeadline_rearmedOnLongLivedConn(t *testing.T) {
	s := NewServer(nopHandler{}, Options{})
	nc := &deadlineConn{}
	c, err := s.newConn(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	resp := &Command{Flag: FlagResponse, Opaque: 1}
	sets := 0
	step := func(name string, wantSets int) {
		t.Helper()
		before := time.Now()
		if err := c.Write(resp); err != nil {
			t.Fatal(err)
		}
		d := nc.deadlines()
		if len(d) != wantSets {
			t.Fatalf("%s: %d deadlines set (%v), want %d", name, len(d), d, wantSets)
		}
		// The deadline in force (as flushLocked sees it) leaves the write
		// at least writeTimeout-writeRearm; a re-arm set it on nc.
		if c.wdeadline.Before(before.Add(writeTimeout - writeRearm)) {
			t.Fatalf("%s: deadline %v leaves the write at %v less than %v", name, c.wdeadline, before, writeTimeout-writeRearm)
		}
		if last := d[len(d)-1]; !c.wdeadline.Equal(last) && len(d) > sets {
			t.Fatalf("%s: remembered deadline %v, set on the connection %v", name, c.wdeadline, last)
		}
		sets = len(d)
	}
	step("first write", 1)
	step("write right after", 1) // fresh: no timer update per write
	c.wdeadline = c.wdeadline.Add(-writeRearm / 2)
	step("armed 0.5 s ago", 1)
	c.wdeadline = time.Now().Add(writeTimeout - writeRearm - 100*time.Millisecond)
	step("armed 1.1 s ago", 2)
	c.wdeadline = time.Now().Add(-time.Nanosecond)
	step("10 s without writes", 3)
	step("write right after the re-arm", 3)
	if nc.writes != 6 {
		t.Fatalf("%d writes reached the connection, want 6", nc.writes)
	}
}
