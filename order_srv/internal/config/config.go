// Package config loads order_srv's configuration once, from command-line flags and environment
// variables (a flag wins over its variable, a variable over the default), and validates it,
// reporting every problem at once. The database is MySQL/MariaDB (ORDER_MYSQL_DSN) or an SQLite
// file (ORDER_SQLITE_PATH): exactly one must be given. Secrets (the MySQL DSN, AUTH_JWT_SECRET,
// PAYMENT_NOTIFY_SECRET, ORDER_OAUTH_CLIENT_SECRET) come from the environment only; without a key
// (AUTH_JWT_SECRET or AUTH_JWKS_URL) the configuration is refused unless AUTH_DISABLED=1.
// Nothing else in order_srv reads the environment. The package must not import the service's
// other packages.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/internal/tracing"
)

// Config is order_srv's configuration.
type Config struct {
	HTTPAddr         string        // ORDER_HTTP_ADDR
	MySQLDSN         string        // ORDER_MYSQL_DSN (environment only: it holds a password)
	SQLitePath       string        // ORDER_SQLITE_PATH, -sqlite-path: an SQLite file instead of MySQL
	MySQLMaxConns    int           // ORDER_MYSQL_MAX_CONNS: both pools together (sqlstore.Options.MaxOpenConns)
	Namesrv          string        // MQ_NAMESRV: host:port[;host:port…]; host names are resolved
	InventoryURL     string        // INVENTORY_URL
	InventoryTimeout time.Duration // ORDER_INVENTORY_TIMEOUT: bound of one inventory call
	PayTimeoutLevel  int           // ORDER_PAY_TIMEOUT_LEVEL: delay level of the payment timeout
	Faults           bool          // ORDER_FAULTS=1 enables the X-Fault header
	RebackTopic      string        // ORDER_REBACK_TOPIC
	TimeoutTopic     string        // ORDER_TIMEOUT_TOPIC
	TxGroup          string        // ORDER_TX_GROUP: transactional producer group
	ProducerGroup    string        // ORDER_PRODUCER_GROUP: plain producer group
	TimeoutGroup     string        // ORDER_TIMEOUT_GROUP: timeout consumer group
	ShutdownTimeout  time.Duration // ORDER_SHUTDOWN_TIMEOUT: bound of the graceful shutdown
	LogLevel         slog.Level    // ORDER_LOG_LEVEL: debug, info, warn, error
	TracesExporter   string        // OTEL_TRACES_EXPORTER: none (default), stdout or otlp
	OTLPEndpoint     string        // OTEL_EXPORTER_OTLP_ENDPOINT: collector base URL for otlp

	// Auth is AUTH_JWT_SECRET / AUTH_JWKS_URL (+ AUTH_ISSUER, AUTH_AUDIENCE) or AUTH_DISABLED=1,
	// environment only.
	Auth auth.Config
	// OAuth is the client-credentials grant order_srv uses for its service token to inventory_srv
	// when tokens come from an OIDC provider (AUTH_JWKS_URL); with AUTH_JWT_SECRET it mints them.
	OAuth OAuthClient
	// PaymentNotifySecret (PAYMENT_NOTIFY_SECRET, environment only) keys the HMAC-SHA256 of
	// POST /v1/payments/notify. Required unless AUTH_DISABLED=1 (then a random one is made).
	PaymentNotifySecret string
	PaymentSimulator    bool    // ORDER_PAYMENT_SIMULATOR=1: POST /v1/orders/{sn}/pay signs a notify
	RatePerUser         float64 // ORDER_RATE_PER_USER: orders a user may create per second; 0 = no limit
	RateBurst           int     // ORDER_RATE_BURST: orders a user may create at once
	MaxUnpaid           int     // ORDER_MAX_UNPAID: unpaid orders one user may hold; 0 = no limit
	// MQCredentials sign the broker requests (ACL): MQ_ACCESS_KEY, MQ_SECRET_KEY, environment
	// only (a secret); both or neither.
	MQCredentials mqclient.Credentials
	// The reconciler of last resort (app.Reconciler).
	ReconcileInterval time.Duration // ORDER_RECONCILE_INTERVAL: pause between sweeps; 0 turns it off
	ReconcileGrace    time.Duration // ORDER_RECONCILE_GRACE: added to an order's payment deadline
	ReconcileSellAge  time.Duration // ORDER_RECONCILE_SELL_AGE: age of a sell with no order that is settled
	ReconcileLookback time.Duration // ORDER_RECONCILE_LOOKBACK: how far back sells are compared
}

