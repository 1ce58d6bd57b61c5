package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopsaga/shopsaga/internal/tracing"
)

func TestInjectExtract_carriesTheTraceThroughMessageProperties(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prop := tracing.Propagator()

	ctx, producer := tp.Tracer("test").Start(context.Background(), "send")
	msg := primitive.NewMessage("topic", []byte("{}"))
	msg.WithProperty("KEYS", "sn-1")
	tracing.Inject(ctx, prop, msg)
	producer.End()
	if got := msg.GetProperty("traceparent"); !strings.HasPrefix(got, "00-"+producer.SpanContext().TraceID().String()) {
		t.Fatalf("traceparent = %q, want the producer's trace %s", got, producer.SpanContext().TraceID())
	}

	// Across the wire: the properties are encoded and decoded as the client does.
	received := primitive.NewMessage("topic", nil)
	received.UnmarshalProperties([]byte(msg.MarshallProperties()))
	cctx := tracing.Extract(context.Background(), prop, received)
	_, consumer := tp.Tracer("test").Start(cctx, "receive")
	consumer.End()

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans ended, want 2", len(spans))
	}
	recv := spans[1]
	if recv.SpanContext().TraceID() != producer.SpanContext().TraceID() || recv.Parent().SpanID() != producer.SpanContext().SpanID() || !recv.Parent().IsRemote() {
		t.Errorf("receive span: trace %s parent %s (remote %v); want trace %s parent %s, remote",
			recv.SpanContext().TraceID(), recv.Parent().SpanID(), recv.Parent().IsRemote(),
			producer.SpanContext().TraceID(), producer.SpanContext().SpanID())
	}
	if received.GetProperty("KEYS") != "sn-1" {
		t.Errorf("other properties lost: %v", received.GetProperties())
	}
}

func TestExtract_withoutContext_startsANewTrace(t *testing.T) {
	t.Parallel()
	ctx := tracing.Extract(context.Background(), tracing.Propagator(), primitive.NewMessage("topic", nil))
	if trace.SpanContextFromContext(ctx).IsValid() {
		t.Error("a message without traceparent gave a trace context")
	}
	tracing.Inject(context.Background(), tracing.Propagator(), primitive.NewMessage("t", nil)) // no span: nothing, no panic
}

func TestMessageCarrier_dropsSeparators(t *testing.T) {
	t.Parallel()
	msg := primitive.NewMessage("topic", nil)
	c := tracing.MessageCarrier{Msg: msg}
	c.Set("tracestate", "a=1\x02b")
	c.Set("bad\x01key", "v")
	c.Set("traceparent", "00-x")
	if got := msg.GetProperties(); len(got) != 1 || got["traceparent"] != "00-x" {
		t.Errorf("properties = %q, want only traceparent", got)
	}
	if keys := c.Keys(); len(keys) != 1 || keys[0] != "traceparent" {
		t.Errorf("Keys = %q", keys)
	}
}

func TestSetup_stdout_writesSpansAsJSONLines(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	tp, shutdown, err := tracing.Setup(context.Background(), tracing.Config{Exporter: "stdout", ServiceName: "svc", Writer: &out})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "work")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name     string
		Resource []struct {
			Key   string
			Value struct{ Value any }
		}
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if got.Name != "work" || len(got.Resource) != 1 || got.Resource[0].Key != "service.name" || got.Resource[0].Value.Value != "svc" {
		t.Errorf("span = %+v", got)
	}
}

func TestSetup_offByDefault_isANoop(t *testing.T) {
	t.Parallel()
	tp, shutdown, err := tracing.Setup(context.Background(), tracing.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "work")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("tracing off, yet the span records")
	}
	if err := shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestSetup_otlp_exportsToTheEndpoint(t *testing.T) {
	t.Parallel()
	tp, shutdown, err := tracing.Setup(context.Background(), tracing.Config{Exporter: "otlp", Endpoint: "http://127.0.0.1:4318", ServiceName: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tp.(*sdktrace.TracerProvider); !ok {
		t.Errorf("provider %T, want the SDK's", tp)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // nothing listens there: do not wait for the export
	_ = shutdown(ctx)
}

func TestConfig_Validate_reportsEveryProblem(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		exporter, endpoint string
		want               []string // substrings of the error; none = valid
	}{
		{"", "", nil},
		{"none", "", nil},
		{"stdout", "", nil},
		{"otlp", "http://localhost:4318", nil},
		{"otlp", "https://collector.example:4318/base", nil},
		{"otlp", "", []string{"OTEL_EXPORTER_OTLP_ENDPOINT is required"}},
		{"otlp", "localhost:4318", []string{"not an http(s) URL"}},
		{"jaeger", "", []string{`OTEL_TRACES_EXPORTER: "jaeger"`}},
	} {
		err := tracing.ValidateEnv(c.exporter, c.endpoint)
		if len(c.want) == 0 {
			if err != nil {
				t.Errorf("%q %q: %v", c.exporter, c.endpoint, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q %q: no error, want %q", c.exporter, c.endpoint, c.want)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q %q: %v, want %q", c.exporter, c.endpoint, err, w)
			}
		}
	}
}
