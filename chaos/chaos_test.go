//go:build unix

package main

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestVerify_findsEveryKindOfViolation(t *testing.T) {
	t.Parallel()
	led := newLedger()
	led.created["lost"], led.created["paid"] = true, true
	led.paid["closed"] = true
	st := state{
		orders: map[string]orderState{
			"paid":    {status: "TRADE_SUCCESS", paid: true, items: map[int64]int64{1: 2}},
			"closed":  {status: "TRADE_CLOSED", closed: true, items: map[int64]int64{1: 1}},
			"waiting": {status: "WAIT_BUYER_PAY", items: map[int64]int64{1: 1}},
			"both":    {status: "TRADE_SUCCESS", paid: true, closed: true, items: map[int64]int64{}},
		},
		stock:   map[int64]int64{1: 5},
		sells:   map[string]int{"paid": 1, "closed": 1, "orphan": 1},
		pending: 2,
	}
	checks := verify(st, map[int64]int64{1: 10}, led)
	if allOK(checks) {
		t.Fatal("no violation found")
	}
	for _, c := range checks {
		if c.ok {
			t.Errorf("%s: ok, want violated (%s)", c.name, c.detail)
		}
	}
	good := state{
		orders: map[string]orderState{"paid": {status: "TRADE_SUCCESS", paid: true, items: map[int64]int64{1: 2}},
			"closed": {status: "TRADE_CLOSED", closed: true, items: map[int64]int64{1: 1}}},
		stock: map[int64]int64{1: 8},
		sells: map[string]int{"paid": 1, "closed": 2},
	}
	led2 := newLedger()
	led2.created["paid"], led2.paid["paid"] = true, true
	if c := verify(good, map[int64]int64{1: 10}, led2); !allOK(c) {
		t.Errorf("a consistent state reported %+v", c)
	}
}

// echoServer serves TCP echo on 127.0.0.1 and counts the connections it accepted.
func echoServer(t *testing.T) (addr string, accepted *atomic.Int64) {
	t.Helper()
	return echoServerOn(t, "127.0.0.1")
}

// echoServerOn serves TCP echo on a free port of ip.
func echoServerOn(t *testing.T, ip string) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String(), accepted
}

// roundTrip writes ping on c and reads 4 bytes back, within d.
func roundTrip(c net.Conn, d time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("ping")); err != nil {
		return "", err
	}
	b := make([]byte, 4)
	n, err := io.ReadFull(c, b)
	return string(b[:n]), err
}

// testProxy starts a proxy on loopback to targets, closed when the test ends.
func testProxy(t *testing.T, targets ...string) *proxy {
	t.Helper()
	p, err := newProxy("127.0.0.1", "test", targets...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

func TestProxy_forwards_andAPartitionCutsUntilItHeals(t *testing.T) {
	t.Parallel()
	target, _ := echoServer(t)
	p := testProxy(t, target)
	echo := func() (string, error) {
		c, err := net.Dial("tcp", p.addr())
		if err != nil {
			return "", err
		}
		defer c.Close()
		return roundTrip(c, 5*time.Second)
	}
	if got, err := echo(); err != nil || got != "ping" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}
	p.partition(time.Hour)
	if got, err := echo(); err == nil {
		t.Fatalf("during a partition: %q, want the connection cut", got)
	}
	p.heal()
	if got, err := echo(); err != nil || !strings.HasPrefix(got, "ping") {
		t.Errorf("after healing: %q, %v", got, err)
	}
}

// TestProxy_blackholeDropsBytesButKeepsTheConnection: during a blackhole a round trip times out
// (no reset, no EOF) on a connection opened before it and on one opened during it; after it
// heals both connections carry bytes again.
func TestProxy_blackholeDropsBytesButKeepsTheConnection(t *testing.T) {
	t.Parallel()
	target, _ := echoServer(t)
	p := testProxy(t, target)
	before, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	if got, err := roundTrip(before, 5*time.Second); err != nil || got != "ping" {
		t.Fatalf("before the blackhole: %q, %v", got, err)
	}
	p.drop(time.Hour)
	during, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatalf("a blackhole refused a connection: %v", err)
	}
	defer during.Close()
	for name, c := range map[string]net.Conn{"open before": before, "opened during": during} {
		got, err := roundTrip(c, 300*time.Millisecond)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("connection %s, during the blackhole: %q, %v; want a timeout", name, got, err)
		}
	}
	p.heal()
	// The pings written during the blackhole arrive first, then this one's.
	for name, c := range map[string]net.Conn{"open before": before, "opened during": during} {
		got, err := roundTrip(c, 5*time.Second)
		if err != nil || got != "ping" {
			t.Errorf("connection %s, after healing: %q, %v", name, got, err)
		}
	}
}

// TestProxy_spreadsOverItsTargets_andSkipsADeadOne: connections alternate between two targets;
// with one of them gone every connection reaches the other.
func TestProxy_spreadsOverItsTargets_andSkipsADeadOne(t *testing.T) {
	t.Parallel()
	a, accA := echoServer(t)
	b, accB := echoServer(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there any more: the dial is refused
	p := testProxy(t, a, deadAddr, b)
	for i := range 6 {
		c, err := net.Dial("tcp", p.addr())
		if err != nil {
			t.Fatal(err)
		}
		got, err := roundTrip(c, 5*time.Second)
		c.Close()
		if err != nil || got != "ping" {
			t.Fatalf("connection %d: %q, %v", i, got, err)
		}
	}
	if accA.Load() == 0 || accB.Load() == 0 || accA.Load()+accB.Load() != 6 {
		t.Errorf("connections reached a %d and b %d times, want both and 6 in all", accA.Load(), accB.Load())
	}
}