// OAuthClient is an OAuth2 client-credentials client (ORDER_OAUTH_*; the secret from the
// environment only).
type OAuthClient struct {
	TokenURL     string // ORDER_OAUTH_TOKEN_URL
	ClientID     string // ORDER_OAUTH_CLIENT_ID
	ClientSecret string // ORDER_OAUTH_CLIENT_SECRET
	Scopes       string // ORDER_OAUTH_SCOPES, space-separated (default "service")
}

// MinNotifySecretBytes is the shortest PAYMENT_NOTIFY_SECRET accepted.
const MinNotifySecretBytes = 32

// maxDelayLevel is the highest delay level of RocketMQ's default table (18 = 2h).
const maxDelayLevel = 18

// Default returns the defaults, all in one literal.
func Default() Config {
	return Config{
		HTTPAddr:         ":8081",
		MySQLMaxConns:    32,
		Namesrv:          "127.0.0.1:9876",
		InventoryURL:     "http://127.0.0.1:8082",
		InventoryTimeout: 5 * time.Second,
		PayTimeoutLevel:  16, // 30 minutes in the default delay-level table
		RebackTopic:      "order_reback",
		TimeoutTopic:     "order_timeout",
		TxGroup:          "order_srv_tx",
		ProducerGroup:    "order_srv",
		TimeoutGroup:     "order_srv_timeout",
		ShutdownTimeout:  15 * time.Second,
		LogLevel:         slog.LevelInfo,
		RatePerUser:      5,
		RateBurst:        10,
		MaxUnpaid:        20,
		OAuth:            OAuthClient{Scopes: auth.ScopeService},

		ReconcileInterval: time.Minute,
		ReconcileGrace:    5 * time.Minute,
		ReconcileSellAge:  20 * time.Minute, // > saga timeout + the broker's check budget (6 s + 15 × 1 min)
		ReconcileLookback: 24 * time.Hour,
	}
}

