//go:build unix

package main

import (
	"io"
	"net"
	"strings"
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

func TestProxy_forwards_andAPartitionCutsUntilItHeals(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p, err := newProxy("test", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	echo := func() (string, error) {
		c, err := net.Dial("tcp", p.addr())
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return "", err
		}
		b := make([]byte, 4)
		_, err = io.ReadFull(c, b)
		return string(b), err
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
