//go:build unix

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// program is one process of the stack, kept running by its supervisor: when it exits (killed
// by the campaign or crashed by an X-Fault) it is started again after a short pause.
type program struct {
	name string
	bin  string
	args []string
	env  []string
	log  *os.File
	// readyURL, when set, answers 200 once the program serves.
	readyURL string

	mu      sync.Mutex // guards cmd, stopped, starts
	cmd     *exec.Cmd
	stopped bool
	starts  int
	exited  chan struct{}  // closed when the current cmd exits
	sup     sync.WaitGroup // the supervisor goroutines (one per start), awaited by stop
}

// restartDelay is the supervisor's pause before it starts an exited program again.
const restartDelay = 500 * time.Millisecond

// start starts the program and its supervisor; after stop it starts nothing (a restart that
// was pausing when stop ran must not bring the program back with nothing left to stop it).
func (p *program) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = childProcAttr() // Linux: killed with the campaign, never orphaned
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.starts = cmd, p.starts+1
	exited := make(chan struct{})
	p.exited = exited
	p.sup.Add(1)
	go func() {
		defer p.sup.Done()
		_ = cmd.Wait()
		close(exited)
		if p.isStopped() {
			return
		}
		time.Sleep(restartDelay) // a supervisor's restart delay, not a wait for a condition
		if p.isStopped() {       // stop ran during the pause; start checks again under the lock
			return
		}
		if err := p.start(); err != nil {
			fmt.Fprintln(p.log, "chaos: restart failed:", err)
		}
	}()
	return nil
}

func (p *program) isStopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped
}

// signal sends sig to the running process; an error if there is none (not started, or exited
// and not yet restarted), so the campaign does not count a kill or pause that hit nothing.
func (p *program) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return fmt.Errorf("%s: not running", p.name)
	}
	select {
	case <-p.exited:
		return fmt.Errorf("%s: exited, restart pending", p.name)
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	return nil
}

// stop ends the program for good (SIGTERM, then SIGKILL after 5 s) and waits for its
// supervisor, so no restart can follow.
func (p *program) stop() {
	p.mu.Lock()
	p.stopped = true
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	defer p.sup.Wait()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// waitReady polls readyURL until it answers 200 or ctx ends.
func (p *program) waitReady(ctx context.Context) error {
	if p.readyURL == "" {
		return nil
	}
	for {
		resp, err := http.Get(p.readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w", p.name, p.readyURL, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePort returns a port free on 127.0.0.1 right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func localAddr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
