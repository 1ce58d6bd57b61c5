// Command mqbroker is a RocketMQ-wire-compatible name server and broker in
// one process: the official rocketmq-client-go (and Java clients) produce
// and consume against it unchanged. See README.md ("Running the broker")
// and ARCHITECTURE.md ("Inside mqbroker").
//
//	mqbroker [flags]            serve (every flag has an MQ_* environment twin)
//	mqbroker healthcheck        exit 0 if the name server answers a route lookup
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
	"github.com/shopsaga/shopsaga/mqbroker/internal/healthcheck"
	"github.com/shopsaga/shopsaga/mqbroker/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mqbroker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheckCmd(ctx, args[1:], getenv, stderr)
	}
	cfg, logLevel, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: logLevel}))
	b, err := broker.Open(cfg)
	if err != nil {
		return err
	}
	return b.Run(ctx)
}

// loadConfig reads flags, each defaulting to its MQ_* environment variable.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (broker.Config, slog.Level, error) {
	cfg := broker.DefaultConfig()
	fs := flag.NewFlagSet("mqbroker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	namesrv := fs.String("namesrv-addr", env("MQ_NAMESRV_ADDR", cfg.NamesrvAddr), "name server listen address (MQ_NAMESRV_ADDR)")
	brokerAddr := fs.String("broker-addr", env("MQ_BROKER_ADDR", cfg.BrokerAddr), "broker listen address (MQ_BROKER_ADDR)")
	advertise := fs.String("advertise-addr", env("MQ_ADVERTISE_ADDR", "auto"), "broker address given to clients: host:port, or auto = listen IP or first non-loopback IPv4 (MQ_ADVERTISE_ADDR)")
	admin := fs.String("admin-addr", env("MQ_ADMIN_ADDR", "127.0.0.1:8080"), "HTTP admin API address (console, /api, /metrics), empty to disable; loopback by default (MQ_ADMIN_ADDR)")
	adminToken := fs.String("admin-token", getenv("MQ_ADMIN_TOKEN"), "bearer token the admin HTTP API requires, empty: none; prefer the environment variable, flags show in ps (MQ_ADMIN_TOKEN)")
	insecureDefault, _ := strconv.ParseBool(env("MQ_INSECURE_ADMIN", "false"))
	insecureAdmin := fs.Bool("insecure-admin", insecureDefault, "allow ACL on with the admin HTTP API on a non-loopback address and no admin-token (refused otherwise; logged loudly) (MQ_INSECURE_ADMIN=true)")
	aclFile := fs.String("acl-file", getenv("MQ_ACL_FILE"), "plain_acl.yml-style ACL file, reloaded when it changes; empty: ACL off (MQ_ACL_FILE)")
	maxInflight := fs.String("max-inflight-per-conn", env("MQ_MAX_INFLIGHT_PER_CONN", strconv.Itoa(cfg.MaxInflightPerConn)), "requests served at once per connection (MQ_MAX_INFLIGHT_PER_CONN)")
	maxInflightTotal := fs.String("max-inflight", env("MQ_MAX_INFLIGHT", strconv.Itoa(cfg.MaxInflightTotal)), "requests served at once over all connections of a listener (MQ_MAX_INFLIGHT)")
	maxBytes := fs.String("max-inflight-bytes-per-conn", env("MQ_MAX_INFLIGHT_BYTES_PER_CONN", strconv.FormatInt(cfg.MaxInflightBytesPerConn, 10)), "bytes of frames being read or served per connection (MQ_MAX_INFLIGHT_BYTES_PER_CONN)")
	maxBytesTotal := fs.String("max-inflight-bytes", env("MQ_MAX_INFLIGHT_BYTES", strconv.FormatInt(cfg.MaxInflightBytesTotal, 10)), "bytes of frames being read or served over all connections of a listener (MQ_MAX_INFLIGHT_BYTES)")
	connsPerIP := fs.String("max-conns-per-ip", env("MQ_MAX_CONNS_PER_IP", strconv.Itoa(cfg.MaxConnsPerIP)), "connections of one peer IP per listener; more are closed at once (MQ_MAX_CONNS_PER_IP)")
	inflightPerIP := fs.String("max-inflight-per-ip", env("MQ_MAX_INFLIGHT_PER_IP", "0"), "requests served at once for all connections of one peer IP; 0: a quarter of --max-inflight (MQ_MAX_INFLIGHT_PER_IP)")
	bytesPerIP := fs.String("max-inflight-bytes-per-ip", env("MQ_MAX_INFLIGHT_BYTES_PER_IP", "0"), "bytes of frames being read or served for all connections of one peer IP; 0: a quarter of --max-inflight-bytes (MQ_MAX_INFLIGHT_BYTES_PER_IP)")
	smallReserve := fs.String("small-frame-reserve", env("MQ_SMALL_FRAME_RESERVE", "0"), "bytes of --max-inflight-bytes only frames ≤ 64 KiB (heartbeats, offset commits, pulls) may use; 0: a sixteenth, -1: none (MQ_SMALL_FRAME_RESERVE)")
	idle := fs.String("conn-idle-timeout", env("MQ_CONN_IDLE_TIMEOUT", cfg.ConnIdleTimeout.String()), "close a connection silent this long with nothing in flight (MQ_CONN_IDLE_TIMEOUT)")
	frameTimeout := fs.String("frame-read-timeout", env("MQ_FRAME_READ_TIMEOUT", cfg.FrameReadTimeout.String()), "close a connection whose begun frame has not arrived in this time (MQ_FRAME_READ_TIMEOUT)")
	timeline := fs.String("order-timeline-url", env("MQ_ORDER_TIMELINE_URL", "http://localhost:8081/v1/orders/{key}/timeline/page"),
		"console link from a message key to its order timeline, {key} = the key; empty: no link (MQ_ORDER_TIMELINE_URL)")
	dataDir := fs.String("data-dir", env("MQ_DATA_DIR", cfg.DataDir), "data directory (MQ_DATA_DIR)")
	flush := fs.String("flush", env("MQ_FLUSH", "async"), "flush mode: async or sync (group commit) (MQ_FLUSH)")
	queues := fs.String("default-queues", env("MQ_DEFAULT_QUEUES", strconv.Itoa(cfg.DefaultQueues)), "queues of an auto-created topic (MQ_DEFAULT_QUEUES)")
	maxSize := fs.String("max-message-size", env("MQ_MAX_MESSAGE_SIZE", strconv.Itoa(cfg.MaxMessageSize)), "max message body in bytes (MQ_MAX_MESSAGE_SIZE)")
	levels := fs.String("delay-levels", env("MQ_DELAY_LEVELS", delay.DefaultLevels), "delay levels 1..N (MQ_DELAY_LEVELS)")
	txTimeout := fs.String("tx-timeout", env("MQ_TX_TIMEOUT", cfg.TxTimeout.String()), "age before an undecided half message is checked back (MQ_TX_TIMEOUT)")
	txInterval := fs.String("tx-check-interval", env("MQ_TX_CHECK_INTERVAL", cfg.TxCheckInterval.String()), "pause between check-backs of one half message (MQ_TX_CHECK_INTERVAL)")
	relay := fs.String("relay-timeout", env("MQ_RELAY_TIMEOUT", cfg.RelayTimeout.String()),
		"how long an admin request relayed to a client (consumer status, consume directly) waits for its answer (MQ_RELAY_TIMEOUT)")
	txMax := fs.String("tx-check-max", env("MQ_TX_CHECK_MAX", strconv.Itoa(cfg.TxCheckMax)), "check-backs before a half message is discarded (MQ_TX_CHECK_MAX)")
	topics := fs.String("topics", env("MQ_TOPICS", ""), "topics to create at start if absent, comma-separated (MQ_TOPICS)")
	retention := fs.String("retention", env("MQ_RETENTION", "72h"), "delete commit-log segments whose newest message is older than this; 0 keeps everything (MQ_RETENTION)")
	maxDisk := fs.String("max-disk-usage", env("MQ_MAX_DISK_USAGE", strconv.Itoa(cfg.MaxDiskUsage)),
		"percent of the data dir's file system above which the oldest segments are deleted; 0 disables; sends are refused above 95 (MQ_MAX_DISK_USAGE)")
	segSize := fs.String("segment-size", env("MQ_SEGMENT_SIZE", ""), "commit-log segment size in bytes (default 256 MiB, at least 4 x max-message-size) (MQ_SEGMENT_SIZE)")
	repairDefault, _ := strconv.ParseBool(env("MQ_REPAIR", "false"))
	repair := fs.Bool("repair", repairDefault, "skip a damaged commit-log record that valid records follow, logging what was lost, instead of refusing to start (MQ_REPAIR=true)")
	logLevel := fs.String("log-level", env("MQ_LOG_LEVEL", "info"), "debug, info, warn or error (MQ_LOG_LEVEL)")
	propFilter := fs.String("enable-property-filter", env("MQ_ENABLE_PROPERTY_FILTER", strconv.FormatBool(cfg.EnablePropertyFilter)),
		"serve SQL92 (property) subscriptions: true or false (MQ_ENABLE_PROPERTY_FILTER)")
	if err := fs.Parse(args); err != nil {
		return cfg, 0, err
	}
	if fs.NArg() > 0 {
		return cfg, 0, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var errs []error
	cfg.NamesrvAddr, cfg.BrokerAddr, cfg.AdminAddr, cfg.DataDir = *namesrv, *brokerAddr, *admin, *dataDir
	cfg.OrderTimelineURL = *timeline
	cfg.AdminToken, cfg.ACLFile, cfg.ACLGetenv = *adminToken, *aclFile, getenv
	cfg.InsecureAdmin = *insecureAdmin
	if *advertise != "auto" {
		cfg.AdvertiseAddr = *advertise
	}
	if fm, err := store.ParseFlushMode(*flush); err != nil {
		errs = append(errs, fmt.Errorf("flush: %w", err))
	} else {
		cfg.Flush = fm
	}
	// A value that does not parse keeps its default, so that Validate
	// still checks (and reports) every other field.
	atoi := func(name, v string, def int) int {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: not a whole number", name, v))
			return def
		}
		return n
	}
	dur := func(name, v string, def time.Duration) time.Duration {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: not a duration (e.g. 6s, 1m)", name, v))
			return def
		}
		return d
	}
	cfg.DefaultQueues = atoi("default-queues", *queues, cfg.DefaultQueues)
	for _, t := range strings.Split(*topics, ",") {
		if t = strings.TrimSpace(t); t != "" {
			cfg.Topics = append(cfg.Topics, t)
		}
	}
	cfg.MaxMessageSize = atoi("max-message-size", *maxSize, cfg.MaxMessageSize)
	if v := strings.TrimSpace(*segSize); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("segment-size %q: not a positive whole number of bytes", v))
		} else {
			cfg.SegmentSize = n // Validate checks it against max-message-size
		}
	} else {
		cfg.SegmentSize = max(cfg.SegmentSize, int64(cfg.MaxMessageSize)*4)
	}
	cfg.Retention = dur("retention", *retention, cfg.Retention)
	cfg.MaxDiskUsage = atoi("max-disk-usage", *maxDisk, cfg.MaxDiskUsage)
	cfg.Repair = *repair
	cfg.TxTimeout = dur("tx-timeout", *txTimeout, cfg.TxTimeout)
	cfg.TxCheckInterval = dur("tx-check-interval", *txInterval, cfg.TxCheckInterval)
	cfg.TxCheckMax = atoi("tx-check-max", *txMax, cfg.TxCheckMax)
	cfg.RelayTimeout = dur("relay-timeout", *relay, cfg.RelayTimeout)
	cfg.MaxInflightPerConn = atoi("max-inflight-per-conn", *maxInflight, cfg.MaxInflightPerConn)
	cfg.MaxInflightTotal = atoi("max-inflight", *maxInflightTotal, cfg.MaxInflightTotal)
	cfg.MaxInflightBytesPerConn = int64(atoi("max-inflight-bytes-per-conn", *maxBytes, int(cfg.MaxInflightBytesPerConn)))
	cfg.MaxInflightBytesTotal = int64(atoi("max-inflight-bytes", *maxBytesTotal, int(cfg.MaxInflightBytesTotal)))
	cfg.ConnIdleTimeout = dur("conn-idle-timeout", *idle, cfg.ConnIdleTimeout)
	cfg.MaxConnsPerIP = atoi("max-conns-per-ip", *connsPerIP, cfg.MaxConnsPerIP)
	cfg.MaxInflightPerIP = atoi("max-inflight-per-ip", *inflightPerIP, cfg.MaxInflightPerIP)
	cfg.MaxInflightBytesPerIP = int64(atoi("max-inflight-bytes-per-ip", *bytesPerIP, int(cfg.MaxInflightBytesPerIP)))
	cfg.SmallFrameReserve = int64(atoi("small-frame-reserve", *smallReserve, int(cfg.SmallFrameReserve)))
	cfg.FrameReadTimeout = dur("frame-read-timeout", *frameTimeout, cfg.FrameReadTimeout)
	if lv, err := delay.ParseLevels(*levels); err != nil {
		errs = append(errs, err)
	} else {
		cfg.DelayLevels = lv
	}
	if v, err := strconv.ParseBool(strings.TrimSpace(*propFilter)); err != nil {
		errs = append(errs, fmt.Errorf("enable-property-filter %q: want true or false", *propFilter))
	} else {
		cfg.EnablePropertyFilter = v
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log-level %q: want debug, info, warn or error", *logLevel))
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, 0, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, lvl, nil
}

func healthcheckCmd(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("mqbroker healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("namesrv-addr", getenv("MQ_NAMESRV_ADDR"), "name server to ask (default 127.0.0.1:9876)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	target := *addr
	switch {
	case target == "":
		target = "127.0.0.1:9876"
	case strings.HasPrefix(target, ":"):
		target = "127.0.0.1" + target
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return healthcheck.Probe(ctx, target)
}
