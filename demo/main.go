// Command demo runs shopsaga's whole saga on one machine with nothing but Go: it builds mqbroker,
// inventory_srv and order_srv, starts them as real processes on loopback ports (databases
// embedded in SQLite files, or MySQL when DSNs are given), plays the saga's paths of
// ARCHITECTURE.md — success and payment, short stock, rollback, crashes answered by the broker's
// check-back, payment timeout, then a few seconds of concurrent buyers through loadgen's engine
// (package loadgen/load) — narrating what it observes through the services' HTTP APIs, the
// broker's admin API and the programs' logs, and then leaves the stack running until Ctrl-C.
//
//	go run ./demo            play the scenarios, then keep the stack up for exploration
//	go run ./demo --exit     exit after the scenarios (also when CI=true); non-zero if one failed
//	go run ./demo -h         every flag
//
// The package is a program only: nothing imports it, and it imports no internal package of the
// programs it runs (it talks to them over HTTP, like any client).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		stop()
		os.Exit(1)
	}
}

// run builds and starts the stack, plays the scenarios and, unless cfg.exit, waits for ctx to
// end; the stack is stopped on return. It fails if the stack cannot start or, with --exit, if a
// scenario's expectation failed.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	n := newNarrator(stdout)
	n.intro()
	st, err := startStack(ctx, cfg, n)
	if err != nil {
		return err
	}
	defer st.stop(n)

	failed := playScenarios(ctx, st, n)
	n.balanced(st)
	if ctx.Err() != nil {
		n.line("Interrupted; stopping the stack.")
		return nil
	}
	var result error
	if failed > 0 {
		result = fmt.Errorf("%d scenario(s) did not behave as expected (see the ✗ lines above; logs in %s)", failed, st.logDir)
	}
	if cfg.exit {
		return result
	}
	n.explore(st)
	select {
	case <-ctx.Done():
		n.line("Stopping the stack.")
	case p := <-st.died:
		result = errors.Join(result, fmt.Errorf("%s exited unexpectedly (%v); its log: %s", p.name, p.exitErr(), p.logPath))
	}
	return result
}
