package broker_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/clock"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// stallClock is the real clock, except that once armed, the first call
// of Now from the store's append (made under the commit log's append
// lock) blocks until release: an append stuck as on a segment roll's
// fsync, in the real store, with the lock really held.
type stallClock struct {
	clock.Real
	mu      sync.Mutex
	armed   bool
	stalled chan time.Time // receives when the append is stuck
	release chan struct{}
}

func newStallClock() *stallClock {
	return &stallClock{stalled: make(chan time.Time, 1), release: make(chan struct{})}
}

func (c *stallClock) arm() { c.mu.Lock(); c.armed = true; c.mu.Unlock() }

func (c *stallClock) Now() time.Time {
	c.mu.Lock()
	stall := c.armed && calledFromAppend()
	if stall {
		c.armed = false
	}
	c.mu.Unlock()
	if stall {
		c.stalled <- time.Now()
		<-c.release
	}
	return time.Now()
}

func calledFromAppend() bool {
	pc := make([]uintptr, 16)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, "store.(*Store).appendBatch") {
			return true
		}
		if !more {
			return false
		}
	}
}

// Review finding 3: a send served inline holds its connection's reader
// for the Put, and the official client multiplexes all the producers and
// consumers of a process on one connection. While a Put is stuck (here:
// with the append lock held), the broker stops inlining sends, so a
// connection whose send arrives during the stall keeps its reader: its
// heartbeat (3 s timeout in the client) is answered while the stall lasts,
// after the connection's own stuck send. Both stuck sends are acked once
// the append goes on.
func TestReview_heartbeat_notHeldBehindAStalledAppend(t *testing.T) {
	clk := newStallClock()
	b := startWireBroker(t, brokertest.WithClock(clk))
	topic := "RevStall"
	setup := dialWire(t, b.BrokerAddr())
	if r := setup.mustCall(t, protocol.SendMessage, sendExt(topic, 0, 0, ""), []byte("creates the topic")); r.Code != 0 {
		t.Fatalf("first send: %d %s", r.Code, r.Remark)
	}
	first, other := dialWire(t, b.BrokerAddr()), dialWire(t, b.BrokerAddr())
	clk.arm()
	acks := make(chan error, 1)
	send := func(c *wireClient, body string) {
		r, err := c.call(protocol.SendMessage, sendExt(topic, 0, 0, ""), []byte(body))
		if err == nil && r.Code != 0 {
			err = fmt.Errorf("send answered %d %s", r.Code, r.Remark)
		}
		acks <- err
	}
	go send(first, "stalls the append") // inlined: its Put takes the lock and sticks in it
	var stalledAt time.Time
	select {
	case stalledAt = <-clk.stalled:
	case <-time.After(wireTimeout):
		close(clk.release)
		t.Fatal("the send never reached the store's append")
	}
	released := false
	defer func() {
		if !released {
			close(clk.release)
		}
	}()
	// The guard is a time threshold (2 ms): what is awaited is the time.
	time.Sleep(time.Until(stalledAt.Add(20 * time.Millisecond)))
	// The send and the heartbeat in one write, the send first.
	hb := []byte(`{"clientID":"127.0.0.1@revstall","producerDataSet":[{"groupName":"rev_stall_pg"}],"consumerDataSet":[]}`)
	answers := other.pipeline(t,
		&remoting.Command{Code: int16(protocol.SendMessage), ExtFields: sendExt(topic, 0, 0, ""), Body: []byte("waits for the lock")},
		&remoting.Command{Code: int16(protocol.HeartBeat), Body: hb})
	select {
	case r := <-answers[1]:
		if r.Code != 0 {
			t.Fatalf("heartbeat: %d %s", r.Code, r.Remark)
		}
	case r := <-answers[0]:
		t.Fatalf("the send of the second connection answered during the stall: %d %s", r.Code, r.Remark)
	case <-time.After(3 * time.Second): // the client's heartbeat timeout
		t.Fatal("heartbeat behind a send on a connection during a stalled append: no answer within 3 s")
	}
	select {
	case err := <-acks:
		t.Fatalf("the stuck send finished during the stall: %v", err)
	default:
	}
	close(clk.release)
	released = true
	if err := <-acks; err != nil {
		t.Fatalf("stuck send after the stall: %v", err)
	}
	select {
	case r := <-answers[0]:
		if r.Code != 0 {
			t.Fatalf("second send after the stall: %d %s", r.Code, r.Remark)
		}
	case <-time.After(wireTimeout):
		t.Fatal("second send not answered after the stall")
	}
}

// pipeline writes cmds in one write (opaques set, in order) and returns
// the channels their responses arrive on.
func (c *wireClient) pipeline(t *testing.T, cmds ...*remoting.Command) []chan *remoting.Command {
	t.Helper()
	var frames []byte
	chs := make([]chan *remoting.Command, len(cmds))
	for i, cmd := range cmds {
		cmd.Opaque = c.opaque.Add(1)
		cmd.Language, cmd.Version = "GO", 317
		chs[i] = make(chan *remoting.Command, 1)
		c.mu.Lock()
		c.pending[cmd.Opaque] = chs[i]
		c.mu.Unlock()
		frames = cmd.AppendFrame(frames)
	}
	if err := c.writeRaw(frames); err != nil {
		t.Fatal(err)
	}
	return chs
}
