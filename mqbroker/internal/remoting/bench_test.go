package remoting_test

import (
	"bufio"
	"context"
	"net"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// BenchmarkServer_pipelinedSmallRequests measures what serving a request
// costs the server, its accounting included (budgets per connection, per
// peer IP and in total): 1 KiB echo requests pipelined on one connection.
func BenchmarkServer_pipelinedSmallRequests(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := remoting.NewServer(handlerFunc(echo), remoting.Options{})
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	frame := (&remoting.Command{Code: 10, Body: make([]byte, 1<<10)}).AppendFrame(nil)
	done := make(chan error, 1)
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	go func() {
		for range b.N {
			if _, err := remoting.ReadCommand(r, 1<<20); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	w := bufio.NewWriter(nc)
	for range b.N {
		if _, err := w.Write(frame); err != nil {
			b.Fatal(err)
		}
		if w.Buffered() > 32<<10 {
			w.Flush()
		}
	}
	w.Flush()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
