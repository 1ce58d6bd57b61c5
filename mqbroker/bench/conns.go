package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// The conns phase: what peers can make the broker hold (issue 12) — RSS
// with 1,000 idle connections and with 100 connections sending garbage as
// fast as they can — and the send throughput with the plain ACL off and on
// (the ratio of the two, measured in alternating rounds of one run).

const (
	connsSystem  = "mqbroker (conns phase)"
	idleConns    = 1000
	garbageConns = 100
)

// startPhaseBroker starts a broker process of this phase (async flush)
// with extra MQ_* environment.
func (b *bench) startPhaseBroker(ctx context.Context, name string, env []string) (*target, error) {
	if b.cfg.InProcess {
		return nil, errors.New("the conns phase measures a broker process: run it without --in-process")
	}
	if b.bin == "" {
		b.bin = b.cfg.BrokerBin
	}
	var err error
	if b.bin == "" {
		b.progress("building ./mqbroker")
		if b.bin, err = buildBroker(ctx, b.tmp, b.log); err != nil {
			return nil, err
		}
	}
	s := brokerSettings{flush: "async", dataDir: filepath.Join(b.tmp, "broker-"+name), queues: b.cfg.Queues,
		delayLevels: b.cfg.DelayLevels, txTimeout: b.cfg.TxTimeout, env: env}
	t, err := startProcess(ctx, b.bin, s, b.log)
	if err == nil {
		b.progress("started %v for %s", t, name)
	}
	return t, err
}

func (b *bench) connsPhase(ctx context.Context) {
	if t, err := b.startPhaseBroker(ctx, "conns", nil); err != nil {
		b.rep.add(row{system: connsSystem, scenario: "start", err: err})
	} else {
		b.idleConnsRow(ctx, t)
		if ctx.Err() == nil {
			b.garbageRow(ctx, t)
		}
		if _, err := t.close(); err != nil {
			b.rep.add(row{system: connsSystem, scenario: "stop", err: err})
		}
	}
	if ctx.Err() == nil {
		b.aclRows(ctx)
	}
}

func rssMiB(pid int) float64 {
	kib, _ := readStatusKiB(pid, "VmRSS")
	return float64(kib) / 1024
}

// idleConnsRow opens 1,000 connections that each make one request (so
// that the broker has served them) and then stay silent.
func (b *bench) idleConnsRow(ctx context.Context, t *target) {
	before := rssMiB(t.pid)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var d net.Dialer
	req := (&remoting.Command{Code: 105, Language: "GO", Version: 317, ExtFields: map[string]string{"topic": "TBW102"}}).AppendFrame(nil)
	for i := range idleConns {
		c, err := d.DialContext(ctx, "tcp", t.broker)
		if err != nil {
			b.rep.add(row{system: connsSystem, scenario: fmt.Sprintf("%d idle connections", idleConns), err: fmt.Errorf("connection %d: %w", i, err)})
			return
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req); err == nil {
			_, err = remoting.ReadCommand(bufio.NewReaderSize(c, 4096), 1<<20)
		}
		if err != nil {
			b.rep.add(row{system: connsSystem, scenario: fmt.Sprintf("%d idle connections", idleConns), err: fmt.Errorf("connection %d: request: %w", i, err)})
			return
		}
	}
	time.Sleep(time.Second) // let the broker settle (a benchmark, not a test)
	after := rssMiB(t.pid)
	b.rep.add(row{system: connsSystem, scenario: fmt.Sprintf("%d idle connections (each served one request)", idleConns),
		rssMiB: after, note: fmt.Sprintf("%.1f MiB before them: %.0f KiB per connection", before, (after-before)*1024/idleConns)})
}

// garbageRow runs 100 connections that write garbage as fast as they can:
// a length prefix of up to 4 MiB followed by random bytes (the broker
// reads the frame as it arrives and closes the connection at its bad
// header or length), reconnecting whenever the broker closes them.
func (b *bench) garbageRow(ctx context.Context, t *target) {
	dur := 2 * b.cfg.Duration
	scenario := fmt.Sprintf("%d connections sending garbage for %v", garbageConns, dur)
	_ = t.rss.phase() // reset the peak
	gctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var written, reconnects atomic.Int64
	var wg sync.WaitGroup
	for range garbageConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			junk := make([]byte, 64<<10)
			var d net.Dialer
			for gctx.Err() == nil {
				c, err := d.DialContext(gctx, "tcp", t.broker)
				if err != nil {
					continue
				}
				stop := context.AfterFunc(gctx, func() { c.Close() })
				_, _ = rand.Read(junk)
				var n [4]byte
				_, _ = rand.Read(n[:])
				binary.BigEndian.PutUint32(junk, binary.BigEndian.Uint32(n[:])%(4<<20))
				for gctx.Err() == nil {
					k, err := c.Write(junk)
					written.Add(int64(k))
					if err != nil {
						break
					}
					_, _ = rand.Read(junk[:64])
				}
				stop()
				c.Close()
				reconnects.Add(1)
			}
		}()
	}
	wg.Wait()
	peak := t.rss.phase()
	// The broker must still serve a producer afterwards.
	p, err := newProducer(t.namesrv, b.names)
	if err == nil {
		sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = p.SendSync(sctx, primitive.NewMessage(b.names.next("T"), body(b.cfg.Size)))
		scancel()
		_ = p.Shutdown()
	}
	if err != nil {
		err = fmt.Errorf("the broker did not serve a send after the garbage: %w", err)
	}
	b.rep.add(row{system: connsSystem, scenario: scenario, rssMiB: peak, err: err,
		note: fmt.Sprintf("peak RSS; %.0f MiB/s of garbage, %d connections closed by the broker, then a send succeeded",
			float64(written.Load())/dur.Seconds()/(1<<20), reconnects.Load())})
}

