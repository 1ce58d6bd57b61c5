package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// bench runs the phases and collects their rows.
type bench struct {
	cfg   config
	log   io.Writer
	tmp   string
	names *namer
	rep   *report

	bin string // built (or given) mqbroker binary
}

func (b *bench) progress(format string, a ...any) {
	fmt.Fprintf(b.log, "%s bench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, a...))
}

// sendSystem is one target of the send rounds.
type sendSystem struct {
	name     string
	kind     string // ceiling, async, sync or jetstream
	rss      *rssSampler
	send     func(ctx context.Context, sc sendScenario) (loadResult, error)
	scenario func(sendScenario) string // row label; nil = sc.name
	// fsyncs reads the broker's fsync counters (nil: not available).
	fsyncs func(ctx context.Context) (fsyncCounters, error)
	// pid is the child process serving the sends (0: in-process), whose
	// CPU time per send the row reports.
	pid int
}

// cpuTime is the serving process's CPU time so far; an error if unknown.
func (sys *sendSystem) cpuTime() (time.Duration, error) {
	if sys.pid <= 0 {
		return 0, errors.New("no process of its own")
	}
	return processCPU(sys.pid)
}

func (b *bench) runPhases(ctx context.Context) error {
	var systems []*sendSystem
	var cleanups []func()
	defer func() {
		for _, f := range slices.Backward(cleanups) {
			f()
		}
	}()
	if b.cfg.has("ceiling") {
		const system = "client ceiling (null responder)"
		if addr, pid, stop, err := b.startNull(); err != nil {
			b.rep.add(row{system: system, scenario: "start", err: err})
		} else {
			cleanups = append(cleanups, stop)
			systems = append(systems, &sendSystem{name: system, kind: "ceiling", pid: pid,
				send: func(ctx context.Context, sc sendScenario) (loadResult, error) {
					return b.rocketmqSends(ctx, addr, sc)
				}})
		}
	}
	var brokers []*target
	defer func() {
		for _, t := range brokers {
			b.stopBroker(t)
		}
	}()
	var async *target
	if b.cfg.has("async") || b.cfg.has("consume") || b.cfg.has("delay") || b.cfg.has("txcheck") {
		if async = b.startBroker(ctx, "async", ""); async != nil {
			brokers = append(brokers, async)
			if b.cfg.has("async") {
				systems = append(systems, b.brokerSystem(async))
			}
		}
	}
	if b.cfg.has("async") && b.cfg.BrokerBinB != "" {
		// A second binary in the same rotation: an A/B comparison under
		// the same load, round by round.
		if t := b.startBroker(ctx, "async", b.cfg.BrokerBinB); t != nil {
			brokers = append(brokers, t)
			systems = append(systems, b.brokerSystem(t))
		}
	}
	if b.cfg.has("sync") {
		if t := b.startBroker(ctx, "sync", ""); t != nil {
			brokers = append(brokers, t)
			systems = append(systems, b.brokerSystem(t))
		}
	}
	if b.cfg.has("jetstream") {
		if sys, stop, err := b.startJetStream(); err != nil {
			b.rep.add(row{system: jetstreamSystem, scenario: "start", err: err})
		} else {
			cleanups = append(cleanups, stop)
			systems = append(systems, sys)
		}
	}
	if len(systems) > 0 {
		b.sendRounds(ctx, systems)
	}
	if async != nil {
		if b.cfg.has("consume") && ctx.Err() == nil {
			b.consumePhase(ctx, async)
		}
		if b.cfg.has("delay") && ctx.Err() == nil {
			b.delayPhase(ctx, async)
		}
		if b.cfg.has("txcheck") && ctx.Err() == nil {
			b.txCheckPhase(ctx, async)
		}
	}
	if b.cfg.has("conns") && ctx.Err() == nil {
		b.connsPhase(ctx) // conns.go: brokers of its own
	}
	if b.cfg.has("soak") && ctx.Err() == nil {
		b.soakPhase(ctx)
	}
	if b.cfg.MemProfile != "" {
		if err := writeHeapProfile(b.cfg.MemProfile); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// writeHeapProfile writes the live heap (after a GC) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("memprofile: %w", err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		return fmt.Errorf("memprofile: %w", err)
	}
	return f.Close()
}

// startNull starts the null responder where the broker runs: in a child
// process (pid), or in this one with --in-process (pid 0).
func (b *bench) startNull() (addr string, pid int, stop func(), err error) {
	if !b.cfg.InProcess {
		addr, pid, stop, err = startNullProcessPID(b.cfg.Queues, b.log)
		if err == nil {
			b.progress("started the null responder (child process %d) at %s", pid, addr)
		}
		return addr, pid, stop, err
	}
	nb, err := startNullBroker(b.cfg.Queues)
	if err != nil {
		return "", 0, nil, err
	}
	b.progress("started the null responder (in-process) at %s", nb.Addr())
	return nb.Addr(), 0, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = nb.Close(cctx)
	}, nil
}

