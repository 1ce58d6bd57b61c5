// Command bench measures mqbroker on one machine in one run and prints a
// markdown table of the results (stdout) with the machine it ran on; progress
// goes to stderr. Every phase drives the official rocketmq-client-go v2.1.2
// over loopback TCP:
//
//   - ceiling: SendSync of 1 KiB messages against a null responder written
//     here (route, heartbeat and send answered, nothing stored), run like the
//     broker as a child process: what the client itself can do on this
//     machine, the 100% mark for the others;
//   - async, sync: the same sends against mqbroker (a separate process built
//     from ./mqbroker, or in-process with --in-process) with --flush async
//     and --flush sync, with the broker's RSS read from /proc;
//   - consume: a push consumer draining pre-loaded messages;
//   - jetstream: embedded NATS JetStream (file store, publish with ack), as
//     context;
//   - delay: lateness of delayed messages (consumed − due);
//   - txcheck: latency of transaction check-backs (arrival − due);
//   - soak: --soak-n messages into one broker: send rate over time, RssAnon
//     and data-dir bytes at 1 M and N, restart-to-healthy after kill -9,
//     broker CPU per 100k sends next to the null responder's (soak.go).
//
// Usage:
//
//	go run ./mqbroker/bench            # all phases, ~5 minutes
//	go run ./mqbroker/bench --quick    # all phases, short (< 60 s)
//	go run ./mqbroker/bench --phases async,sync --in-process --cpuprofile cpu.out
//
// Numbers are comparable only within one run on one machine (see README.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// allPhases in the order they run.
var allPhases = []string{"ceiling", "async", "sync", "consume", "jetstream", "delay", "txcheck", "conns", "soak"}

// config is the whole run's configuration, from flags.
type config struct {
	Duration    time.Duration // measured time of one send scenario in one round
	Warmup      time.Duration // unmeasured sending before it
	Rounds      int           // send measurements per system and scenario (median reported)
	Size        int           // message body bytes
	Concurrency int           // producers of the concurrent send scenarios
	Phases      []string
	Queues      int // queues of the broker's auto-created topics

	ConsumeN          int
	PullBatch         int
	ConsumeBatch      int
	ConsumeGoroutines int
	PullThreshold     int

	DelayN       int
	DelayLevels  string
	TxN          int
	TxTimeout    time.Duration
	SoakN        int    // messages stored by the soak phase
	SoakDir      string // the soak phase's data dir, kept after the run (default: a temp dir, deleted)
	SoakRestarts int    // restarts after kill -9 measured at each soak point (the median is reported)

	BrokerBin  string
	BrokerBinB string // a second binary measured in the same rotation (A/B)
	InProcess  bool
	CPUProfile string
	MemProfile string
	Quick      bool
}

func defaultConfig() config {
	return config{
		Duration: 3 * time.Second, Warmup: time.Second, Rounds: 5, Size: 1024, Concurrency: 16,
		Phases: allPhases, Queues: 4,
		ConsumeN: 200_000, PullBatch: 256, ConsumeBatch: 32, ConsumeGoroutines: 20, PullThreshold: 4096,
		DelayN: 100_000, DelayLevels: "1s 2s 3s 4s 5s 6s 7s 8s 9s 10s",
		TxN: 2000, TxTimeout: time.Second, SoakN: 10_000_000, SoakRestarts: 5,
	}
}

// quickDefaults are the --quick values of the flags not given explicitly.
var quickDefaults = map[string]string{
	"duration": "1500ms", "warmup": "500ms", "rounds": "1", "consume-n": "30000",
	"delay-n": "10000", "delay-levels": "1s 2s 3s", "tx-n": "300", "soak-n": "40000", "soak-restarts": "2",
}

