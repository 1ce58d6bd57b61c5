package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// The soak phase (issue 16): one mqbroker --flush async process is filled
// with SoakN 1 KiB messages by 32 SendSync goroutines (8 producers), with
//   - the send rate over time (10 s buckets; the last minute against the first),
//   - RssAnon (anonymous memory: excludes mapped file pages) empty, at 1 M and at N
//     after the fill, and again with the same history at both points (restarted
//     on the stored data, then soakSettle sends),
//   - the data dir's bytes,
//   - restart-to-healthy after kill -9 at 1 M and at N, --soak-restarts times
//     each (median; every kill after the first follows soakBurst sends): from
//     exec until the name server answers a route lookup, a SendSync succeeds and
//     the message is found by key through the admin API (a read of the store),
//   - the broker's CPU time per 100k sends, next to the null responder's for
//     the same 100k sends.
const (
	soakProducers = 8
	soakSenders   = 32
	soakCPUWindow = 100_000
	soakBurst     = 20_000  // sends before each restart after the first (restarts); mid/10 if less
	soakSettle    = 100_000 // sends after the last restart before RssAnon is read again (settled); mid/2 if less
)

func (b *bench) soakPhase(ctx context.Context) {
	const system = "mqbroker soak (--flush async)"
	fail := func(scenario string, err error) { b.rep.add(row{system: system, scenario: scenario, err: err}) }
	n := b.cfg.SoakN
	mid := min(1_000_000, n/2)
	if n >= 2_000_000 {
		mid = 1_000_000
	}
	burst, settle := int64(min(soakBurst, mid/10)), int64(min(soakSettle, mid/2)) // smaller for --quick
	if b.bin == "" {
		b.bin = b.cfg.BrokerBin
	}
	if b.bin == "" {
		var err error
		if b.bin, err = buildBroker(ctx, b.tmp, b.log); err != nil {
			fail("start", err)
			return
		}
	}
	dir := filepath.Join(b.tmp, "soak")
	if b.cfg.SoakDir != "" {
		// Kept after the run; a new dir, so that the fill starts from an empty store.
		if err := os.Mkdir(b.cfg.SoakDir, 0o755); err != nil {
			fail("start", fmt.Errorf("--soak-dir: %w", err))
			return
		}
		dir = b.cfg.SoakDir
	}
	s := brokerSettings{flush: "async", dataDir: dir, queues: b.cfg.Queues,
		delayLevels: b.cfg.DelayLevels, txTimeout: b.cfg.TxTimeout}
	t, err := startProcess(ctx, b.bin, s, b.log)
	if err != nil {
		fail("start", err)
		return
	}
	defer func() {
		if t != nil {
			t.rss.close()
			_ = t.stop()
		}
	}()
	emptyAnon, _ := readStatusKiB(t.pid, "RssAnon")
	b.progress("soak: broker pid %d, RssAnon empty %d KiB; sending %d messages (%d at the midpoint)", t.pid, emptyAnon, n, mid)

	topic := b.names.next("soak")
	bucket := 10 * time.Second
	if n < 1_000_000 {
		bucket = time.Second // --quick
	}
	var sent atomic.Int64
	var series []float64
	cpuBroker := time.Duration(-1)
	fill := func(to int64) error {
		prods, err := b.soakProducers(t.namesrv)
		if err != nil {
			return err
		}
		defer shutdownAll(prods)
		msg := body(b.cfg.Size)
		w, err := warm(ctx, prods, topic, msg)
		sent.Add(w)
		if err != nil {
			return err
		}
		var wg sync.WaitGroup
		errc := make(chan error, soakSenders)
		for i := range soakSenders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := prods[i%len(prods)]
				for ctx.Err() == nil && sent.Load() < to {
					m := primitive.NewMessage(topic, msg)
					if _, err := p.SendSync(ctx, m); err != nil {
						errc <- err
						return
					}
					sent.Add(1)
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		tick := time.NewTicker(bucket)
		defer tick.Stop()
		last := sent.Load()
		// The broker's CPU time over the first fill, per 100k sends.
		measureCPU := cpuBroker < 0
		cpuStart, _ := processCPU(t.pid)
		from := last
		for {
			select {
			case <-done:
				select {
				case err := <-errc:
					return err
				default:
				}
				if c, err := processCPU(t.pid); measureCPU && err == nil && sent.Load() > from {
					cpuBroker = (c - cpuStart) * soakCPUWindow / time.Duration(sent.Load()-from)
				}
				return ctx.Err()
			case err := <-errc:
				return err
			case <-tick.C:
			}
			now := sent.Load()
			series = append(series, float64(now-last)/bucket.Seconds())
			last = now
			b.progress("soak: %d sent, %.0f msg/s", now, series[len(series)-1])
		}
	}
	// restart kills the broker (kill -9) and starts it again on its data dir.
	restart := func() (took, nsUp time.Duration, err error) {
		// Process.Kill is SIGKILL on Unix and TerminateProcess on Windows
		// (syscall.Kill does not build there). The process is not reaped
		// before t.stop, so its pid cannot have been reused.
		if p, err := os.FindProcess(t.pid); err == nil {
			_ = p.Kill()
			_ = p.Release()
		}
		t.rss.close()
		_ = t.stop() // reaps the killed process
		t = nil
		nt, nsUp, took, err := b.restartToHealthy(ctx, s, topic)
		t = nt
		return took, nsUp, err
	}
	// restarts measures restart-to-healthy SoakRestarts times at one point: the first right
	// after the fill, each later one after a burst of soakBurst sends, so that every kill
	// falls while sends are arriving and leaves a tail after the last checkpoint of up to
	// Options.CheckpointInterval of sends, as the first does. The median is the figure.
	restarts := func(label string) bool {
		var took []time.Duration
		var ns []string
		for r := range b.cfg.SoakRestarts {
			if r > 0 {
				if err := fill(sent.Load() + burst); err != nil {
					fail("send before restart at "+label, err)
					return false
				}
			}
			d, nsUp, err := restart()
			if err != nil {
				fail("restart after kill -9 at "+label, err)
				return false
			}
			took = append(took, d)
			ns = append(ns, wholeMs(nsUp))
		}
		even := ""
		if len(took)%2 == 0 {
			even = ", the mean of the two middle ones"
		}
		b.rep.add(row{system: system, scenario: "restart to healthy after kill -9 at " + label,
			note: fmt.Sprintf("median %s of %d%s (%s; name server + SendSync + message read back by key; the name server answered after %s ms)",
				wholeMs(median(took)), len(took), even, joinMs(took), strings.Join(ns, " / "))})
		return true
	}
	point := func(label string) {
		anon, _ := readStatusKiB(t.pid, "RssAnon")
		rss, _ := readStatusKiB(t.pid, "VmRSS")
		bytes := dirBytes(s.dataDir)
		b.rep.add(row{system: system, scenario: "stored " + label, rssMiB: float64(rss) / 1024,
			note: fmt.Sprintf("RssAnon %.1f MiB (empty %.1f MiB, +%.1f MiB); data dir %.2f GiB",
				float64(anon)/1024, float64(emptyAnon)/1024, float64(anon-emptyAnon)/1024, float64(bytes)/(1<<30))})
	}

	// settled is RssAnon with the same history at both points: the broker restarted on the
	// stored data (the last of restarts) and then sent soakSettle messages. After a fill the
	// figure also depends on how long the process ran (at N it ran N - 1 M sends; the Go heap
	// keeps pages it once used until the scavenger returns them); this one only on what is
	// stored.
	settled := func(label string) bool {
		if err := fill(sent.Load() + settle); err != nil {
			fail("send after restart at "+label, err)
			return false
		}
		anon, _ := readStatusKiB(t.pid, "RssAnon")
		b.rep.add(row{system: system, scenario: "restarted at " + label + " + " + count(int(settle)) + " sends",
			note: fmt.Sprintf("RssAnon %.1f MiB (empty %.1f MiB, +%.1f MiB)",
				float64(anon)/1024, float64(emptyAnon)/1024, float64(anon-emptyAnon)/1024)})
		return true
	}

	if err := fill(int64(mid)); err != nil {
		fail("send to "+count(mid), err)
		return
	}
	point(count(mid))
	if !restarts(count(mid)) || !settled(count(mid)) {
		return
	}
	if err := fill(int64(n)); err != nil {
		fail("send to "+count(n), err)
		return
	}
	point(count(n))
	if !restarts(count(n)) || !settled(count(n)) {
		return
	}

	if len(series) >= 2 {
		k := max(1, min(int(time.Minute/bucket), len(series)/2)) // a minute of buckets
		first, last := mean(series[:k]), mean(series[len(series)-k:])
		b.rep.add(row{system: system, scenario: "send rate over time", rate: mean(series),
			target: "last minute ≥ 0.9 × first", pass: judge(true, last >= 0.9*first),
			note: fmt.Sprintf("first %.0f msg/s, last %.0f msg/s (%.2f×); %v buckets: %s", first, last, last/first, bucket, joinRates(series))})
	}
	nullCPU, err := b.nullCPUPer100k(ctx, min(soakCPUWindow, int64(mid)))
	note := "broker " + cpuString(cpuBroker) + " per 100k sends"
	if err == nil {
		note += ", null responder " + cpuString(nullCPU) + " for the same sends"
		if nullCPU > 0 && cpuBroker > 0 {
			note += fmt.Sprintf(" (%.1f×)", float64(cpuBroker)/float64(nullCPU))
		}
	} else {
		note += fmt.Sprintf(", null responder: %v", err)
	}
	b.rep.add(row{system: system, scenario: "CPU time per 100k sends", note: note})
}

func (b *bench) soakProducers(ns string) ([]rocketmq.Producer, error) {
	var prods []rocketmq.Producer
	for range soakProducers {
		p, err := newProducer(ns, b.names)
		if err != nil {
			shutdownAll(prods)
			return nil, err
		}
		prods = append(prods, p)
	}
	return prods, nil
}

// warm sends one message from each producer, retrying for up to 10 s, so
// that every producer has the topic's route before the senders start (the
// first sends of a new topic race the route lookup).
func warm(ctx context.Context, prods []rocketmq.Producer, topic string, msg []byte) (int64, error) {
	var n int64
	for _, p := range prods {
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := p.SendSync(ctx, primitive.NewMessage(topic, msg))
			if err == nil {
				n++
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return n, fmt.Errorf("first send: %w", err)
			}
			time.Sleep(100 * time.Millisecond) // the client refreshes routes on its own schedule
		}
	}
	return n, nil
}