const benchACL = `accounts:
  - accessKey: bench-producer
    secretKey: bench-secret-key
    defaultTopicPerm: PUB|SUB
    defaultGroupPerm: SUB
`

// aclRows measures signed sends against a broker with ACL and unsigned
// ones against one without, in alternating rounds, and reports the ratio.
func (b *bench) aclRows(ctx context.Context) {
	path := filepath.Join(b.tmp, "plain_acl.yml")
	if err := os.WriteFile(path, []byte(benchACL), 0o600); err != nil {
		b.rep.add(row{system: connsSystem, scenario: "ACL file", err: err})
		return
	}
	off, err := b.startPhaseBroker(ctx, "acl-off", nil)
	if err != nil {
		b.rep.add(row{system: "mqbroker, ACL off", scenario: "start", err: err})
		return
	}
	defer off.close()
	on, err := b.startPhaseBroker(ctx, "acl-on", []string{"MQ_ACL_FILE=" + path})
	if err != nil {
		b.rep.add(row{system: "mqbroker, ACL on", scenario: "start", err: err})
		return
	}
	defer on.close()
	creds := producer.WithCredentials(primitive.Credentials{AccessKey: "bench-producer", SecretKey: "bench-secret-key"})
	sc := sendScenario{key: "shared", name: fmt.Sprintf("%d goroutines, 1 producer", b.cfg.Concurrency), workers: b.cfg.Concurrency}
	var offRates, onRates, ratios []float64
	var offLast, onLast loadResult
	for round := range b.cfg.Rounds {
		run := func(t *target, opts ...producer.Option) (loadResult, error) {
			return b.sendsWith(ctx, t.namesrv, sc, opts...)
		}
		var ro, rn loadResult
		var eo, en error
		if round%2 == 0 {
			ro, eo = run(off)
			rn, en = run(on, creds)
		} else {
			rn, en = run(on, creds)
			ro, eo = run(off)
		}
		if err := errors.Join(eo, en); err != nil {
			b.rep.add(row{system: connsSystem, scenario: "send, ACL off vs on", err: err})
			return
		}
		offRates, onRates = append(offRates, ro.rate()), append(onRates, rn.rate())
		ratios = append(ratios, rn.rate()/ro.rate())
		offLast, onLast = ro, rn
		b.progress("ACL round %d: off %.0f msg/s, on %.0f msg/s", round+1, ro.rate(), rn.rate())
	}
	b.rep.add(row{system: "mqbroker, ACL off", scenario: "send, " + sc.name, rate: median(offRates), lat: offLast.latency(), latKind: "send"})
	b.rep.add(row{system: "mqbroker, ACL on (signed)", scenario: "send, " + sc.name, rate: median(onRates), lat: onLast.latency(), latKind: "send",
		note: fmt.Sprintf("ACL on / off = %.2f (median of %d alternating rounds: %v)", median(ratios), len(ratios), roundAll(ratios))})
}

func roundAll(xs []float64) []string {
	out := make([]string, len(xs))
	for i, x := range slices.Clone(xs) {
		out[i] = fmt.Sprintf("%.2f", x)
	}
	return out
}

// sendsWith is rocketmqSends with producer options (credentials).
func (b *bench) sendsWith(ctx context.Context, ns string, sc sendScenario, opts ...producer.Option) (loadResult, error) {
	p, err := newProducer(ns, b.names, opts...)
	if err != nil {
		return loadResult{}, err
	}
	defer p.Shutdown()
	topic := b.names.next("T")
	msg := body(b.cfg.Size)
	sends := make([]sendFunc, sc.workers)
	for i := range sends {
		sends[i] = sendOne(p, topic, msg)
	}
	r := measure(ctx, sends, b.cfg.Warmup, b.cfg.Duration)
	if r.count() == 0 {
		return r, fmt.Errorf("no send succeeded in the window (%d errors, first: %w)", r.errs, errOrNone(r.firstErr))
	}
	return r, nil
}
