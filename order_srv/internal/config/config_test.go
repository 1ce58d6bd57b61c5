package config_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/order_srv/internal/config"
)

// env is m as a getenv; AUTH_DISABLED is 1 unless m says otherwise (config_security_test.go
// tests authentication).
func env(m map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok || k != "AUTH_DISABLED" {
			return v
		}
		return "1"
	}
}

func TestLoad_defaults_needOnlyTheDSN(t *testing.T) {
	t.Parallel()
	c, err := config.Load(nil, env(map[string]string{"ORDER_MYSQL_DSN": "u:p@tcp(db:3306)/order"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	want.MySQLDSN = "u:p@tcp(db:3306)/order"
	want.Auth.Disabled = true
	if c != want {
		t.Errorf("config = %+v, want %+v", c, want)
	}
	if c.HTTPAddr != ":8081" || c.InventoryURL != "http://127.0.0.1:8082" || c.PayTimeoutLevel != 16 || c.Faults {
		t.Errorf("defaults changed: %+v", c)
	}
}

func TestLoad_envThenFlags(t *testing.T) {
	t.Parallel()
	c, err := config.Load(
		[]string{"-http-addr", "127.0.0.1:9000", "-pay-timeout-level", "3"},
		env(map[string]string{
			"ORDER_MYSQL_DSN": "dsn", "ORDER_HTTP_ADDR": ":1", "ORDER_PAY_TIMEOUT_LEVEL": "2",
			"MQ_NAMESRV": "mqbroker:9876;10.0.0.2:9876", "ORDER_FAULTS": "1", "ORDER_LOG_LEVEL": "debug",
			"ORDER_INVENTORY_TIMEOUT": "2s", "ORDER_TIMEOUT_GROUP": "g",
		}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:9000" || c.PayTimeoutLevel != 3 || c.Namesrv != "mqbroker:9876;10.0.0.2:9876" ||
		!c.Faults || c.LogLevel != slog.LevelDebug || c.InventoryTimeout != 2*time.Second || c.TimeoutGroup != "g" {
		t.Errorf("config = %+v", c)
	}
}

func TestLoad_reportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := config.Load([]string{"extra"}, env(map[string]string{
		"ORDER_HTTP_ADDR": "8081", "ORDER_PAY_TIMEOUT_LEVEL": "19", "ORDER_MYSQL_MAX_CONNS": "x",
		"MQ_NAMESRV": "nohost", "INVENTORY_URL": "127.0.0.1:8082", "ORDER_FAULTS": "yes",
		"ORDER_SHUTDOWN_TIMEOUT": "soon", "ORDER_TX_GROUP": "order_srv", "ORDER_LOG_LEVEL": "loud",
	}), io.Discard)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"unexpected arguments", "ORDER_HTTP_ADDR", "a database is required: set ORDER_MYSQL_DSN",
		"ORDER_PAY_TIMEOUT_LEVEL", "ORDER_MYSQL_MAX_CONNS", "MQ_NAMESRV", "INVENTORY_URL", "ORDER_FAULTS",
		"ORDER_SHUTDOWN_TIMEOUT", "ORDER_TX_GROUP and ORDER_PRODUCER_GROUP must differ", "ORDER_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestLoad_sqlitePath_isTheOtherDatabase_andExactlyOneIsNeeded(t *testing.T) {
	t.Parallel()
	c, err := config.Load(nil, env(map[string]string{"ORDER_SQLITE_PATH": "env.db"}), io.Discard)
	if err != nil || c.SQLitePath != "env.db" || c.MySQLDSN != "" {
		t.Errorf("from the environment: %+v, %v", c, err)
	}
	c, err = config.Load([]string{"--sqlite-path", "flag.db"}, env(map[string]string{"ORDER_SQLITE_PATH": "env.db"}), io.Discard)
	if err != nil || c.SQLitePath != "flag.db" {
		t.Errorf("from the flag: %+v, %v", c, err)
	}
	_, err = config.Load(nil, env(map[string]string{"ORDER_SQLITE_PATH": "x.db", "ORDER_MYSQL_DSN": "u:p@tcp(db:3306)/order"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "both ORDER_MYSQL_DSN and ORDER_SQLITE_PATH are set") {
		t.Errorf("both databases: %v", err)
	}
	var usage strings.Builder
	if _, err := config.Load([]string{"-h"}, env(nil), &usage); err == nil ||
		!strings.Contains(usage.String(), "ORDER_SQLITE_PATH") || !strings.Contains(usage.String(), "ORDER_MYSQL_DSN") {
		t.Errorf("-h: %v, usage %q", err, usage.String())
	}
}

func TestLoad_tracing_isOffByDefault_andValidated(t *testing.T) {
	t.Parallel()
	c, err := config.Load(nil, env(map[string]string{"ORDER_MYSQL_DSN": "dsn"}), io.Discard)
	if err != nil || c.TracesExporter != "" {
		t.Fatalf("default exporter %q, %v; want off", c.TracesExporter, err)
	}
	c, err = config.Load(nil, env(map[string]string{"ORDER_MYSQL_DSN": "dsn",
		"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}), io.Discard)
	if err != nil || c.TracesExporter != "otlp" || c.OTLPEndpoint != "http://collector:4318" {
		t.Errorf("otlp: %+v, %v", c, err)
	}
	_, err = config.Load(nil, env(map[string]string{"ORDER_MYSQL_DSN": "dsn", "OTEL_TRACES_EXPORTER": "otlp"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_ENDPOINT is required") {
		t.Errorf("otlp without endpoint: %v", err)
	}
	_, err = config.Load(nil, env(map[string]string{"ORDER_MYSQL_DSN": "dsn", "OTEL_TRACES_EXPORTER": "zipkin"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "OTEL_TRACES_EXPORTER") {
		t.Errorf("unknown exporter: %v", err)
	}
}

func TestLoad_reconciler_defaultsToEveryMinute_zeroTurnsItOff_andBadValuesAreReported(t *testing.T) {
	t.Parallel()
	c, err := config.Load(nil, env(map[string]string{"ORDER_MYSQL_DSN": "dsn"}), io.Discard)
	if err != nil || c.ReconcileInterval != time.Minute || c.ReconcileSellAge != 20*time.Minute {
		t.Fatalf("defaults = %+v, %v", c, err)
	}
	c, err = config.Load(nil, env(map[string]string{"ORDER_MYSQL_DSN": "dsn", "ORDER_RECONCILE_INTERVAL": "0"}), io.Discard)
	if err != nil || c.ReconcileInterval != 0 {
		t.Errorf("interval 0 = %v, %v; want off", c.ReconcileInterval, err)
	}
	_, err = config.Load(nil, env(map[string]string{"ORDER_MYSQL_DSN": "dsn",
		"ORDER_RECONCILE_INTERVAL": "-1s", "ORDER_RECONCILE_SELL_AGE": "0s", "ORDER_RECONCILE_GRACE": "soon"}), io.Discard)
	for _, want := range []string{"ORDER_RECONCILE_INTERVAL", "ORDER_RECONCILE_SELL_AGE", "ORDER_RECONCILE_GRACE"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