func shutdownAll(ps []rocketmq.Producer) {
	for _, p := range ps {
		_ = p.Shutdown()
	}
}

// restartToHealthy starts the broker on its data dir and returns how long
// it took until a route lookup, a send and a read of that send by key worked.
func (b *bench) restartToHealthy(ctx context.Context, s brokerSettings, topic string) (*target, time.Duration, time.Duration, error) {
	start := time.Now()
	t, err := startProcess(ctx, b.bin, s, b.log) // returns once the name server answers
	if err != nil {
		return nil, 0, 0, err
	}
	nsUp := time.Since(start)
	p, err := newProducer(t.namesrv, b.names)
	if err != nil {
		return t, 0, 0, err
	}
	defer p.Shutdown()
	key := b.names.next("probe")
	m := primitive.NewMessage(topic, []byte("probe"))
	m.WithKeys([]string{key})
	if _, err := p.SendSync(ctx, m); err != nil {
		return t, 0, 0, fmt.Errorf("send after restart: %w", err)
	}
	resp, err := http.Get("http://" + t.admin + "/api/messages?key=" + url.QueryEscape(key))
	if err != nil {
		return t, 0, 0, fmt.Errorf("read back after restart: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return t, 0, 0, fmt.Errorf("read back after restart: HTTP %d", resp.StatusCode)
	}
	return t, nsUp, time.Since(start), nil
}

// nullCPUPer100k sends messages to a fresh null responder the same way and
// returns its CPU time per 100k sends.
func (b *bench) nullCPUPer100k(ctx context.Context, sends int64) (time.Duration, error) {
	addr, pid, stop, err := startNullProcessPID(b.cfg.Queues, b.log)
	if err != nil {
		return 0, err
	}
	defer stop()
	prods, err := b.soakProducers(addr)
	if err != nil {
		return 0, err
	}
	defer shutdownAll(prods)
	topic := b.names.next("soaknull")
	msg := body(b.cfg.Size)
	if _, err := warm(ctx, prods, topic, msg); err != nil {
		return 0, err
	}
	c0, err := processCPU(pid)
	if err != nil {
		return 0, err
	}
	var sent atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for i := range soakSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && sent.Add(1) <= sends {
				if _, err := prods[i%len(prods)].SendSync(ctx, primitive.NewMessage(topic, msg)); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return 0, *e
	}
	c1, err := processCPU(pid)
	return (c1 - c0) * soakCPUWindow / time.Duration(sends), err
}

// processCPU is the user + system CPU time of a process (/proc/PID/stat).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%100_000 == 0:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + " M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

func wholeMs(d time.Duration) string {
	return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond))
}

func joinMs(ds []time.Duration) string {
	v := make([]string, len(ds))
	for i, d := range ds {
		v[i] = wholeMs(d)
	}
	return strings.Join(v, " / ") + " ms"
}

func cpuString(d time.Duration) string {
	if d < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