func loadConfig(args []string, stderr io.Writer) (config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./mqbroker/bench [flags]\n\n"+
			"Benchmarks mqbroker against a null responder (client ceiling) and embedded NATS JetStream;\n"+
			"prints a markdown table to stdout, progress to stderr. Phases: %s.\n\n", strings.Join(allPhases, ", "))
		fs.PrintDefaults()
	}
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time of each send scenario per round")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured sending before each send scenario")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds of send measurements (systems rotate each round; the median is reported)")
	fs.IntVar(&cfg.Size, "size", cfg.Size, "message body size in bytes")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "producers (or goroutines) of the concurrent send scenarios")
	phases := fs.String("phases", strings.Join(cfg.Phases, ","), "comma-separated phases to run")
	fs.IntVar(&cfg.Queues, "queues", cfg.Queues, "queues per topic (mqbroker --default-queues)")
	fs.IntVar(&cfg.ConsumeN, "consume-n", cfg.ConsumeN, "messages pre-loaded for the push-consume phase")
	fs.IntVar(&cfg.PullBatch, "pull-batch", cfg.PullBatch, "consumer PullBatchSize")
	fs.IntVar(&cfg.ConsumeBatch, "consume-batch", cfg.ConsumeBatch, "consumer ConsumeMessageBatchMaxSize")
	fs.IntVar(&cfg.ConsumeGoroutines, "consume-goroutines", cfg.ConsumeGoroutines, "consumer ConsumeGoroutineNums")
	fs.IntVar(&cfg.PullThreshold, "pull-threshold", cfg.PullThreshold, "consumer PullThresholdForQueue")
	fs.IntVar(&cfg.DelayN, "delay-n", cfg.DelayN, "delayed messages of the delay phase")
	fs.StringVar(&cfg.DelayLevels, "delay-levels", cfg.DelayLevels, "broker delay levels; delayed messages are spread over all of them")
	fs.IntVar(&cfg.TxN, "tx-n", cfg.TxN, "half messages of the check-back phase")
	fs.DurationVar(&cfg.TxTimeout, "tx-timeout", cfg.TxTimeout, "broker --tx-timeout (and --tx-check-interval)")
	fs.IntVar(&cfg.SoakN, "soak-n", cfg.SoakN, "messages stored by the soak phase (memory, disk and restart measured at 1 M, or half, and at N)")
	fs.IntVar(&cfg.SoakRestarts, "soak-restarts", cfg.SoakRestarts, "restarts after kill -9 measured at each soak point, each after a burst of 20k sends (the median is reported)")
	fs.StringVar(&cfg.SoakDir, "soak-dir", "", "data dir of the soak phase, kept after the run (must not exist yet; default: a temp dir, deleted); run the broker on it again to profile a restart at N")
	fs.StringVar(&cfg.BrokerBin, "broker-bin", "", "mqbroker binary to run (default: go build ./mqbroker into a temp dir)")
	fs.StringVar(&cfg.BrokerBinB, "broker-bin-b", "", "a second mqbroker binary, measured with --flush async as one more system in the same rotation (A/B comparison under the same load)")
	fs.BoolVar(&cfg.InProcess, "in-process", false, "run mqbroker inside the bench process (RSS then includes the clients)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the bench process (with --in-process it covers the broker)")
	fs.StringVar(&cfg.MemProfile, "memprofile", "", "write a heap profile of the bench process after the last phase, brokers still running (with --in-process it covers the broker)")
	fs.BoolVar(&cfg.Quick, "quick", false, "short run of every phase (< 60 s): "+quickSummary())
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.Quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range quickDefaults {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					return cfg, fmt.Errorf("quick default %s: %w", name, err)
				}
			}
		}
	}
	cfg.Phases = nil
	for p := range strings.SplitSeq(*phases, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.Phases = append(cfg.Phases, p)
		}
	}
	if err := cfg.validate(); err != nil {
		return cfg, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

func quickSummary() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(quickDefaults)) {
		parts = append(parts, k+"="+quickDefaults[k])
	}
	return strings.Join(parts, " ")
}

// validate reports every problem at once.
func (c config) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Duration <= 0 || c.Warmup < 0 {
		bad("duration must be positive and warmup not negative")
	}
	if c.Rounds < 1 || c.Rounds > 100 {
		bad("rounds %d: want 1..100", c.Rounds)
	}
	if c.Size < 1 || c.Size > 4<<20 {
		bad("size %d: want 1..4194304", c.Size)
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		bad("concurrency %d: want 1..1024", c.Concurrency)
	}
	if c.Queues < 1 || c.Queues > 1024 {
		bad("queues %d: want 1..1024", c.Queues)
	}
	if len(c.Phases) == 0 {
		bad("no phases selected")
	}
	for _, p := range c.Phases {
		if !slices.Contains(allPhases, p) {
			bad("unknown phase %q (want %s)", p, strings.Join(allPhases, ", "))
		}
	}
	if c.ConsumeN < 1 || c.DelayN < 1 || c.TxN < 1 || c.SoakN < 2 || c.SoakRestarts < 1 {
		bad("consume-n, delay-n, tx-n and soak-restarts must be positive, soak-n at least 2")
	}
	if c.PullBatch < 1 || c.PullBatch > 1024 {
		bad("pull-batch %d: want 1..1024", c.PullBatch)
	}
	if c.ConsumeBatch < 1 || c.ConsumeGoroutines < 1 {
		bad("consume-batch and consume-goroutines must be positive")
	}
	if c.PullThreshold < 1 || c.PullThreshold > 65535 {
		bad("pull-threshold %d: want 1..65535", c.PullThreshold)
	}
	if _, err := delay.ParseLevels(c.DelayLevels); err != nil {
		bad("delay-levels: %v", err)
	}
	if c.TxTimeout < 100*time.Millisecond {
		bad("tx-timeout %v: want at least 100ms", c.TxTimeout)
	}
	if c.InProcess && (c.BrokerBin != "" || c.BrokerBinB != "") {
		bad("--in-process and --broker-bin / --broker-bin-b exclude each other")
	}
	return errors.Join(errs...)
}

func (c config) has(phase string) bool { return slices.Contains(c.Phases, phase) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == nullResponderCmd {
		return serveNullResponder(ctx, args[1:], stdout)
	}
	cfg, err := loadConfig(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	// The client's logger and panic handler are process-wide settings of
	// rocketmq-client-go. Without a handler a panic in its goroutines (e.g. a
	// send-timeout callback, PROTOCOL.md §4.6) would kill the process.
	clog := &clientLog{w: stderr}
	rlog.SetLogger(clog)
	primitive.PanicHandler = clog.panic

	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	tmp, err := os.MkdirTemp("", "mqbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	b := &bench{cfg: cfg, log: stderr, tmp: tmp, names: newNamer(), rep: &report{machine: readMachine(), loadStart: loadAverage()}}
	b.progress("machine: %s; load average %s", b.rep.machine.oneLine(), b.rep.loadStart)
	runErr := b.runPhases(ctx)
	b.rep.cfg = cfg
	b.rep.panics, b.rep.clientLogLines = clog.counts()
	b.rep.render(stdout)
	if runErr != nil {
		return runErr
	}
	if n := b.rep.failed(); n > 0 {
		return fmt.Errorf("%d measurement(s) failed (see the table)", n)
	}
	return nil
}
