// Command inventory_srv is the stock side of the shopsaga saga: goods, stock deduction for
// orders (POST /v1/stock/sell) and stock return, over HTTP and as a consumer of the order
// service's order_reback messages. It keeps its data in MySQL/MariaDB (INVENTORY_MYSQL_DSN) or in
// an SQLite file (INVENTORY_SQLITE_PATH, no server needed) and migrates the schema at start-up.
//
//	inventory_srv [flags]              serve (see -h)
//	inventory_srv healthcheck [flags]  exit 0 if the local server answers /healthz, else 1
//
// The healthcheck sub-command exists because the container image has no shell and no curl.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"golang.org/x/sync/errgroup"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/internal/health"
	"github.com/shopsaga/shopsaga/internal/httpmetrics"
	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/internal/tracing"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/config"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/httpapi"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/metrics"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/reback"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/sqlstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "inventory_srv:", err)
		stop()
		os.Exit(1)
	}
}

// run is the composition root: config → logger → database → use cases → HTTP API and reback
// consumer, until ctx ends. args excludes the program name.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx, args[1:], getenv, stdout)
	}
	cfg, err := config.Load(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err := errors.Join(err, cfg.Validate()); err != nil {
		return fmt.Errorf("config:\n%w", err)
	}

	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	mqclient.Setup(log)
	traceCfg := tracing.Config{Exporter: cfg.TracesExporter, Endpoint: cfg.OTLPEndpoint, ServiceName: "inventory_srv", Writer: stdout}
	tp, stopTracing, err := tracing.Setup(ctx, traceCfg)
	if err != nil {
		return err
	}
	// Deferred first, so it runs last: it flushes the spans of everything shut down before.
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := stopTracing(sctx); err != nil {
			log.Warn("tracing shutdown", "err", err)
		}
	}()
	// Off (the default): no middleware, no propagation, a no-op tracer.
	var prop propagation.TextMapPropagator
	if traceCfg.Enabled() {
		prop = tracing.Propagator()
	}

	store, err := sqlstore.Open(ctx, sqlstore.Options{
		MySQLDSN: cfg.MySQLDSN, SQLitePath: cfg.SQLitePath,
		MaxOpenConns: cfg.MySQLMaxConns, Logger: log, LogSQL: cfg.LogLevel <= slog.LevelDebug,
	})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Migrate(ctx, log); err != nil {
		return err
	}
	reg := prometheus.NewRegistry() // this process's metrics, served at /metrics
	met, err := metrics.New(reg)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	malformed, err := metrics.NewMalformed(reg, cfg.RebackTopic)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	svc := inventory.NewService(store, log, inventory.WithMetrics(met), inventory.WithSellBatchesInFlight(cfg.SellBatchesInFlight))

	verifier, err := auth.NewVerifier(ctx, cfg.Auth)
	if err != nil {
		return err
	}
	if w := cfg.Auth.Warning(); w != "" {
		log.Warn(w)
	}
	apiOpts := []httpapi.Option{httpapi.WithRequestObserver(met), httpapi.WithMetrics(httpmetrics.Handler(reg)),
		httpapi.WithAuth(verifier, cfg.Auth.Warning())}
	if traceCfg.Enabled() {
		apiOpts = append(apiOpts, httpapi.WithTracing(tp, prop))
	}
	readiness := []httpapi.Check{
		{Name: "database", Func: store.Ping},
		{Name: "broker", Func: func(ctx context.Context) error { return mqclient.Reachable(ctx, cfg.MQNamesrv) }},
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           httpapi.Router(svc, readiness, log, apiOpts...),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	consumer := reback.New(reback.Config{
		NameServers: cfg.MQNamesrv, Topic: cfg.RebackTopic, Group: cfg.RebackGroup,
		Tracer: tp.Tracer("github.com/shopsaga/shopsaga/inventory_srv"), Propagator: prop,
		Credentials: cfg.MQCredentials,
		OnMalformed: func() { malformed.Inc(cfg.RebackTopic) },
	}, svc, log)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		log.Info("inventory_srv listening", "addr", ln.Addr().String(), "mq_namesrv", cfg.MQNamesrv,
			"reback_topic", cfg.RebackTopic, "reback_group", cfg.RebackGroup)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error { return consumer.Run(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down", "grace", cfg.ShutdownTimeout)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), cfg.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("http shutdown: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("inventory_srv stopped")
	return nil
}

// healthcheck asks the server configured by args and the environment for /healthz on the
// loopback interface and fails unless it answers 200.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(args, getenv, stdout)
	if err := errors.Join(err, config.ValidateHTTPAddr(cfg.HTTPAddr)); err != nil {
		return fmt.Errorf("healthcheck config:\n%w", err)
	}
	url, err := health.LocalURL(cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	if err := health.Probe(ctx, url); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
