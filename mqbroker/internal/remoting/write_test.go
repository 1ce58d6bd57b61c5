package remoting_test

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// Writes are coalesced behind a write in progress (Conn.Write): whatever
// the interleaving, every frame arrives whole, exactly once, and the
// frames of one goroutine in the order it wrote them — also past the
// queue's bound (maxQueued, 1 MiB), where writers wait for the flusher.
func TestConnWrite_concurrentWritersKeepFramesWholeAndOrdered(t *testing.T) {
	const writers, frames = 16, 40
	body := func(w, i int) []byte { return bytes.Repeat([]byte{byte('a' + w)}, 1+(w*frames+i)*997%(64<<10)) }
	addr, _ := startServer(t, handlerFunc(func(_ context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range frames {
					ext := map[string]string{"w": strconv.Itoa(w), "i": strconv.Itoa(i)}
					if err := c.SendOneway(99, ext, body(w, i)); err != nil {
						t.Errorf("writer %d frame %d: %v", w, i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return remoting.NewResponse(req, 0, "done")
	}), remoting.Options{})
	c := dial(t, addr)
	c.send(&remoting.Command{Code: 10, Opaque: 1})
	next := make([]int, writers)
	for range writers * frames {
		cmd := c.read()
		w, err1 := strconv.Atoi(cmd.Ext("w"))
		i, err2 := strconv.Atoi(cmd.Ext("i"))
		if cmd.Code != 99 || err1 != nil || err2 != nil || w < 0 || w >= writers {
			t.Fatalf("unexpected frame code %d ext %q", cmd.Code, cmd.ExtFields)
		}
		if i != next[w] {
			t.Fatalf("writer %d: frame %d arrived, want %d (lost or reordered)", w, i, next[w])
		}
		if !bytes.Equal(cmd.Body, body(w, i)) {
			t.Fatalf("writer %d frame %d: body of %d bytes mangled", w, i, len(cmd.Body))
		}
		next[w]++
	}
	if resp := c.read(); resp.Opaque != 1 || resp.Remark != "done" {
		t.Fatalf("last frame: opaque %d remark %q, want the response after all one-way frames", resp.Opaque, resp.Remark)
	}
}