// Load reads the configuration from args (flags, without the program name) and getenv, on top
// of Default, and validates it. Every problem is reported in one error.
func Load(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	c := Default()
	var problems []error
	fs := flag.NewFlagSet("order_srv", flag.ContinueOnError)
	fs.SetOutput(usage)

	str := func(p *string, name, env, help string) {
		if v := getenv(env); v != "" {
			*p = v
		}
		fs.StringVar(p, name, *p, help+" (env "+env+")")
	}
	num := func(p *int, name, env, help string) {
		if v := getenv(env); v != "" {
			if n, err := strconv.Atoi(v); err != nil {
				problems = append(problems, fmt.Errorf("%s: %q is not an integer", env, v))
			} else {
				*p = n
			}
		}
		fs.IntVar(p, name, *p, help+" (env "+env+")")
	}
	dur := func(p *time.Duration, name, env, help string) {
		if v := getenv(env); v != "" {
			if d, err := time.ParseDuration(v); err != nil {
				problems = append(problems, fmt.Errorf("%s: %q is not a duration (e.g. 5s)", env, v))
			} else {
				*p = d
			}
		}
		fs.DurationVar(p, name, *p, help+" (env "+env+")")
	}

	str(&c.HTTPAddr, "http-addr", "ORDER_HTTP_ADDR", "HTTP listen address")
	c.MySQLDSN = getenv("ORDER_MYSQL_DSN") // a secret (it holds the password): environment only
	str(&c.SQLitePath, "sqlite-path", "ORDER_SQLITE_PATH", "SQLite database file, created if missing, instead of MySQL")
	num(&c.MySQLMaxConns, "mysql-max-conns", "ORDER_MYSQL_MAX_CONNS", "MySQL connections at most, both pools together (half for the local transaction)")
	str(&c.Namesrv, "namesrv", "MQ_NAMESRV", "RocketMQ name servers, host:port[;host:port]")
	c.MQCredentials = mqclient.CredentialsFromEnv(getenv) // a secret: environment only
	str(&c.InventoryURL, "inventory-url", "INVENTORY_URL", "inventory_srv base URL")
	dur(&c.InventoryTimeout, "inventory-timeout", "ORDER_INVENTORY_TIMEOUT", "bound of one inventory call")
	num(&c.PayTimeoutLevel, "pay-timeout-level", "ORDER_PAY_TIMEOUT_LEVEL", "delay level of the payment timeout message (16 = 30m)")
	str(&c.RebackTopic, "reback-topic", "ORDER_REBACK_TOPIC", "topic of the stock reback half messages")
	str(&c.TimeoutTopic, "timeout-topic", "ORDER_TIMEOUT_TOPIC", "topic of the payment timeout messages")
	str(&c.TxGroup, "tx-group", "ORDER_TX_GROUP", "transactional producer group")
	str(&c.ProducerGroup, "producer-group", "ORDER_PRODUCER_GROUP", "plain producer group")
	str(&c.TimeoutGroup, "timeout-group", "ORDER_TIMEOUT_GROUP", "timeout consumer group")
	dur(&c.ShutdownTimeout, "shutdown-timeout", "ORDER_SHUTDOWN_TIMEOUT", "bound of the graceful shutdown")
	str(&c.TracesExporter, "traces-exporter", "OTEL_TRACES_EXPORTER",
		"where OpenTelemetry spans go: none (tracing off), stdout (JSON lines on standard output) or otlp")
	str(&c.OTLPEndpoint, "otlp-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTLP/HTTP collector base URL for -traces-exporter otlp, e.g. http://localhost:4318 (spans go to its /v1/traces)")
	num(&c.RateBurst, "rate-burst", "ORDER_RATE_BURST", "orders a user may create at once (token bucket size)")
	num(&c.MaxUnpaid, "max-unpaid", "ORDER_MAX_UNPAID", "unpaid orders one user may hold; 0 = no limit")
	if v := getenv("ORDER_RATE_PER_USER"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err != nil {
			problems = append(problems, fmt.Errorf("ORDER_RATE_PER_USER: %q is not a number", v))
		} else {
			c.RatePerUser = f
		}
	}
	fs.Float64Var(&c.RatePerUser, "rate-per-user", c.RatePerUser, "orders a user may create per second; 0 = no limit (env ORDER_RATE_PER_USER)")
	// Secrets: environment only.
	if a, err := auth.FromEnv(getenv); err != nil {
		problems = append(problems, err)
	} else {
		c.Auth = a
	}
	c.PaymentNotifySecret = getenv("PAYMENT_NOTIFY_SECRET")
	c.OAuth.TokenURL = getenv("ORDER_OAUTH_TOKEN_URL")
	c.OAuth.ClientID = getenv("ORDER_OAUTH_CLIENT_ID")
	c.OAuth.ClientSecret = getenv("ORDER_OAUTH_CLIENT_SECRET")
	if v := getenv("ORDER_OAUTH_SCOPES"); v != "" {
		c.OAuth.Scopes = v
	}
	simulator := getenv("ORDER_PAYMENT_SIMULATOR")
	fs.StringVar(&simulator, "payment-simulator", simulator, "1 makes POST /v1/orders/{sn}/pay a payment simulator (env ORDER_PAYMENT_SIMULATOR)")
	dur(&c.ReconcileInterval, "reconcile-interval", "ORDER_RECONCILE_INTERVAL", "pause between sweeps of the reconciler of last resort (0: off)")
	dur(&c.ReconcileGrace, "reconcile-grace", "ORDER_RECONCILE_GRACE", "the reconciler closes unpaid orders this long after their payment deadline")
	dur(&c.ReconcileSellAge, "reconcile-sell-age", "ORDER_RECONCILE_SELL_AGE",
		"the reconciler settles sells with no order older than this (must exceed the saga timeout plus the broker's check-back budget)")
	dur(&c.ReconcileLookback, "reconcile-lookback", "ORDER_RECONCILE_LOOKBACK", "how far back the reconciler compares inventory's sells with the orders")
	faults := getenv("ORDER_FAULTS")
	fs.StringVar(&faults, "faults", faults, "1 enables fault injection by the X-Fault header (env ORDER_FAULTS)")
	level := getenv("ORDER_LOG_LEVEL")
	fs.StringVar(&level, "log-level", level, "debug, info, warn or error (env ORDER_LOG_LEVEL)")

	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: order_srv [flags]\n       order_srv healthcheck [-http-addr host:port]\n\n"+
			"The database is MySQL/MariaDB, its DSN from ORDER_MYSQL_DSN only (it holds a password),\n"+
			"or an SQLite file from -sqlite-path / ORDER_SQLITE_PATH (no server needed). Give exactly one.\n\n"+
			"Tracing (OpenTelemetry, W3C trace context over HTTP and in message properties) is off by default;\n"+
			"OTEL_TRACES_EXPORTER=stdout prints spans as JSON lines, OTEL_TRACES_EXPORTER=otlp with\n"+
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 sends them to a collector.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err // the flag package already printed the problem and the usage
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	switch strings.ToLower(faults) {
	case "", "0", "false":
	case "1", "true":
		c.Faults = true
	default:
		problems = append(problems, fmt.Errorf("ORDER_FAULTS: %q is neither 0 nor 1", faults))
	}
	switch strings.ToLower(simulator) {
	case "", "0", "false":
	case "1", "true":
		c.PaymentSimulator = true
	default:
		problems = append(problems, fmt.Errorf("ORDER_PAYMENT_SIMULATOR: %q is neither 0 nor 1", simulator))
	}
	if level != "" {
		if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
			problems = append(problems, fmt.Errorf("ORDER_LOG_LEVEL: %q is not debug, info, warn or error", level))
		}
	}
	if err := errors.Join(append(problems, c.Validate())...); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		add("ORDER_HTTP_ADDR: %q is not host:port", c.HTTPAddr)
	}
	switch mysql, sqlite := strings.TrimSpace(c.MySQLDSN) != "", strings.TrimSpace(c.SQLitePath) != ""; {
	case !mysql && !sqlite:
		add("a database is required: set ORDER_MYSQL_DSN (e.g. user:pw@tcp(127.0.0.1:3306)/shop_order) " +
			"or ORDER_SQLITE_PATH (e.g. ./data/order.db)")
	case mysql && sqlite:
		add("both ORDER_MYSQL_DSN and ORDER_SQLITE_PATH are set: set exactly one")
	}
	if c.MySQLMaxConns < 1 {
		add("ORDER_MYSQL_MAX_CONNS: %d is below 1", c.MySQLMaxConns)
	}
	if _, err := mqclient.SplitNameServers(c.Namesrv); err != nil {
		errs = append(errs, fmt.Errorf("MQ_NAMESRV: %w", err))
	}
	if err := c.MQCredentials.Validate(); err != nil {
		errs = append(errs, err)
	}
	if u, err := url.Parse(c.InventoryURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("INVENTORY_URL: %q is not an http(s) URL", c.InventoryURL)
	}
	if c.InventoryTimeout <= 0 {
		add("ORDER_INVENTORY_TIMEOUT must be positive")
	}
	if c.PayTimeoutLevel < 1 || c.PayTimeoutLevel > maxDelayLevel {
		add("ORDER_PAY_TIMEOUT_LEVEL: %d is not a delay level 1..%d", c.PayTimeoutLevel, maxDelayLevel)
	}
	for env, v := range map[string]string{
		"ORDER_REBACK_TOPIC": c.RebackTopic, "ORDER_TIMEOUT_TOPIC": c.TimeoutTopic, "ORDER_TX_GROUP": c.TxGroup,
		"ORDER_PRODUCER_GROUP": c.ProducerGroup, "ORDER_TIMEOUT_GROUP": c.TimeoutGroup,
	} {
		if strings.TrimSpace(v) == "" {
			add("%s is empty", env)
		}
	}
	if c.RebackTopic == c.TimeoutTopic {
		add("ORDER_REBACK_TOPIC and ORDER_TIMEOUT_TOPIC must differ")
	}
	if c.TxGroup == c.ProducerGroup {
		add("ORDER_TX_GROUP and ORDER_PRODUCER_GROUP must differ (check-backs go to the transactional group)")
	}
	if c.ShutdownTimeout <= 0 {
		add("ORDER_SHUTDOWN_TIMEOUT must be positive")
	}
	if c.ReconcileInterval < 0 {
		add("ORDER_RECONCILE_INTERVAL must not be negative (0 turns the reconciler off)")
	}
	for env, d := range map[string]time.Duration{
		"ORDER_RECONCILE_GRACE": c.ReconcileGrace, "ORDER_RECONCILE_SELL_AGE": c.ReconcileSellAge, "ORDER_RECONCILE_LOOKBACK": c.ReconcileLookback,
	} {
		if d <= 0 {
			add("%s must be positive", env)
		}
	}
	if err := tracing.ValidateEnv(c.TracesExporter, c.OTLPEndpoint); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.validateSecurity()...)
	return errors.Join(errs...)
}

