// Package config loads the configuration of inventory_srv once, from command-line flags over
// environment variables over defaults, and validates it, reporting every problem at once.
//
// The database is MySQL/MariaDB (INVENTORY_MYSQL_DSN) or an SQLite file (INVENTORY_SQLITE_PATH):
// exactly one must be given. Secrets (the MySQL DSN, which holds a password) are read from the
// environment only.
// The package must not import the service's other packages.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/internal/tracing"
)

// Config is the whole configuration of inventory_srv.
type Config struct {
	HTTPAddr      string // -http-addr, INVENTORY_HTTP_ADDR
	MySQLDSN      string // INVENTORY_MYSQL_DSN (environment only), e.g. "u:pw@tcp(db:3306)/inventory"
	SQLitePath    string // -sqlite-path, INVENTORY_SQLITE_PATH: an SQLite file instead of MySQL
	MySQLMaxConns int    // -mysql-max-conns, INVENTORY_MYSQL_MAX_CONNS
	// SellBatchesInFlight is how many transactions of merged one-item sells run at once
	// (-sell-batches-in-flight, INVENTORY_SELL_BATCHES_IN_FLIGHT); see inventory.WithSellBatchesInFlight.
	SellBatchesInFlight int
	MQNamesrv           string        // -mq-namesrv, MQ_NAMESRV: "host:port;host2:port"
	RebackTopic         string        // -reback-topic, INVENTORY_REBACK_TOPIC
	RebackGroup         string        // -reback-group, INVENTORY_REBACK_GROUP
	LogLevel            slog.Level    // -log-level, INVENTORY_LOG_LEVEL: debug, info, warn, error
	ShutdownTimeout     time.Duration // -shutdown-timeout, INVENTORY_SHUTDOWN_TIMEOUT
	TracesExporter      string        // -traces-exporter, OTEL_TRACES_EXPORTER: none (default), stdout or otlp
	OTLPEndpoint        string        // -otlp-endpoint, OTEL_EXPORTER_OTLP_ENDPOINT: collector base URL for otlp
	// Auth is AUTH_JWT_SECRET / AUTH_JWKS_URL (+ AUTH_ISSUER, AUTH_AUDIENCE) or AUTH_DISABLED=1,
	// environment only.
	Auth auth.Config
	// MQCredentials sign the broker requests (ACL): MQ_ACCESS_KEY, MQ_SECRET_KEY, environment
	// only (a secret); both or neither.
	MQCredentials mqclient.Credentials
}

// Default returns the defaults. The database has none: MySQLDSN or SQLitePath must be given.
func Default() Config {
	return Config{
		HTTPAddr:            ":8082",
		MySQLMaxConns:       20,
		SellBatchesInFlight: 1,
		MQNamesrv:           "127.0.0.1:9876",
		RebackTopic:         "order_reback",
		RebackGroup:         "inventory_reback",
		LogLevel:            slog.LevelInfo,
		ShutdownTimeout:     15 * time.Second,
	}
}

// Load reads args (without the program name) and the environment through getenv over the
// defaults. It reports every malformed value, but not missing or inconsistent ones (call
// Validate), and returns what it could read even then, so that the caller can report the
// problems of both at once. "-h" prints the usage to usage and returns flag.ErrHelp.
func Load(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	c := Default()
	var errs []error
	env := func(key string, set func(string) error) {
		if v := getenv(key); v != "" {
			if err := set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", key, v, err))
			}
		}
	}
	str := func(dst *string) func(string) error { return func(v string) error { *dst = v; return nil } }
	env("INVENTORY_HTTP_ADDR", str(&c.HTTPAddr))
	env("INVENTORY_MYSQL_DSN", str(&c.MySQLDSN))
	env("INVENTORY_SQLITE_PATH", str(&c.SQLitePath))
	env("INVENTORY_MYSQL_MAX_CONNS", func(v string) (err error) { c.MySQLMaxConns, err = strconv.Atoi(v); return err })
	env("INVENTORY_SELL_BATCHES_IN_FLIGHT", func(v string) (err error) { c.SellBatchesInFlight, err = strconv.Atoi(v); return err })
	env("MQ_NAMESRV", str(&c.MQNamesrv))
	c.MQCredentials = mqclient.CredentialsFromEnv(getenv)
	env("INVENTORY_REBACK_TOPIC", str(&c.RebackTopic))
	env("INVENTORY_REBACK_GROUP", str(&c.RebackGroup))
	env("INVENTORY_LOG_LEVEL", func(v string) error { return c.LogLevel.UnmarshalText([]byte(v)) })
	env("INVENTORY_SHUTDOWN_TIMEOUT", func(v string) (err error) { c.ShutdownTimeout, err = time.ParseDuration(v); return err })
	env("OTEL_TRACES_EXPORTER", str(&c.TracesExporter))
	env("OTEL_EXPORTER_OTLP_ENDPOINT", str(&c.OTLPEndpoint))
	if a, err := auth.FromEnv(getenv); err != nil {
		errs = append(errs, err)
	} else {
		c.Auth = a
	}

	// Flags default to what the environment said, so -h shows the values in effect.
	fs := flag.NewFlagSet("inventory_srv", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "HTTP listen address (INVENTORY_HTTP_ADDR)")
	fs.StringVar(&c.SQLitePath, "sqlite-path", c.SQLitePath, "SQLite database file, created if missing, instead of MySQL (INVENTORY_SQLITE_PATH)")
	fs.IntVar(&c.MySQLMaxConns, "mysql-max-conns", c.MySQLMaxConns, "MySQL connection pool size (INVENTORY_MYSQL_MAX_CONNS)")
	fs.IntVar(&c.SellBatchesInFlight, "sell-batches-in-flight", c.SellBatchesInFlight,
		"transactions of merged one-item sells running at once; 1 merges the most, more cuts the wait behind a slow one (INVENTORY_SELL_BATCHES_IN_FLIGHT)")
	fs.StringVar(&c.MQNamesrv, "mq-namesrv", c.MQNamesrv, "RocketMQ name servers, host:port;host:port (MQ_NAMESRV)")
	fs.StringVar(&c.RebackTopic, "reback-topic", c.RebackTopic, "topic of stock-return messages (INVENTORY_REBACK_TOPIC)")
	fs.StringVar(&c.RebackGroup, "reback-group", c.RebackGroup, "consumer group of the stock-return consumer (INVENTORY_REBACK_GROUP)")
	fs.TextVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (INVENTORY_LOG_LEVEL)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "grace period for in-flight requests at shutdown (INVENTORY_SHUTDOWN_TIMEOUT)")
	fs.StringVar(&c.TracesExporter, "traces-exporter", c.TracesExporter,
		"where OpenTelemetry spans go: none (tracing off), stdout (JSON lines on standard output) or otlp (OTEL_TRACES_EXPORTER)")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", c.OTLPEndpoint,
		"OTLP/HTTP collector base URL for -traces-exporter otlp, e.g. http://localhost:4318 (OTEL_EXPORTER_OTLP_ENDPOINT)")
	fs.Usage = func() {
		fmt.Fprintf(usage, "Usage: inventory_srv [flags]\n       inventory_srv healthcheck [flags]\n\n"+
			"The database is MySQL/MariaDB, its DSN from INVENTORY_MYSQL_DSN only (it holds a password),\n"+
			"or an SQLite file from -sqlite-path / INVENTORY_SQLITE_PATH (no server needed). Give exactly one.\n\n"+
			"Tracing (OpenTelemetry, W3C trace context over HTTP and in message properties) is off by default;\n"+
			"OTEL_TRACES_EXPORTER=stdout prints spans as JSON lines, OTEL_TRACES_EXPORTER=otlp with\n"+
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 sends them to a collector.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		errs = append(errs, err)
	} else if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	return c, errors.Join(errs...)
}

