package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// clientLog receives rocketmq-client-go's logs (rlog) and panics: warnings
// and errors go to the progress stream, one short line each (the client
// logs whole message bodies), except the one the check-back phase causes on
// purpose; panics in client goroutines are logged and counted instead of
// ending the run.
type clientLog struct {
	w io.Writer

	mu     sync.Mutex // guards writes to w and the counters
	panics int
	lines  int
}

// expected is logged by the client for every local transaction answered
// Unknown, which the check-back phase does on purpose.
const expected = "executeLocalTransaction but state unexpected"

// idleClose is logged when a connection received nothing for the client's
// 120 s read deadline (PROTOCOL.md §1.4): name-server connections of
// producers that were shut down earlier in the run. Harmless.
const idleClose = "conn error, close connection"

func (l *clientLog) Debug(string, map[string]interface{}) {}
func (l *clientLog) Info(string, map[string]interface{})  {}
func (l *clientLog) Warning(msg string, fields map[string]interface{}) {
	l.print("warn", msg, fields)
}
func (l *clientLog) Error(msg string, fields map[string]interface{}) { l.print("error", msg, fields) }
func (l *clientLog) Fatal(msg string, fields map[string]interface{}) { l.print("fatal", msg, fields) }
func (l *clientLog) Level(string)                                    {}
func (l *clientLog) OutputPath(string) error                         { return nil }

// maxLines bounds what a misbehaving run can print.
const maxLines = 200

func (l *clientLog) print(level, msg string, fields map[string]interface{}) {
	if msg == expected {
		return
	}
	if msg == idleClose && strings.Contains(fmt.Sprint(fields[rlog.LogKeyUnderlayError]), "i/o timeout") {
		return
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "rocketmq client %s: %s", level, msg)
	for _, k := range keys {
		v := fmt.Sprint(fields[k])
		if len(v) > 120 {
			v = v[:120] + "…"
		}
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines++
	switch {
	case l.lines < maxLines:
		fmt.Fprintln(l.w, b.String())
	case l.lines == maxLines:
		fmt.Fprintln(l.w, "rocketmq client: further log lines suppressed")
	}
}

// panic is primitive.PanicHandler.
func (l *clientLog) panic(v any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.panics++
	fmt.Fprintf(l.w, "rocketmq client panic (recovered): %v\n", v)
}

func (l *clientLog) counts() (panics, lines int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.panics, l.lines
}
