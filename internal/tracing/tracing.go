// Package tracing sets up OpenTelemetry tracing for shopsaga's services and carries the trace
// context through RocketMQ messages.
//
// Setup builds a TracerProvider from a small Config: no exporter (the default) gives a no-op
// provider, "stdout" writes every span as one JSON line to a writer, "otlp" sends spans over
// OTLP/HTTP to a collector. Nothing here touches OpenTelemetry's globals: the caller passes the
// provider and Propagator down. The trace context crosses the broker in message properties
// (traceparent, tracestate) through MessageCarrier, Inject and Extract.
//
// The package must not import the services' packages.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Exporters (the values of OTEL_TRACES_EXPORTER).
const (
	ExporterNone   = "none"
	ExporterStdout = "stdout"
	ExporterOTLP   = "otlp"
)

// Config chooses where spans go.
type Config struct {
	// Exporter is "" or ExporterNone (tracing off, the default), ExporterStdout or ExporterOTLP.
	Exporter string
	// Endpoint is the OTLP/HTTP collector's base URL (OTEL_EXPORTER_OTLP_ENDPOINT), e.g.
	// http://localhost:4318; spans go to its /v1/traces. http:// sends without TLS. Required
	// for ExporterOTLP, ignored otherwise.
	Endpoint string
	// ServiceName is the service.name of every span (e.g. order_srv).
	ServiceName string
	// Writer receives the spans of ExporterStdout, one JSON object per line.
	Writer io.Writer
}

// Enabled reports whether spans are exported at all.
func (c Config) Enabled() bool { return c.Exporter != "" && c.Exporter != ExporterNone }

// Validate reports every problem at once, naming the standard environment variables.
func (c Config) Validate() error {
	var errs []error
	switch c.Exporter {
	case "", ExporterNone, ExporterStdout:
	case ExporterOTLP:
		if err := validateEndpoint(c.Endpoint); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not none, stdout or otlp", c.Exporter))
	}
	if c.Exporter == ExporterStdout && c.Writer == nil {
		errs = append(errs, errors.New("tracing: the stdout exporter needs a writer"))
	}
	if c.Enabled() && strings.TrimSpace(c.ServiceName) == "" {
		errs = append(errs, errors.New("tracing: a service name is required"))
	}
	return errors.Join(errs...)
}

// ValidateEnv checks the two environment values the services read, before a writer or service
// name is known: config packages call it.
func ValidateEnv(exporter, endpoint string) error {
	return Config{Exporter: exporter, Endpoint: endpoint, ServiceName: "-", Writer: io.Discard}.Validate()
}

func validateEndpoint(endpoint string) error {
	if endpoint == "" {
		return errors.New("OTEL_EXPORTER_OTLP_ENDPOINT is required when OTEL_TRACES_EXPORTER=otlp (e.g. http://localhost:4318)")
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %q is not an http(s) URL (e.g. http://localhost:4318)", endpoint)
	}
	return nil
}

// Setup returns the TracerProvider of cfg and its shutdown, which flushes the spans still
// buffered; call it once at exit. With tracing off the provider is a no-op and shutdown does
// nothing.
func Setup(ctx context.Context, cfg Config) (trace.TracerProvider, func(context.Context) error, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("tracing: %w", err)
	}
	var exp sdktrace.SpanExporter
	var opts []sdktrace.TracerProviderOption
	switch cfg.Exporter {
	case "", ExporterNone:
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	case ExporterStdout:
		e, err := stdouttrace.New(stdouttrace.WithWriter(cfg.Writer))
		if err != nil {
			return nil, nil, fmt.Errorf("tracing: stdout exporter: %w", err)
		}
		exp = e
		// Synchronous: a span is written when it ends, so a reader of the stream (a demo, a
		// test) sees it at once, and nothing is lost if the process dies.
		opts = append(opts, sdktrace.WithSyncer(exp))
	case ExporterOTLP:
		u, _ := url.Parse(cfg.Endpoint) // checked by Validate
		u.Path = strings.TrimRight(u.Path, "/") + "/v1/traces"
		hopts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(u.String())}
		if u.Scheme == "http" {
			hopts = append(hopts, otlptracehttp.WithInsecure())
		}
		e, err := otlptracehttp.New(ctx, hopts...)
		if err != nil {
			return nil, nil, fmt.Errorf("tracing: otlp exporter: %w", err)
		}
		exp = e
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	res := resource.NewSchemaless(attribute.String("service.name", cfg.ServiceName))
	tp := sdktrace.NewTracerProvider(append(opts, sdktrace.WithResource(res))...)
	return tp, tp.Shutdown, nil
}

// Propagator is the W3C trace-context propagator (traceparent, tracestate) used over HTTP and
// in messages.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// MessageCarrier is a propagation.TextMapCarrier over a message's properties.
type MessageCarrier struct{ Msg *primitive.Message }

var _ propagation.TextMapCarrier = MessageCarrier{}

// Get returns the property key, or "".
func (c MessageCarrier) Get(key string) string { return c.Msg.GetProperty(key) }

// Set sets the property key. A key or value holding the property separators \x01 or \x02
// would corrupt the message's properties: it is dropped, as are empty ones.
func (c MessageCarrier) Set(key, value string) {
	if strings.ContainsAny(key, "\x01\x02") || strings.ContainsAny(value, "\x01\x02") {
		return
	}
	c.Msg.WithProperty(key, value)
}

// Keys lists the message's property names.
func (c MessageCarrier) Keys() []string {
	props := c.Msg.GetProperties()
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the trace context of ctx into msg's properties (nothing if ctx has none).
func Inject(ctx context.Context, p propagation.TextMapPropagator, msg *primitive.Message) {
	if p == nil {
		return
	}
	p.Inject(ctx, MessageCarrier{Msg: msg})
}

// Extract returns ctx with the trace context found in msg's properties as its remote parent.
func Extract(ctx context.Context, p propagation.TextMapPropagator, msg *primitive.Message) context.Context {
	if p == nil {
		return ctx
	}
	return p.Extract(ctx, MessageCarrier{Msg: msg})
}
