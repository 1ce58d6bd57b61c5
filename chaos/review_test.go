//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testProgram is a program running bin args, logging to a file of the test.
func testProgram(t *testing.T, bin string, args ...string) *program {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		t.Skip(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &program{name: bin, bin: path, args: args, log: f}
}

func (p *program) current() (*exec.Cmd, chan struct{}, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.exited, p.starts
}

// TestReview_supervisorDoesNotRestartAfterStop: a program killed -9 is in its supervisor's
// restart pause when stop runs; once stop returned and the supervisor ended, the program was
// not started again (no leaked process with nothing to stop it).
func TestReview_supervisorDoesNotRestartAfterStop(t *testing.T) {
	p := testProgram(t, "sleep", "60")
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	cmd, exited, _ := p.current()
	if err := p.signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	p.stop() // during the restart pause (0.5 s)
	p.sup.Wait()
	if cmd2, _, starts := p.current(); starts != 1 || cmd2 != cmd {
		t.Errorf("after stop: %d starts, want 1 (restarted: pid %d)", starts, cmd2.Process.Pid)
		_ = cmd2.Process.Kill()
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	if _, _, starts := p.current(); starts != 1 {
		t.Errorf("start after stop started the program: %d starts", starts)
	}
}

// TestReview_signalToAnExitedProgramFails: a kill or pause that hits no running process is an
// error (the campaign counts it as a failed injection), not silently nothing.
func TestReview_signalToAnExitedProgramFails(t *testing.T) {
	p := testProgram(t, "true")
	if err := p.signal(syscall.SIGKILL); err == nil {
		t.Error("signal before start: no error")
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	_, exited, _ := p.current()
	<-exited
	p.stop()
	if err := p.signal(syscall.SIGSTOP); err == nil {
		t.Error("signal to an exited program: no error")
	}
}

// TestReview_failedInjectionsAreNotCountedAsFaults: the report counts failed injections in a
// row of their own, not in "injected faults", and names the kinds that never succeeded.
func TestReview_failedInjectionsAreNotCountedAsFaults(t *testing.T) {
	boom := errors.New("nft: boom")
	in := &injector{faults: []fault{
		{kind: "kill-9", target: "mqbroker"},
		{kind: "pause", target: "order_srv_1", d: time.Second},
		{kind: "partition", target: "inventory (nft drop)", err: boom},
		{kind: "blackhole", target: "inventory"},
		{kind: "duplicate", target: "duplicate", err: errors.New("no paid or closed order found")},
		{kind: "kill-9", target: "mariadb", err: errors.New("docker kill: no such container")},
	}}
	var out bytes.Buffer
	missing := report(&out, config{duration: time.Minute, instances: 2}, in, nil, time.Second, newLedger())
	if want := []string{"partition", "duplicate"}; !reflect.DeepEqual(missing, want) {
		t.Errorf("missing kinds %v, want %v", missing, want)
	}
	for _, want := range []string{
		"| injected faults | 3 map[blackhole:1 kill-9:1 pause:1] |",
		"| failed injections (not counted) | 3 map[duplicate:1 kill-9:1 partition:1] |",
		"partition inventory (nft drop) (FAILED, not counted: nft: boom)",
		"chaos: FAILED — fault kinds never injected successfully: partition, duplicate",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	in.faults = append(in.faults, fault{kind: "partition"}, fault{kind: "duplicate"})
	if m := in.missingKinds(); len(m) != 0 {
		t.Errorf("every kind succeeded once, missing %v", m)
	}
}

// TestReview_duplicateReadsStatusThroughAnyLiveInstance: with the first order_srv down, the
// status comes from the second.
func TestReview_duplicateReadsStatusThroughAnyLiveInstance(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/orders/SN1" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"status":"TRADE_SUCCESS"}`))
	}))
	defer live.Close()
	if got := orderStatusOfAny(context.Background(), []string{down.URL, live.URL}, "SN1"); got != "TRADE_SUCCESS" {
		t.Errorf("status %q, want TRADE_SUCCESS from the live instance", got)
	}
	if got := orderStatusOfAny(context.Background(), []string{down.URL}, "SN1"); got != "" {
		t.Errorf("no live instance: status %q, want none", got)
	}
}
