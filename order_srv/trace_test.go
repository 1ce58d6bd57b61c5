//go:build !race

package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

// span is a span as the stdout exporter writes it (one JSON object per line).
type span struct {
	Name        string
	SpanKind    int
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct {
		TraceID, SpanID string
		Remote          bool
	}
}

// Span kinds (trace.SpanKind).
const (
	kindServer   = 2
	kindClient   = 3
	kindConsumer = 5
)

// spansIn parses the span lines of a process's standard output, where they sit among log lines.
func spansIn(out string) []span {
	var spans []span
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `"SpanContext"`) {
			continue
		}
		var s span
		if json.Unmarshal([]byte(line), &s) == nil && s.SpanContext.SpanID != "" {
			spans = append(spans, s)
		}
	}
	return spans
}

// childOf returns the span of trace named name (or, for name "", of kind kind) whose parent is
// parentID.
func childOf(spans []span, traceID, parentID, name string, kind int) (span, bool) {
	for _, s := range spans {
		if s.SpanContext.TraceID == traceID && s.Parent.SpanID == parentID &&
			(name != "" && s.Name == name || name == "" && s.SpanKind == kind) {
			return s, true
		}
	}
	return span{}, false
}

// TestTracing_followsAnOrder_fromHTTP_throughTheHalfMessage_toTheTimeout runs the saga with
// OTEL_TRACES_EXPORTER=stdout in both services and follows one trace, started by the caller's
// traceparent: order_srv's HTTP span → create order → local transaction → the inventory sell
// call → inventory_srv's HTTP span (another process); the half and the timeout message carry
// the trace in their properties; the timeout consumer continues it, and so does inventory_srv's
// reback consumer for an order whose local transaction failed.
func TestTracing_followsAnOrder_fromHTTP_throughTheHalfMessage_toTheTimeout(t *testing.T) {
	s := newSystemWith(t, sqldb.SQLite, []string{"OTEL_TRACES_EXPORTER=stdout"}, brokertest.WithAdmin())
	s.putGoods(1, 100, 5)
	url, logs := s.startOrderInProcessWith(timeoutSoon, map[string]string{"OTEL_TRACES_EXPORTER": "stdout"})

	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	st, o := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 2}), "traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, o)
	}
	sn := o["order_sn"].(string)

	spans := spansIn(logs.String())
	server, ok := childOf(spans, traceID, callerSpan, "", kindServer)
	if !ok || !server.Parent.Remote {
		t.Fatalf("no HTTP server span continuing the caller's trace; spans: %+v", spans)
	}
	create, ok := childOf(spans, traceID, server.SpanContext.SpanID, "create order", 0)
	if !ok {
		t.Fatalf("no create order span under the HTTP span; spans: %+v", spans)
	}
	local, ok := childOf(spans, traceID, create.SpanContext.SpanID, "local transaction", 0)
	if !ok {
		t.Fatalf("no local transaction span under create order; spans: %+v", spans)
	}
	sell, ok := childOf(spans, traceID, local.SpanContext.SpanID, "inventory POST /v1/stock/sell", 0)
	if !ok || sell.SpanKind != kindClient {
		t.Fatalf("no inventory sell client span under the local transaction; spans: %+v", spans)
	}
	// inventory_srv continued the trace from the traceparent header of the sell call.
	eventually(t, 10*time.Second, "inventory_srv's span of the sell call", func() bool {
		invSell, ok := childOf(spansIn(s.inv.logs.String()), traceID, sell.SpanContext.SpanID, "", kindServer)
		return ok && invSell.Parent.Remote
	})

	// The half message and the timeout message carry the trace in their properties.
	var views []struct {
		Topic      string            `json:"topic"`
		Stage      string            `json:"stage"`
		Properties map[string]string `json:"properties"`
	}
	adminGet := func() {
		resp, err := http.Get(s.broker.AdminURL() + "/api/messages?key=" + sn)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&views); err != nil {
			t.Fatal(err)
		}
	}
	carried := map[string]bool{}
	eventually(t, 10*time.Second, "the half and the timeout message with a traceparent", func() bool {
		adminGet()
		for _, v := range views {
			topic := v.Properties["REAL_TOPIC"]
			if topic == "" {
				topic = v.Topic
			}
			tp := v.Properties["traceparent"]
			if !strings.HasPrefix(tp, "00-"+traceID+"-") {
				t.Fatalf("message %s (%s, %s) has traceparent %q, want trace %s", sn, v.Topic, v.Stage, tp, traceID)
			}
			carried[topic] = true
		}
		return carried["order_reback"] && carried["order_timeout"]
	})

	// A failed local transaction commits the half message: inventory_srv's reback consumer
	// continues the trace of that order from the message's properties.
	const failedTrace = "5bf92f3577b34da6a3ce929d0e0e4737"
	if st, body := call(t, "POST", url+"/v1/orders", orderRequest(8, [2]int64{1, 1}),
		"traceparent", "00-"+failedTrace+"-"+callerSpan+"-01", "X-Fault", "fail-local-tx"); st < 500 {
		t.Fatalf("create with fail-local-tx: %d %v, want 5xx", st, body)
	}
	eventually(t, 30*time.Second, "inventory_srv's stock reback span in the failed order's trace", func() bool {
		for _, sp := range spansIn(s.inv.logs.String()) {
			if sp.Name == "stock reback" && sp.SpanKind == kindConsumer && sp.SpanContext.TraceID == failedTrace && sp.Parent.Remote {
				return true
			}
		}
		return false
	})

	// The timeout (2 s) continues the trace: its consumer span, then the stock return call.
	eventually(t, 60*time.Second, "the order to close", func() bool { return orderStatus(t, url, sn) == "TRADE_CLOSED" })
	eventually(t, 10*time.Second, "the payment timeout span and its stock return", func() bool {
		spans := spansIn(logs.String())
		for _, timeout := range spans {
			if timeout.Name != "payment timeout" || timeout.SpanContext.TraceID != traceID || !timeout.Parent.Remote ||
				timeout.SpanKind != kindConsumer {
				continue
			}
			if _, ok := childOf(spans, traceID, timeout.SpanContext.SpanID, "inventory POST /v1/stock/reback", 0); ok {
				return true
			}
		}
		return false
	})
}

// TestTracing_isOffByDefault: without OTEL_TRACES_EXPORTER no span is written and no message
// carries a trace context, even when the caller sends one.
func TestTracing_isOffByDefault(t *testing.T) {
	s := newSystemWith(t, sqldb.SQLite, nil, brokertest.WithAdmin())
	s.putGoods(1, 100, 5)
	url, logs := s.startOrderInProcessWith(timeoutNever, nil)
	st, o := call(t, "POST", url+"/v1/orders", orderRequest(7, [2]int64{1, 1}),
		"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, o)
	}
	if spans := spansIn(logs.String()); len(spans) != 0 {
		t.Errorf("tracing off, yet %d spans were written: %+v", len(spans), spans)
	}
	resp, err := http.Get(s.broker.AdminURL() + "/api/messages?key=" + o["order_sn"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var views []struct {
		Properties map[string]string `json:"properties"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&views); err != nil {
		t.Fatal(err)
	}
	if len(views) == 0 {
		t.Fatal("the broker has no message of the order")
	}
	for _, v := range views {
		if tp, ok := v.Properties["traceparent"]; ok {
			t.Errorf("tracing off, yet a message carries traceparent %q", tp)
		}
	}
}