// rocketMQName is what RocketMQ accepts as a topic or group name.
var rocketMQName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,127}$`)

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if err := ValidateHTTPAddr(c.HTTPAddr); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.MySQLDSN == "" && c.SQLitePath == "":
		errs = append(errs, errors.New("a database is required: set INVENTORY_MYSQL_DSN (e.g. user:password@tcp(127.0.0.1:3306)/inventory) "+
			"or INVENTORY_SQLITE_PATH (e.g. ./data/inventory.db)"))
	case c.MySQLDSN != "" && c.SQLitePath != "":
		errs = append(errs, errors.New("both INVENTORY_MYSQL_DSN and INVENTORY_SQLITE_PATH are set: set exactly one"))
	case c.SQLitePath != "":
		// Any path will do: the file (and its directory) is created if missing.
	default:
		if cfg, err := mysqldriver.ParseDSN(c.MySQLDSN); err != nil {
			errs = append(errs, fmt.Errorf("INVENTORY_MYSQL_DSN: %w", err)) // the DSN itself is not repeated: it holds a password
		} else if cfg.DBName == "" {
			errs = append(errs, errors.New("INVENTORY_MYSQL_DSN names no database (…/dbname)"))
		}
	}
	if c.MySQLMaxConns < 2 || c.MySQLMaxConns > 1000 {
		errs = append(errs, fmt.Errorf("mysql max conns must be between 2 and 1000, got %d", c.MySQLMaxConns))
	}
	if c.SellBatchesInFlight < 1 || c.SellBatchesInFlight > 64 {
		errs = append(errs, fmt.Errorf("sell batches in flight must be between 1 and 64, got %d", c.SellBatchesInFlight))
	}
	if _, err := mqclient.SplitNameServers(c.MQNamesrv); err != nil {
		errs = append(errs, fmt.Errorf("MQ_NAMESRV: %w", err))
	}
	if err := c.MQCredentials.Validate(); err != nil {
		errs = append(errs, err)
	}
	if !rocketMQName.MatchString(c.RebackTopic) {
		errs = append(errs, fmt.Errorf("reback topic %q must be 1-127 of [A-Za-z0-9_-]", c.RebackTopic))
	}
	if !rocketMQName.MatchString(c.RebackGroup) {
		errs = append(errs, fmt.Errorf("reback group %q must be 1-127 of [A-Za-z0-9_-]", c.RebackGroup))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout must be positive, got %v", c.ShutdownTimeout))
	}
	if err := tracing.ValidateEnv(c.TracesExporter, c.OTLPEndpoint); err != nil {
		errs = append(errs, err)
	}
	if err := c.Auth.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ValidateHTTPAddr checks a listen address, "host:port" with an empty host for all interfaces.
func ValidateHTTPAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("http addr %q: %w", addr, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("http addr %q: port must be 0-65535", addr)
	} else if n == 0 {
		return fmt.Errorf("http addr %q: port must not be 0 (clients and the healthcheck need to know it)", addr)
	}
	return nil
}
