//go:build !race

// Process tests: the real mqbroker binary, built with -race and run with
// GORACE=halt_on_error=1, driven by the official client (which has data
// races of its own, hence this file's build tag: the broker is the race-
// instrumented party here). They cover signals, crashes (kill -9), a torn
// commit-log tail, the healthcheck sub-command and configuration errors.

package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/shopsaga/shopsaga/mqbroker/internal/healthcheck"
)

func TestProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the broker binary; skipped with -short")
	}
	bin := buildRaceBroker(t)
	t.Run("client workload, then SIGTERM exits 0 and loses nothing (flush async)", func(t *testing.T) {
		testWorkloadThenSIGTERM(t, bin)
	})
	t.Run("kill -9 while sending loses nothing acknowledged (flush sync)", func(t *testing.T) {
		testKillWhileSending(t, bin, "sync")
	})
	// Async writes go through a mapping of the commit log: the killed
	// process's stores must be in the file all the same.
	t.Run("kill -9 while sending loses nothing acknowledged (flush async)", func(t *testing.T) {
		testKillWhileSending(t, bin, "async")
	})
	t.Run("torn commit-log tail after kill -9 is truncated on restart", func(t *testing.T) {
		testTornTail(t, bin)
	})
	t.Run("kill -9 after a checkpoint: pending half and delayed messages decided and delivered exactly once", func(t *testing.T) {
		testKillAfterCheckpoint(t, bin)
	})
	t.Run("healthcheck exits 0 while serving and non-zero when down", func(t *testing.T) {
		testHealthcheck(t, bin)
	})
	t.Run("bad flags and environment exit 1 naming every bad value", func(t *testing.T) {
		testBadConfig(t, bin)
	})
}

