package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one program of the stack, run as a child process; it can be started again after it
// exited (the crash scenarios). Its stdout and stderr are appended to logPath.
type process struct {
	name    string
	path    string
	args    []string
	env     []string
	logPath string
	died    chan<- *process // told when the process exits without stop
	// readyURL answers 200 once the program serves; url is an order_srv instance's own base
	// URL (behind the balancer with --replicas 2).
	readyURL, url string

	mu           sync.Mutex // guards cmd, done, err, exitExpected
	cmd          *exec.Cmd
	done         chan struct{} // closed when the current run has exited
	err          error         // how the last run ended
	exitExpected bool          // the current run is being stopped, or is meant to crash
}

// start runs the program once more.
func (p *process) start() error {
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s log: %w", p.name, err)
	}
	fmt.Fprintf(log, "---- demo: %s started at %s\n", p.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.err, p.exitExpected = cmd, done, nil, false
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		log.Close()
		p.mu.Lock()
		p.err = err
		exitExpected := p.exitExpected
		p.mu.Unlock()
		close(done)
		if !exitExpected {
			select {
			case p.died <- p:
			default:
			}
		}
	}()
	return nil
}

// expectExit tells p that its current run is about to end on purpose (an injected crash), so
// that the exit is not reported as unexpected.
func (p *process) expectExit() {
	p.mu.Lock()
	p.exitExpected = true
	p.mu.Unlock()
}

// exited returns a channel closed when the current run has ended.
func (p *process) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// exitErr says how the last run ended (nil: status 0 or still running).
func (p *process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// exitCode is the exit status of the last run, or -1 if it was killed by a signal or runs.
func (p *process) exitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop asks the process to end (SIGTERM) and kills it if it has not within grace.
func (p *process) stop(grace time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.exitExpected = true
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = cmd.Process.Kill()
	}
	select {
	case <-done:
		return nil
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("did not stop within %v of SIGTERM; killed", grace)
	}
}

// tail returns the last n lines of the file at path, indented, for error messages.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "    (" + err.Error() + ")"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, "    "+sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