// validateSecurity checks authentication, the inventory credentials, the notify secret and the
// limits.
func (c Config) validateSecurity() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := c.Auth.Validate(); err != nil {
		errs = append(errs, err)
	}
	oauth := c.OAuth.TokenURL != "" || c.OAuth.ClientID != "" || c.OAuth.ClientSecret != ""
	switch {
	case oauth && (c.OAuth.TokenURL == "" || c.OAuth.ClientID == "" || c.OAuth.ClientSecret == ""):
		add("ORDER_OAUTH_TOKEN_URL, ORDER_OAUTH_CLIENT_ID and ORDER_OAUTH_CLIENT_SECRET go together: set all three")
	case oauth:
		if u, err := url.Parse(c.OAuth.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("ORDER_OAUTH_TOKEN_URL: %q is not an http(s) URL", c.OAuth.TokenURL)
		}
	case c.Auth.JWKSURL != "":
		add("with AUTH_JWKS_URL, order_srv needs a client to call inventory_srv: set ORDER_OAUTH_TOKEN_URL, " +
			"ORDER_OAUTH_CLIENT_ID and ORDER_OAUTH_CLIENT_SECRET (OAuth2 client credentials)")
	}
	switch {
	case c.PaymentNotifySecret == "" && !c.Auth.Disabled:
		add("PAYMENT_NOTIFY_SECRET is required (at least %d bytes): it signs the payment provider's notify", MinNotifySecretBytes)
	case c.PaymentNotifySecret != "" && len(c.PaymentNotifySecret) < MinNotifySecretBytes:
		add("PAYMENT_NOTIFY_SECRET is %d bytes; at least %d are required", len(c.PaymentNotifySecret), MinNotifySecretBytes)
	}
	if c.RatePerUser < 0 {
		add("ORDER_RATE_PER_USER must not be negative")
	}
	if c.RatePerUser > 0 && c.RateBurst < 1 {
		add("ORDER_RATE_BURST must be at least 1")
	}
	if c.MaxUnpaid < 0 {
		add("ORDER_MAX_UNPAID must not be negative")
	}
	return errs
}
