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
	exited  chan struct{} // closed when the current cmd exits
}

func (p *program) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.starts = cmd, p.starts+1
	exited := make(chan struct{})
	p.exited = exited
	go func() {
		_ = cmd.Wait()
		close(exited)
		p.mu.Lock()
		stopped := p.stopped
		p.mu.Unlock()
		if stopped {
			return
		}
		time.Sleep(500 * time.Millisecond) // a supervisor's restart delay, not a wait for a condition
		if err := p.start(); err != nil {
			fmt.Fprintln(p.log, "chaos: restart failed:", err)
		}
	}()
	return nil
}

// signal sends sig to the running process, if any.
func (p *program) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// stop ends the program for good (SIGTERM, then SIGKILL after 5 s).
func (p *program) stop() {
	p.mu.Lock()
	p.stopped = true
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
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