func (b *bench) brokerSystem(t *target) *sendSystem {
	sys := &sendSystem{name: t.system(), kind: t.flush, rss: t.rss,
		send: func(ctx context.Context, sc sendScenario) (loadResult, error) {
			return b.rocketmqSends(ctx, t.namesrv, sc)
		}}
	if t.admin != "" && t.flush == "sync" {
		sys.fsyncs = func(ctx context.Context) (fsyncCounters, error) { return readFsyncCounters(ctx, t.admin) }
	}
	if !t.inProcess {
		sys.pid = t.pid
	}
	return sys
}

// startBroker starts mqbroker with the given flush mode, from binB if not
// "" (the A/B binary, --broker-bin-b); a failure becomes a row.
func (b *bench) startBroker(ctx context.Context, flush, binB string) *target {
	s := brokerSettings{flush: flush, dataDir: filepath.Join(b.tmp, "broker-"+flush), queues: b.cfg.Queues,
		delayLevels: b.cfg.DelayLevels, txTimeout: b.cfg.TxTimeout}
	var t *target
	var err error
	switch {
	case binB != "":
		s.dataDir += "-b"
		if t, err = startProcess(ctx, binB, s, b.log); err == nil {
			t.label = "B"
		}
	case b.cfg.InProcess:
		t, err = startInProcess(s)
	default:
		if b.bin == "" {
			b.bin = b.cfg.BrokerBin
		}
		if b.bin == "" {
			b.progress("building ./mqbroker")
			b.bin, err = buildBroker(ctx, b.tmp, b.log)
		}
		if err == nil {
			t, err = startProcess(ctx, b.bin, s, b.log)
		}
	}
	if err != nil {
		failed := &target{flush: flush}
		if binB != "" {
			failed.label = "B"
		}
		b.rep.add(row{system: failed.system(), scenario: "start", err: err})
		return nil
	}
	b.progress("started %v", t)
	return t
}

// stopBroker stops a broker and reports its peak RSS.
func (b *bench) stopBroker(t *target) {
	hwm, err := t.close()
	scenario := "peak RSS of the broker process over the run (VmHWM)"
	if t.inProcess {
		scenario = "peak RSS of the bench process (in-process: includes clients)"
	}
	mib := float64(hwm) / 1024
	b.rep.add(row{system: t.system(), scenario: scenario, rssMiB: mib,
		target: "< 256 MiB", pass: judge(hwm > 0, mib < 256), err: err})
}

// cell accumulates one system × scenario over the rounds.
type cell struct {
	rates   []float64
	samples []time.Duration
	errs    int
	err     error
	rss     float64
	fsyncs  fsyncCounters // summed over rounds, warm-ups included
	sending time.Duration // time the fsyncs were counted over
	cpu     time.Duration // the serving process's CPU time over the rounds
	sends   int           // the successful sends cpu was spent on
}

