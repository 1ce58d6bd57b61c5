package mq

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/shopsaga/shopsaga/internal/mqclient"
)

var configureOnce sync.Once

// ConfigureClient sets the official client's process-wide settings, once per process (the
// first logger wins), before any producer or consumer exists: mqclient.Setup's panic handler
// (without it a panic in a client goroutine, e.g. an async send timing out, kills the process),
// and a client logger that keeps warnings and errors but drops stateUnexpected.
func ConfigureClient(log *slog.Logger) {
	configureOnce.Do(func() {
		mqclient.Setup(log)
		rlog.SetLogger(clientLog{log: log.With("component", "rocketmq-client")})
	})
}

// stateUnexpected is what the client logs, at error level, whenever a local transaction answers
// anything but commit. Here a rollback is the normal outcome of every successful order (the
// reback message is discarded), so the line is noise; the app logs real failures itself.
const stateUnexpected = "executeLocalTransaction but state unexpected"

// clientLog is the client's rlog.Logger on slog: debug and info are dropped (the client is
// chatty), warnings and errors are kept.
type clientLog struct{ log *slog.Logger }

func (l clientLog) Debug(string, map[string]any) {}
func (l clientLog) Info(string, map[string]any)  {}
func (l clientLog) Warning(msg string, fields map[string]any) {
	l.log.Warn(msg, attrs(fields)...)
}
func (l clientLog) Error(msg string, fields map[string]any) {
	if msg == stateUnexpected {
		return
	}
	l.log.Error(msg, attrs(fields)...)
}
func (l clientLog) Fatal(msg string, fields map[string]any) { l.log.Error(msg, attrs(fields)...) }
func (l clientLog) Level(string)                            {}
func (l clientLog) OutputPath(string) error                 { return nil }

func attrs(fields map[string]any) []any {
	out := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		out = append(out, k, fmt.Sprint(v))
	}
	return out
}