// buildRaceBroker builds ./mqbroker with the race detector into a temp dir.
func buildRaceBroker(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("not inside a module")
	}
	bin := filepath.Join(t.TempDir(), "mqbroker")
	cmd := exec.Command("go", "build", "-race", "-o", bin, "./mqbroker")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -race ./mqbroker: %v\n%s", err, out)
	}
	return bin
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// brokerProc is one mqbroker process; restarts keep its ports and data dir.
type brokerProc struct {
	t                  *testing.T
	bin                string
	args               []string
	ns, br, admin, dir string

	cmd    *exec.Cmd
	out    *lockedBuffer // stdout and stderr of the current process
	exited chan struct{}
	state  *os.ProcessState
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// processEnv is the test's environment without MQ_* settings, plus extra.
func processEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MQ_") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func startBrokerProc(t *testing.T, bin string, args ...string) *brokerProc {
	t.Helper()
	p := &brokerProc{t: t, bin: bin, args: args, ns: freeAddr(t), br: freeAddr(t), admin: freeAddr(t), dir: t.TempDir()}
	t.Cleanup(func() {
		if p.running() {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	p.start()
	return p
}

func (p *brokerProc) running() bool {
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// start runs the broker and waits until its name server answers.
func (p *brokerProc) start() {
	p.t.Helper()
	args := append([]string{"--namesrv-addr", p.ns, "--broker-addr", p.br, "--admin-addr", p.admin,
		"--data-dir", p.dir, "--log-level", "info"}, p.args...)
	p.cmd = exec.Command(p.bin, args...)
	p.cmd.Env = processEnv("GORACE=halt_on_error=1")
	p.out = &lockedBuffer{}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		close(exited)
	}(p.cmd, p.exited)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := healthcheck.Probe(ctx, p.ns)
		cancel()
		if err == nil {
			return
		}
		if !p.running() {
			p.t.Fatalf("broker exited during start-up (%v):\n%s", p.state, p.out)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("broker not ready after 30s: %v\n%s", err, p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends sig and waits for the process to exit; it fails the test on
// a data race report.
func (p *brokerProc) stop(sig os.Signal) *os.ProcessState {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.t.Fatalf("broker still running 30s after %v:\n%s", sig, p.out)
	}
	p.checkNoRace()
	return p.state
}

// stopGracefully sends SIGTERM and requires exit status 0.
func (p *brokerProc) stopGracefully() {
	p.t.Helper()
	start := time.Now()
	if st := p.stop(syscall.SIGTERM); st.ExitCode() != 0 {
		p.t.Fatalf("after SIGTERM the broker exited with %v (want 0):\n%s", st, p.out)
	}
	if took := time.Since(start); took > 10*time.Second {
		p.t.Errorf("graceful shutdown took %v", took)
	}
}

func (p *brokerProc) checkNoRace() {
	p.t.Helper()
	if out := p.out.String(); strings.Contains(out, "DATA RACE") {
		p.t.Fatalf("the race detector reported a data race in the broker:\n%s", out)
	}
}

// restart starts a new process on the same ports and data directory.
func (p *brokerProc) restart() {
	p.t.Helper()
	if p.running() {
		p.t.Fatal("restart while running")
	}
	p.start()
}

func newProducerAt(t testing.TB, nsAddr string, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	all := append([]producer.Option{
		producer.WithNameServer([]string{nsAddr}),
		producer.WithGroupName(uniq("pg")),
		producer.WithInstanceName(uniq("p")),
		producer.WithRetry(2),
	}, opts...)
	p, err := rocketmq.NewProducer(all...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

func startConsumerAt(t testing.TB, nsAddr, topic string, cfg consumerCfg) rocketmq.PushConsumer {
	t.Helper()
	if cfg.instance == "" {
		cfg.instance = uniq("c")
	}
	all := append([]consumer.Option{
		consumer.WithNameServer([]string{nsAddr}),
		consumer.WithGroupName(cfg.group),
		consumer.WithInstance(cfg.instance),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	}, cfg.opts...)
	c, err := rocketmq.NewPushConsumer(all...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(topic, cfg.selector, cfg.listen); err != nil {
		t.Fatal(err)
	}
	ensureTopic(t, nsAddr, topic)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return c
}

func newTxProducerAt(t testing.TB, nsAddr, group string, l primitive.TransactionListener) rocketmq.TransactionProducer {
	t.Helper()
	p, err := rocketmq.NewTransactionProducer(l,
		producer.WithNameServer([]string{nsAddr}),
		producer.WithGroupName(group),
		producer.WithInstanceName(uniq("tx")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

// acked records messages whose send was acknowledged, by UNIQ_KEY.
type acked struct {
	mu     sync.Mutex
	bodies map[string]string
}

func (a *acked) add(key, body string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.bodies == nil {
		a.bodies = map[string]string{}
	}
	a.bodies[key] = body
}

func (a *acked) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.bodies)
}

func (a *acked) snapshot() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.bodies))
	for k, v := range a.bodies {
		out[k] = v
	}
	return out
}

// sendSyncLoop sends "<prefix>-<i>" bodies until n are acknowledged or a
// send fails; it records what was acknowledged.
func sendSyncLoop(p rocketmq.Producer, topic, prefix string, n int, into *acked) error {
	for i := range n {
		body := fmt.Sprintf("%s-%d", prefix, i)
		res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(body)))
		if err != nil {
			return err
		}
		if res.Status != primitive.SendOK {
			return fmt.Errorf("send %s: status %v", body, res.Status)
		}
		into.add(res.MsgID, body)
	}
	return nil
}

// assertAllAcknowledgedStored pulls the whole topic over the wire (records
// decoded by the official client) and checks every acknowledged message is
// there with its body, and that nothing else but attempted sends is.
func assertAllAcknowledgedStored(t *testing.T, p *brokerProc, topic string, want map[string]string, attempted func(body string) bool) []*primitive.MessageExt {
	t.Helper()
	list, err := dialWire(t, p.br).pullList(topic, 4)
	if err != nil {
		t.Fatalf("reading %s back: %v", topic, err)
	}
	got := map[string]string{}
	for _, m := range list {
		k := m.GetProperty("UNIQ_KEY")
		if !attempted(string(m.Body)) {
			t.Errorf("record %s at %d/%d has a body nobody sent: %q", k, m.Queue.QueueId, m.QueueOffset, m.Body)
		}
		if prev, dup := got[k]; dup && prev != string(m.Body) {
			t.Errorf("key %s stored with two bodies %q and %q", k, prev, m.Body)
		}
		got[k] = string(m.Body)
	}
	missing := 0
	for k, body := range want {
		if got[k] != body {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged message %s (%q) not stored intact: got %q", k, body, got[k])
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged messages lost", missing, len(want))
	}
	return list
}

func adminGet(t *testing.T, p *brokerProc, path string, into any) {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// assertAdminAgrees checks the admin API's queue table and message lookup
// against what was pulled.
func assertAdminAgrees(t *testing.T, p *brokerProc, topic string, pulled []*primitive.MessageExt) {
	t.Helper()
	var queues []struct {
		Topic     string
		MaxOffset int64
	}
	adminGet(t, p, "/api/topics", &queues)
	var total int64
	for _, q := range queues {
		if q.Topic == topic {
			total += q.MaxOffset
		}
	}
	if total != int64(len(pulled)) {
		t.Errorf("admin API counts %d records in %s, %d were pulled", total, topic, len(pulled))
	}
	for i, m := range pulled {
		if i%25 != 0 {
			continue
		}
		var views []struct {
			Topic string `json:"topic"`
			Body  string `json:"body"`
		}
		adminGet(t, p, "/api/messages?key="+m.GetProperty("UNIQ_KEY"), &views)
		if len(views) == 0 || views[0].Topic != topic || views[0].Body != string(m.Body) {
			t.Errorf("admin lookup of %s: %+v, want body %q", m.GetProperty("UNIQ_KEY"), views, m.Body)
		}
	}
}

func testWorkloadThenSIGTERM(t *testing.T, bin string) {
	levels := strings.TrimSpace(strings.Repeat("100ms ", 18))
	proc := startBrokerProc(t, bin, "--flush", "async", "--tx-timeout", "1s", "--tx-check-interval", "1s", "--delay-levels", levels)
	plain, txTopic, retryTopic := uniq("PT"), uniq("PTX"), uniq("PR")

	col := newCollector()
	startConsumerAt(t, proc.ns, plain, consumerCfg{group: uniq("cg"), listen: collectInto(col)})
	txCol := newCollector()
	startConsumerAt(t, proc.ns, txTopic, consumerCfg{group: uniq("cg"), listen: collectInto(txCol)})
	attempts := newCollector()
	startConsumerAt(t, proc.ns, retryTopic, consumerCfg{group: uniq("cg"),
		listen: func(_ context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			attempts.add(ms...)
			for _, m := range ms {
				if m.ReconsumeTimes < 2 {
					return consumer.ConsumeRetryLater, nil
				}
			}
			return consumer.ConsumeSuccess, nil
		}})

	p := newProducerAt(t, proc.ns)
	var sent acked
	var wg sync.WaitGroup
	sendErrs := make(chan error, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sendSyncLoop(p, plain, fmt.Sprintf("sync-%d", g), 15, &sent); err != nil {
				sendErrs <- err
			}
		}()
	}
	asyncDone := make(chan error, 20)
	for i := range 20 {
		body := fmt.Sprintf("async-%d", i)
		err := p.SendAsync(context.Background(), func(_ context.Context, r *primitive.SendResult, err error) {
			if err == nil && r.Status != primitive.SendOK {
				err = fmt.Errorf("status %v", r.Status)
			}
			if err == nil {
				sent.add(r.MsgID, body)
			}
			asyncDone <- err
		}, primitive.NewMessage(plain, []byte(body)))
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.SendSync(context.Background(), primitive.NewMessage(retryTopic, []byte("fail-me"))); err != nil {
		t.Fatal(err)
	}
	txl := newTxListener(primitive.UnknowState, primitive.CommitMessageState)
	tp := newTxProducerAt(t, proc.ns, uniq("tpg"), txl)
	for i := range 3 {
		if res, err := tp.SendMessageInTransaction(context.Background(), primitive.NewMessage(txTopic, []byte(fmt.Sprintf("tx-%d", i)))); err != nil || res.Status != primitive.SendOK {
			t.Fatalf("half message: %v %v", res, err)
		}
	}
	wg.Wait()
	for range 20 {
		if err := <-asyncDone; err != nil {
			t.Fatalf("async send: %v", err)
		}
	}
	close(sendErrs)
	for err := range sendErrs {
		t.Fatalf("sync send: %v", err)
	}

	col.waitFor(t, 30*time.Second, "every plain message", func(ms []*primitive.MessageExt) bool {
		seen := map[string]bool{}
		for _, m := range ms {
			seen[string(m.Body)] = true
		}
		return len(seen) == 80
	})
	txCol.waitFor(t, 30*time.Second, "3 transactional messages committed by check-back", func(ms []*primitive.MessageExt) bool {
		seen := map[string]bool{}
		for _, m := range ms {
			seen[string(m.Body)] = true
		}
		return len(seen) == 3
	})
	attempts.waitFor(t, 30*time.Second, "retries with reconsume times 0, 1, 2", func(ms []*primitive.MessageExt) bool {
		var times []int32
		for _, m := range ms {
			times = append(times, m.ReconsumeTimes)
		}
		return slices.Contains(times, 0) && slices.Contains(times, 1) && slices.Contains(times, 2)
	})

	// SIGTERM while the clients are still connected (long polls in flight).
	proc.stopGracefully()
	proc.restart()
	want := sent.snapshot()
	if len(want) != 80 {
		t.Fatalf("%d plain sends acknowledged, want 80", len(want))
	}
	attempted := func(body string) bool { return strings.HasPrefix(body, "sync-") || strings.HasPrefix(body, "async-") }
	pulled := assertAllAcknowledgedStored(t, proc, plain, want, attempted)
	assertAdminAgrees(t, proc, plain, pulled)
	proc.stopGracefully()
}

func testKillWhileSending(t *testing.T, bin, flush string) {
	proc := startBrokerProc(t, bin, "--flush", flush)
	topic := uniq("PK")
	p := newProducerAt(t, proc.ns)
	var sent acked
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = sendSyncLoop(p, topic, fmt.Sprintf("kill-%d", g), 100000, &sent) // runs until the broker dies
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for sent.len() < 300 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d sends acknowledged after 30s", sent.len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	proc.stop(syscall.SIGKILL)
	wg.Wait()
	want := sent.snapshot()
	t.Logf("killed the broker after %d acknowledged sends", len(want))

	proc.restart()
	attempted := func(body string) bool { return strings.HasPrefix(body, "kill-") }
	pulled := assertAllAcknowledgedStored(t, proc, topic, want, attempted)
	assertAdminAgrees(t, proc, topic, pulled)
	// The log accepts new messages after the crash.
	p2 := newProducerAt(t, proc.ns)
	if err := sendSyncLoop(p2, topic, "kill-after", 10, &sent); err != nil {
		t.Fatal(err)
	}
	assertAllAcknowledgedStored(t, proc, topic, sent.snapshot(), attempted)
	proc.stopGracefully()
}

func testTornTail(t *testing.T, bin string) {
	proc := startBrokerProc(t, bin, "--flush", "async")
	topic := uniq("PT")
	p := newProducerAt(t, proc.ns)
	var sent acked
	if err := sendSyncLoop(p, topic, "torn", 50, &sent); err != nil {
		t.Fatal(err)
	}
	proc.stop(syscall.SIGKILL)

	segs, err := filepath.Glob(filepath.Join(proc.dir, "store", "commitlog", "*"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no commit-log segments under %s: %v", proc.dir, err)
	}
	slices.Sort(segs)
	last := segs[len(segs)-1]
	// The segment is preallocated ahead of its data (zeros at the end):
	// the data ends where those zeros start.
	content, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	dataEnd := int64(len(bytes.TrimRight(content, "\x00")))
	seed := time.Now().UnixNano()
	t.Logf("garbage seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	// A plausible frame header (length 300, some CRC) followed by too few
	// bytes, then random bytes: what a crash in the middle of a write leaves.
	garbage := []byte{0, 0, 1, 44, 0xde, 0xad, 0xbe, 0xef}
	for range 100 + rng.IntN(200) {
		garbage = append(garbage, byte(rng.Uint32()))
	}
	f, err := os.OpenFile(last, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(garbage, dataEnd); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	proc.restart()
	after, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != dataEnd {
		t.Errorf("segment is %d bytes after recovery, want %d (where the data ended before the garbage, %d bytes, was written)", after.Size(), dataEnd, len(garbage))
	}
	if !strings.Contains(proc.out.String(), "torn tail") {
		t.Errorf("recovery did not log the truncation:\n%s", proc.out)
	}
	attempted := func(body string) bool { return strings.HasPrefix(body, "torn") }
	assertAllAcknowledgedStored(t, proc, topic, sent.snapshot(), attempted)
	p2 := newProducerAt(t, proc.ns)
	if err := sendSyncLoop(p2, topic, "torn-after", 10, &sent); err != nil {
		t.Fatal(err)
	}
	// What was appended after the repair survives another restart.
	proc.stopGracefully()
	proc.restart()
	pulled := assertAllAcknowledgedStored(t, proc, topic, sent.snapshot(), attempted)
	if len(pulled) != 60 {
		t.Errorf("topic holds %d records, want 60", len(pulled))
	}
	assertAdminAgrees(t, proc, topic, pulled)
	proc.stopGracefully()
}

func testHealthcheck(t *testing.T, bin string) {
	proc := startBrokerProc(t, bin)
	run := func(args ...string) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"healthcheck"}, args...)...)
		cmd.Env = processEnv("GORACE=atexit_sleep_ms=0") // the race runtime otherwise lingers 1s at exit
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("healthcheck %v: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := run("--namesrv-addr", proc.ns); code != 0 {
		t.Fatalf("healthcheck against a running broker exited %d:\n%s", code, out)
	}
	_, port, _ := net.SplitHostPort(proc.ns)
	if code, out := run("--namesrv-addr", ":"+port); code != 0 {
		t.Fatalf("healthcheck --namesrv-addr :%s exited %d:\n%s", port, code, out)
	}
	proc.stopGracefully()
	if code, out := run("--namesrv-addr", proc.ns); code == 0 {
		t.Fatalf("healthcheck against a stopped broker exited 0:\n%s", out)
	}
}

func testBadConfig(t *testing.T, bin string) {
	cases := []struct {
		name string
		args []string
		env  []string
		want []string // each must appear in the output
	}{
		{"bad flush flag and bad queue count in the environment",
			[]string{"--flush", "bogus"}, []string{"MQ_DEFAULT_QUEUES=x"}, []string{"bogus", `"x"`, "default-queues"}},
		{"several unparsable values",
			[]string{"--max-message-size", "big", "--tx-timeout", "soon", "--delay-levels", "5x", "--log-level", "loud"}, nil,
			[]string{"max-message-size", "big", "tx-timeout", "soon", "5x", "loud"}},
		{"bad values from the environment only",
			nil, []string{"MQ_FLUSH=sometimes", "MQ_TX_CHECK_MAX=many"}, []string{"sometimes", "many"}},
		{"an unparsable value and an out-of-range one",
			[]string{"--flush", "bogus", "--tx-check-max", "0"}, nil, []string{"bogus", "tx-check-max"}},
		{"out-of-range values only",
			[]string{"--default-queues", "0", "--max-message-size", "10"}, nil, []string{"default-queues", "max-message-size"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// Free ports and a temp dir, so a wrongly accepted config cannot disturb anything.
			args := append([]string{"--namesrv-addr", freeAddr(t), "--broker-addr", freeAddr(t), "--admin-addr", "",
				"--data-dir", t.TempDir()}, tc.args...)
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = processEnv(append(tc.env, "GORACE=atexit_sleep_ms=0")...)
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("the broker started with a bad configuration:\n%s", out)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, want status 1:\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output does not name %q:\n%s", w, out)
				}
			}
		})
	}
}