// sendRounds measures every send scenario on every system, Rounds times,
// rotating the order of the systems each round, so that a machine shared
// with other work slows all systems alike; rows report the median round.
func (b *bench) sendRounds(ctx context.Context, systems []*sendSystem) {
	scs := sendScenarios(b.cfg.Concurrency)
	cells := make([][]cell, len(systems))
	for i := range cells {
		cells[i] = make([]cell, len(scs))
	}
	for round := range b.cfg.Rounds {
		for si, sc := range scs {
			for k := range systems {
				yi := (k + round) % len(systems)
				sys, c := systems[yi], &cells[yi][si]
				if c.err != nil || ctx.Err() != nil {
					continue
				}
				label := scenarioLabel(sys, sc)
				b.progress("round %d/%d: %s: %s for %v (+%v warm-up)", round+1, b.cfg.Rounds, sys.name, label, b.cfg.Duration, b.cfg.Warmup)
				if sys.rss != nil {
					sys.rss.phase()
				}
				var before fsyncCounters
				var ferr error
				if sys.fsyncs != nil {
					before, ferr = sys.fsyncs(ctx)
				}
				cpu0, cerr := sys.cpuTime()
				began := time.Now()
				r, err := sys.send(ctx, sc)
				if cpu1, err1 := sys.cpuTime(); cerr == nil && err1 == nil {
					c.cpu, c.sends = c.cpu+cpu1-cpu0, c.sends+r.total
				}
				if sys.rss != nil {
					c.rss = max(c.rss, sys.rss.phase())
				}
				if sys.fsyncs != nil && ferr == nil {
					after, aerr := sys.fsyncs(ctx)
					if aerr == nil {
						c.fsyncs, c.sending = c.fsyncs.add(after.sub(before)), c.sending+time.Since(began)
					} else {
						b.progress("%s: %v", sys.name, aerr)
					}
				}
				c.errs += r.errs
				if err != nil {
					c.err = err
					b.progress("round %d/%d: %s: %s: %v", round+1, b.cfg.Rounds, sys.name, label, err)
					continue
				}
				c.rates = append(c.rates, r.rate())
				c.samples = append(c.samples, r.samples...)
				b.progress("round %d/%d: %s: %s: %.0f msg/s, %v, %d errors", round+1, b.cfg.Rounds, sys.name, label, r.rate(), r.latency(), r.errs)
			}
		}
	}
	ceil := -1 // index of the ceiling system
	for yi, sys := range systems {
		if sys.kind == "ceiling" {
			ceil = yi
		}
	}
	for yi, sys := range systems {
		for si, sc := range scs {
			c := &cells[yi][si]
			rate := median(c.rates)
			rw := row{system: sys.name, scenario: scenarioLabel(sys, sc), rate: rate, lat: summarize(c.samples),
				latKind: "send", rssMiB: c.rss, errs: c.errs, err: c.err}
			if c.sends > 0 {
				rw.cpuPer100k = c.cpu * 100_000 / time.Duration(c.sends)
			}
			if len(c.rates) > 1 {
				rw.note = "rounds: " + joinRates(c.rates)
			}
			if f := c.fsyncs.String(c.sending); f != "" {
				rw.note = strings.TrimPrefix(rw.note+"; "+f, "; ")
			}
			if sys.kind == "async" || sys.kind == "sync" {
				// Each round's rate against the ceiling's rate of the same round (measured
				// moments apart, under the same load), then the median of those ratios.
				if ceil >= 0 && cells[ceil][si].err == nil && c.err == nil {
					var ratios []float64
					for r := range min(len(c.rates), len(cells[ceil][si].rates)) {
						ratios = append(ratios, c.rates[r]/cells[ceil][si].rates[r])
					}
					rw.ofCeiling = median(ratios)
					if len(ratios) > 1 {
						rw.note += "; % of ceiling per round: " + joinPercents(ratios)
					}
				}
				ok := c.err == nil && len(c.rates) > 0
				switch {
				case sys.kind == "sync" && sc.key == "1":
					rw.target, rw.pass = "≥ 3,000 msg/s", judge(ok, rate >= 3000)
				case sys.kind == "sync":
					rw.target, rw.pass = "≥ 75% of ceiling", judge(ok && rw.ofCeiling > 0, rw.ofCeiling >= 0.75)
				default:
					rw.target, rw.pass = "≥ 90% of ceiling", judge(ok && rw.ofCeiling > 0, rw.ofCeiling >= 0.90)
				}
			}
			b.rep.add(rw)
		}
	}
}

func scenarioLabel(sys *sendSystem, sc sendScenario) string {
	if sys.scenario != nil {
		return sys.scenario(sc)
	}
	return sc.name
}

// median of v: the middle value, or the mean of the two middle ones for an even count (0 for
// none). Rates (float64) and durations share it.
func median[T float64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func joinPercents(v []float64) string {
	parts := make([]string, len(v))
	for i, r := range v {
		parts[i] = fmt.Sprintf("%.0f%%", 100*r)
	}
	return strings.Join(parts, " / ")
}

func joinRates(v []float64) string {
	parts := make([]string, len(v))
	for i, r := range v {
		parts[i] = fmt.Sprintf("%.0f", r)
	}
	return strings.Join(parts, " / ") + " msg/s"
}
