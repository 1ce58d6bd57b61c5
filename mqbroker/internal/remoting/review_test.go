package remoting_test

import (
	"context"
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
