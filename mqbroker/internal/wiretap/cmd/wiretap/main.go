// Command wiretap runs a command (typically Apache RocketMQ's mqadmin) with
// its RocketMQ traffic going through a recording proxy and writes a golden
// file (format: package wiretap). Example:
//
//	wiretap -out testdata/mqadmin/clusterList.golden.jsonl \
//	  -route namesrv=127.0.0.1:29876=127.0.0.1:19876 \
//	  -route broker=127.0.0.1:29911=127.0.0.1:19911 \
//	  -- mqadmin clusterList -n 127.0.0.1:29876
//
// With no command after "--" it records until interrupted.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/shopsaga/shopsaga/mqbroker/internal/wiretap"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wiretap:", err)
		os.Exit(1)
	}
}

type routeFlags []wiretap.Route

func (r *routeFlags) String() string { return fmt.Sprint(*r) }

func (r *routeFlags) Set(v string) error {
	parts := strings.Split(v, "=")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return fmt.Errorf("route %q: want name=listen=upstream", v)
	}
	*r = append(*r, wiretap.Route{Name: parts[0], Listen: parts[1], Upstream: parts[2]})
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wiretap", flag.ContinueOnError)
	var routes routeFlags
	out := fs.String("out", "", "golden file to write (required)")
	note := fs.String("note", "", "free text stored in the header (what was set up before the command)")
	label := fs.String("label", "", "command line to store in the header (default: the command as run, base names)")
	fs.Var(&routes, "route", "name=listen=upstream (repeatable; listen and upstream of equal length)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var problems []error
	if *out == "" {
		problems = append(problems, errors.New("-out is required"))
	}
	if len(routes) == 0 {
		problems = append(problems, errors.New("at least one -route is required"))
	}
	if err := errors.Join(problems...); err != nil {
		return err
	}
	p, err := wiretap.Listen(routes)
	if err != nil {
		return err
	}
	var tr wiretap.Trailer
	cmdArgs := fs.Args()
	if len(cmdArgs) > 0 {
		var so, se bytes.Buffer
		cmd := exec.CommandContext(ctx, cmdArgs[0], cmdArgs[1:]...)
		cmd.Stdout = io.MultiWriter(&so, stdout)
		cmd.Stderr = io.MultiWriter(&se, stderr)
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			tr.Exit = ee.ExitCode()
		case err != nil:
			p.Close()
			return fmt.Errorf("run %s: %w", cmdArgs[0], err)
		}
		tr.Stdout, tr.Stderr = so.String(), se.String()
	} else {
		sig, stop := signal.NotifyContext(ctx, os.Interrupt)
		<-sig.Done()
		stop()
	}
	p.Close()
	h := wiretap.Header{Command: *label, Routes: routes, Note: *note}
	if h.Command == "" {
		h.Command = strings.Join(append([]string{filepath.Base(cmdArgs0(cmdArgs))}, tail(cmdArgs)...), " ")
	}
	var buf bytes.Buffer
	if err := wiretap.Write(&buf, h, p.Rec.Frames(), tr); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(*out, buf.Bytes(), 0o644)
}

func cmdArgs0(a []string) string {
	if len(a) == 0 {
		return "(interactive)"
	}
	return a[0]
}

func tail(a []string) []string {
	if len(a) < 2 {
		return nil
	}
	return a[1:]
}
