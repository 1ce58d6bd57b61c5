package config

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/auth"
)

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoad_defaultsThenEnvironmentThenFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"INVENTORY_MYSQL_DSN":              "u:pw@tcp(db:3306)/inventory",
		"INVENTORY_HTTP_ADDR":              ":9000",
		"MQ_NAMESRV":                       "mq:9876",
		"INVENTORY_LOG_LEVEL":              "debug",
		"INVENTORY_SHUTDOWN_TIMEOUT":       "3s",
		"INVENTORY_MYSQL_MAX_CONNS":        "7",
		"INVENTORY_SELL_BATCHES_IN_FLIGHT": "2",
		"AUTH_JWT_SECRET":                  "0123456789abcdef0123456789abcdef",
	}
	c, err := Load([]string{"-http-addr", "127.0.0.1:9001", "-reback-group", "g2"}, getenv(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		HTTPAddr: "127.0.0.1:9001", MySQLDSN: env["INVENTORY_MYSQL_DSN"], MySQLMaxConns: 7, SellBatchesInFlight: 2, MQNamesrv: "mq:9876",
		RebackTopic: "order_reback", RebackGroup: "g2", LogLevel: slog.LevelDebug, ShutdownTimeout: 3 * time.Second,
		Auth: auth.Config{JWTSecret: env["AUTH_JWT_SECRET"]},
	}
	if c != want {
		t.Errorf("Load =\n %+v\nwant\n %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}

	d, err := Load(nil, getenv(nil), io.Discard)
	if err != nil || d != Default() {
		t.Errorf("Load without input = %+v, %v; want the defaults", d, err)
	}
	if d.HTTPAddr != ":8082" || d.MQNamesrv != "127.0.0.1:9876" {
		t.Errorf("defaults %+v", d)
	}
}

func TestLoad_reportsEveryMalformedValue(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"INVENTORY_LOG_LEVEL":              "loud",
		"INVENTORY_SHUTDOWN_TIMEOUT":       "soon",
		"INVENTORY_MYSQL_MAX_CONNS":        "many",
		"INVENTORY_SELL_BATCHES_IN_FLIGHT": "two",
	}
	_, err := Load([]string{"-no-such-flag"}, getenv(env), io.Discard)
	if err == nil {
		t.Fatal("Load accepted malformed input")
	}
	for _, want := range []string{"INVENTORY_LOG_LEVEL", "INVENTORY_SHUTDOWN_TIMEOUT", "INVENTORY_MYSQL_MAX_CONNS", "INVENTORY_SELL_BATCHES_IN_FLIGHT", "no-such-flag"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := Load([]string{"extra"}, getenv(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Errorf("stray argument: %v", err)
	}
}

func TestLoad_help(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	_, err := Load([]string{"-h"}, getenv(nil), &out)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "INVENTORY_MYSQL_DSN") || !strings.Contains(out.String(), "INVENTORY_SQLITE_PATH") {
		t.Errorf("-h: %v, usage %q", err, out.String())
	}
}

func TestValidate_reportsEveryProblem(t *testing.T) {
	t.Parallel()
	c := Config{
		HTTPAddr: "nope", MySQLDSN: "u:secret@tcp(db:3306)/", MySQLMaxConns: 1, SellBatchesInFlight: 0, MQNamesrv: "mq",
		RebackTopic: "order reback", RebackGroup: "", ShutdownTimeout: 0,
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted everything wrong")
	}
	for _, want := range []string{"http addr", "names no database", "max conns", "sell batches in flight", "MQ_NAMESRV", "reback topic", "reback group", "shutdown timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q reveals the DSN's password", err)
	}
	c = Default()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "a database is required: set INVENTORY_MYSQL_DSN") ||
		!strings.Contains(err.Error(), "or INVENTORY_SQLITE_PATH") {
		t.Errorf("defaults without a database: %v", err)
	}
	c.MySQLDSN, c.SQLitePath = "u:pw@tcp(db:3306)/inventory", "inventory.db"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "both INVENTORY_MYSQL_DSN and INVENTORY_SQLITE_PATH are set") {
		t.Errorf("both databases: %v", err)
	}
}

func TestLoad_sqlitePath_fromEnvironmentOrFlag(t *testing.T) {
	t.Parallel()
	env := map[string]string{"INVENTORY_SQLITE_PATH": "env.db", "AUTH_DISABLED": "1"}
	c, err := Load(nil, getenv(env), io.Discard)
	if err != nil || c.SQLitePath != "env.db" || c.Validate() != nil {
		t.Errorf("from the environment: %+v, %v, %v", c, err, c.Validate())
	}
	c, err = Load([]string{"--sqlite-path", "flag.db"}, getenv(env), io.Discard)
	if err != nil || c.SQLitePath != "flag.db" || c.Validate() != nil {
		t.Errorf("from the flag: %+v, %v, %v", c, err, c.Validate())
	}
}

func TestValidateHTTPAddr(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{":8082": true, "0.0.0.0:80": true, "[::1]:1": true,
		"8082": false, ":0": false, ":http": false, ":70000": false} {
		if err := ValidateHTTPAddr(addr); (err == nil) != ok {
			t.Errorf("ValidateHTTPAddr(%q) = %v", addr, err)
		}
	}
}

func TestLoad_tracing_isOffByDefault_andValidated(t *testing.T) {
	t.Parallel()
	base := map[string]string{"INVENTORY_MYSQL_DSN": "u:p@tcp(db:3306)/inventory", "AUTH_JWT_SECRET": "0123456789abcdef0123456789abcdef"}
	load := func(extra map[string]string) (Config, error) {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		c, err := Load(nil, func(k string) string { return m[k] }, io.Discard)
		return c, errors.Join(err, c.Validate())
	}
	if c, err := load(nil); err != nil || c.TracesExporter != "" {
		t.Fatalf("default exporter %q, %v; want off", c.TracesExporter, err)
	}
	if c, err := load(map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}); err != nil ||
		c.TracesExporter != "otlp" || c.OTLPEndpoint != "http://collector:4318" {
		t.Errorf("otlp: %+v, %v", c, err)
	}
	if _, err := load(map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}); err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_ENDPOINT is required") {
		t.Errorf("otlp without endpoint: %v", err)
	}
	if _, err := load(map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}); err == nil || !strings.Contains(err.Error(), "OTEL_TRACES_EXPORTER") {
		t.Errorf("unknown exporter: %v", err)
	}
}
