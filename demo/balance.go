package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"time"
)

// maxBalancedBody bounds a request body the balancer buffers (to send it again to the next
// instance when the first refuses the connection); the services' own limits are far below.
const maxBalancedBody = 4 << 20

// balancer is one address in front of several instances of a service (--replicas 2): an
// httputil.ReverseProxy whose transport sends each request to the next instance, round-robin,
// and to the one after it when an instance refuses the connection (crashed, restarting) — so a
// client of the one address sees a dead instance only in the requests it was serving.
type balancer struct {
	name      string
	targets   []string // host:port of each instance
	transport http.RoundTripper
	next      atomic.Uint64
	served    []atomic.Int64 // requests each target answered
	srv       *http.Server
	ln        net.Listener
}

// newBalancer listens on addr and serves until close.
func newBalancer(name, addr string, targets []string) (*balancer, error) {
	b := &balancer{name: name, targets: targets, served: make([]atomic.Int64, len(targets)),
		transport: &http.Transport{DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s balancer: %w", name, err)
	}
	b.ln = ln
	b.srv = &http.Server{Handler: &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.Out.URL.Scheme = "http"; pr.SetXForwarded() },
		Transport: b,
	}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// RoundTrip sends req to the next instance that accepts the connection.
func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(io.LimitReader(req.Body, maxBalancedBody+1))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(body) > maxBalancedBody {
			return nil, fmt.Errorf("%s balancer: request body over %d bytes", b.name, maxBalancedBody)
		}
	}
	first := int(b.next.Add(1) % uint64(len(b.targets)))
	var errs []error
	for i := range b.targets {
		k := (first + i) % len(b.targets)
		out := req.Clone(req.Context())
		out.URL.Host, out.Host = b.targets[k], b.targets[k]
		if body != nil {
			out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		}
		resp, err := b.transport.RoundTrip(out)
		if err == nil {
			b.served[k].Add(1)
			return resp, nil
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			return nil, err // the instance took the request: not safe to send again
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// addr is the balancer's address.
func (b *balancer) addr() string { return b.ln.Addr().String() }

// counts returns how many requests each instance answered.
func (b *balancer) counts() []int64 {
	out := make([]int64, len(b.served))
	for i := range b.served {
		out[i] = b.served[i].Load()
	}
	return out
}

func (b *balancer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.srv.Shutdown(ctx)
}
