package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
	"github.com/shopsaga/shopsaga/mqbroker/internal/healthcheck"
	"github.com/shopsaga/shopsaga/mqbroker/internal/store"
)

// target is a running mqbroker: a child process, or a broker.Broker inside
// this process (then its RSS includes the clients).
type target struct {
	flush     string
	label     string // "B" for the --broker-bin-b binary, else ""
	namesrv   string
	broker    string // the broker's address ("" in-process)
	admin     string // the broker's admin HTTP address ("" in-process)
	pid       int
	inProcess bool
	rss       *rssSampler
	stop      func() error
}

func (t *target) String() string {
	where := "process " + strconv.Itoa(t.pid)
	if t.inProcess {
		where = "in-process"
	}
	return fmt.Sprintf("%s (%s, name server %s)", t.system(), where, t.namesrv)
}

// system is the broker's name in the table.
func (t *target) system() string {
	if t.label != "" {
		return "mqbroker " + t.label + " --flush " + t.flush
	}
	return "mqbroker --flush " + t.flush
}

// close stops the broker and the sampler; it returns the broker's VmHWM
// (peak RSS, KiB) read just before it stopped.
func (t *target) close() (hwmKiB int64, err error) {
	hwmKiB, _ = readStatusKiB(t.pid, "VmHWM")
	t.rss.close()
	return hwmKiB, t.stop()
}

// buildBroker builds ./mqbroker into dir (the bench runs inside the module).
func buildBroker(ctx context.Context, dir string, log io.Writer) (string, error) {
	bin := filepath.Join(dir, "mqbroker")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/shopsaga/shopsaga/mqbroker")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build mqbroker: %w", err)
	}
	return bin, nil
}

// brokerSettings are the broker flags every phase needs: short delay levels
// for the delay phase, a short transaction timeout for the check-back phase.
type brokerSettings struct {
	flush       string
	dataDir     string
	queues      int
	delayLevels string
	txTimeout   time.Duration
	env         []string // extra environment of a broker process (MQ_* settings)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startProcess runs the mqbroker binary and waits until its name server answers.
func startProcess(ctx context.Context, bin string, s brokerSettings, log io.Writer) (*target, error) {
	nsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	brPort, err := freePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	ns := "127.0.0.1:" + strconv.Itoa(nsPort)
	admin := "127.0.0.1:" + strconv.Itoa(adminPort)
	cmd := exec.Command(bin,
		"--namesrv-addr", ns,
		"--broker-addr", "127.0.0.1:"+strconv.Itoa(brPort),
		"--admin-addr", admin, // for its fsync counters
		"--data-dir", s.dataDir,
		"--flush", s.flush,
		"--default-queues", strconv.Itoa(s.queues),
		"--delay-levels", s.delayLevels,
		"--tx-timeout", s.txTimeout.String(),
		"--tx-check-interval", s.txTimeout.String(),
		"--log-level", "warn",
	)
	cmd.Stdout, cmd.Stderr = log, log
	if len(s.env) > 0 {
		cmd.Env = append(os.Environ(), s.env...)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mqbroker: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("stop mqbroker: %w", err)
		}
		select {
		case err := <-exited:
			if err != nil {
				return fmt.Errorf("mqbroker exited: %w", err)
			}
			return nil
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return errors.New("mqbroker did not stop within 15s after SIGTERM; killed")
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := healthcheck.Probe(pctx, ns)
		cancel()
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			return nil, fmt.Errorf("mqbroker exited during start-up: %v (last probe: %w)", werr, err)
		case <-ctx.Done():
			_ = stop()
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond): // the soak's restart-to-healthy is tens of ms: a coarse poll would hide it
		}
		if time.Now().After(deadline) {
			_ = stop()
			return nil, fmt.Errorf("mqbroker not ready after 20s: %w", err)
		}
	}
	pid := cmd.Process.Pid
	return &target{flush: s.flush, namesrv: ns, broker: "127.0.0.1:" + strconv.Itoa(brPort), admin: admin,
		pid: pid, rss: newRSSSampler(pid), stop: stop}, nil
}

// startInProcess opens a broker.Broker in this process (for CPU profiles).
func startInProcess(s brokerSettings) (*target, error) {
	cfg := broker.DefaultConfig()
	cfg.NamesrvAddr, cfg.BrokerAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", s.dataDir
	var err error
	if cfg.Flush, err = store.ParseFlushMode(s.flush); err != nil {
		return nil, err
	}
	if cfg.DelayLevels, err = delay.ParseLevels(s.delayLevels); err != nil {
		return nil, err
	}
	cfg.DefaultQueues, cfg.TxTimeout, cfg.TxCheckInterval = s.queues, s.txTimeout, s.txTimeout
	b, err := broker.Open(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	stop := func() error { cancel(); return <-done }
	pid := os.Getpid()
	return &target{flush: s.flush, namesrv: b.NamesrvAddr().String(), pid: pid, inProcess: true,
		rss: newRSSSampler(pid), stop: stop}, nil
}

// rssSampler polls VmRSS of a process every 100 ms and keeps the peak since
// the last reset (one phase) and overall.
type rssSampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu                 sync.Mutex // guards phasePeak, allPeak
	phasePeak, allPeak int64      // KiB
}

func newRSSSampler(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *rssSampler) run() {
	defer close(s.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

func (s *rssSampler) sample() {
	kib, err := readStatusKiB(s.pid, "VmRSS")
	if err != nil {
		return
	}
	s.mu.Lock()
	s.phasePeak, s.allPeak = max(s.phasePeak, kib), max(s.allPeak, kib)
	s.mu.Unlock()
}

// phase returns the peak since the previous call (sampling once more first) and resets it.
func (s *rssSampler) phase() float64 {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.phasePeak
	s.phasePeak = 0
	return float64(p) / 1024
}

func (s *rssSampler) close() {
	close(s.stop)
	<-s.done
}

// readStatusKiB reads one "Name:   123 kB" line of /proc/<pid>/status.
func readStatusKiB(pid int, name string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			break
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", name, pid)
}
