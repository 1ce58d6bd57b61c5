package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/namesrv"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// nullBroker is the client ceiling's target: name server and broker on one
// port, answering route lookups with a route to itself, heartbeats with
// success and sends with a well-formed success response — storing nothing.
// It uses mqbroker's remoting server, so what it costs per request is the
// transport's cost alone.
type nullBroker struct {
	srv    *remoting.Server
	ln     net.Listener
	host   netip.AddrPort
	queues int32
	phys   atomic.Int64     // fake commit-log offset, for distinct msgIds
	offset [64]atomic.Int64 // fake queue offsets by queueId % 64
	done   chan error       // Serve's result
	sends  atomic.Int64     // sends answered
}

func startNullBroker(queues int) (*nullBroker, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("null broker: %w", err)
	}
	host, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("null broker: %w", err)
	}
	nb := &nullBroker{ln: ln, host: host, queues: int32(queues), done: make(chan error, 1)}
	nb.srv = remoting.NewServer(nb, remoting.Options{})
	go func() { nb.done <- nb.srv.Serve(ln) }()
	return nb, nil
}

// Addr is the name-server (and broker) address.
func (nb *nullBroker) Addr() string { return nb.host.String() }

func (nb *nullBroker) Close(ctx context.Context) error {
	err := nb.srv.Shutdown(ctx)
	if serr := <-nb.done; err == nil {
		err = serr
	}
	return err
}

// Inline implements remoting.Inliner: every request of the null responder is answered at once,
// so all of them are served on the connection's reader, as mqbroker serves its async-flush sends.
// Without it the ceiling would pay a hand-off to a worker per request that the broker saves.
func (nb *nullBroker) Inline(*remoting.Command) bool { return true }

// Serve implements remoting.Handler.
func (nb *nullBroker) Serve(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	resp := remoting.NewResponse(req, int16(protocol.Success), "")
	switch protocol.Code(req.Code) {
	case protocol.GetRouteInfoByTopic:
		resp.Body = namesrv.RouteJSON("DefaultCluster", "null-broker", nb.host.String(),
			namesrv.Topic{ReadQueues: nb.queues, WriteQueues: nb.queues, Perm: namesrv.PermRead | namesrv.PermWrite})
	case protocol.SendMessage, protocol.SendMessageV2, protocol.SendBatchMessage:
		key := "queueId"
		if protocol.Code(req.Code) != protocol.SendMessage {
			key = "e" // SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE short header
		}
		q := protocol.FieldsOf(req).OptInt32(key, 0)
		phys := nb.phys.Add(int64(len(req.Body)) + 200)
		resp.SetExt("msgId", message.OffsetMsgID(nb.host, phys))
		resp.SetExtInt("queueId", int64(q))
		resp.SetExtInt("queueOffset", nb.offset[uint32(q)%64].Add(1)-1)
		resp.SetExt("MSG_REGION", "DefaultRegion")
		resp.SetExt("TRACE_ON", "false")
		nb.sends.Add(1)
	}
	// Heartbeats and anything else: plain success.
	return resp
}

// nullResponderCmd is the hidden sub-command serving the null responder in
// a child process: the broker runs as a separate process, so the ceiling
// pays the same cross-process scheduling costs.
const nullResponderCmd = "null-responder"

// serveNullResponder prints the responder's address on stdout and serves
// until ctx ends (SIGTERM).
func serveNullResponder(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(nullResponderCmd, flag.ContinueOnError)
	queues := fs.Int("queues", 4, "queues per topic in the routes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	nb, err := startNullBroker(*queues)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, nb.Addr())
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return nb.Close(cctx)
}

// startNullProcess runs the null responder as a child process (this same
// executable) and returns its address and a stop function.
func startNullProcess(queues int, log io.Writer) (string, func(), error) {
	addr, _, stop, err := startNullProcessPID(queues, log)
	return addr, stop, err
}

// startNullProcessPID is startNullProcess, also returning the child's pid
// (the soak phase reads its CPU time).
func startNullProcessPID(queues int, log io.Writer) (string, int, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", 0, nil, fmt.Errorf("null responder: %w", err)
	}
	cmd := exec.Command(exe, nullResponderCmd, "--queues", strconv.Itoa(queues))
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, fmt.Errorf("null responder: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("null responder: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	addrc := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addrc <- strings.TrimSpace(line)
	}()
	select {
	case addr := <-addrc:
		if addr == "" {
			stop()
			return "", 0, nil, errors.New("null responder exited without an address")
		}
		return addr, cmd.Process.Pid, stop, nil
	case <-time.After(10 * time.Second):
		stop()
		return "", 0, nil, errors.New("null responder gave no address within 10s")
	}
}
