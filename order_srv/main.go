// Command order_srv is shopsaga's order service and the saga's coordinator: carts, orders and
// payments over HTTP/JSON, stock through inventory_srv, consistency through RocketMQ
// transactional (half) and delayed messages. See internal/app for the saga. Its data lives in
// MySQL/MariaDB (ORDER_MYSQL_DSN) or in an SQLite file (ORDER_SQLITE_PATH, no server needed); the
// schema is migrated at start-up.
//
//	order_srv [flags]        serve (configuration from flags and ORDER_*/MQ_NAMESRV/INVENTORY_URL/OTEL_*;
//	                         secrets AUTH_*, PAYMENT_NOTIFY_SECRET, ORDER_OAUTH_CLIENT_SECRET from the environment)
//	order_srv healthcheck    exit 0 if the local server answers /healthz (for FROM-scratch images)
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/errgroup"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/internal/health"
	"github.com/shopsaga/shopsaga/internal/httpmetrics"
	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/internal/tracing"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/config"
	"github.com/shopsaga/shopsaga/order_srv/internal/httpapi"
	"github.com/shopsaga/shopsaga/order_srv/internal/inventory"
	"github.com/shopsaga/shopsaga/order_srv/internal/metrics"
	"github.com/shopsaga/shopsaga/order_srv/internal/mq"
	"github.com/shopsaga/shopsaga/order_srv/internal/sqlstore"
)

// exitCrash is the exit status of an injected crash (ORDER_FAULTS=1, X-Fault: crash-…).
const exitCrash = 3

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "order_srv:", err)
		os.Exit(1)
	}
}

// run is the composition root: config → logger → database → adapters → use cases → transport.
// It returns when ctx ends (after a graceful shutdown) or something fails.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx, args[1:], getenv, stdout)
	}
	cfg, err := config.Load(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h: the usage was printed
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	mq.ConfigureClient(log)
	traceCfg := tracing.Config{Exporter: cfg.TracesExporter, Endpoint: cfg.OTLPEndpoint, ServiceName: "order_srv", Writer: stdout}
	tp, stopTracing, err := tracing.Setup(ctx, traceCfg)
	if err != nil {
		return err
	}
	// Deferred first, so it runs last: it flushes the spans of everything shut down before.
	defer shutdown(log, "tracing", func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return stopTracing(sctx)
	})
	// Off (the default): no middleware, no propagation, a no-op tracer.
	var prop propagation.TextMapPropagator
	var invOpts []inventory.Option
	var apiTracer trace.TracerProvider
	if traceCfg.Enabled() {
		prop = tracing.Propagator()
		invOpts = append(invOpts, inventory.WithTracing(tp, prop))
		apiTracer = tp
	}
	reg := prometheus.NewRegistry() // this process's metrics, served at /metrics
	met, err := metrics.New(reg)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	heal, err := metrics.NewHeal(reg, cfg.TimeoutTopic)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}

	namesrv, err := mqclient.ResolveNameServers(ctx, cfg.Namesrv)
	if err != nil {
		return err
	}
	store, err := sqlstore.Open(ctx, sqlstore.Options{
		MySQLDSN: cfg.MySQLDSN, SQLitePath: cfg.SQLitePath, MaxOpenConns: cfg.MySQLMaxConns, Logger: log,
	})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := metrics.RegisterDroppedSteps(reg, store.DroppedSteps); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if err := store.Migrate(ctx, log); err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(ctx, cfg.Auth)
	if err != nil {
		return err
	}
	if w := cfg.Auth.Warning(); w != "" {
		log.Warn(w)
	}
	if cfg.Faults {
		// X-Fault is honoured for tokens of the admin scope (demos and tests): say so loudly.
		log.Warn("fault injection is on (ORDER_FAULTS=1): any token of the admin scope can make order_srv fail a local transaction or exit with the X-Fault header (others get 403); demos and tests only")
	}
	if ts, err := serviceTokens(ctx, cfg); err != nil {
		return err
	} else if ts != nil {
		invOpts = append(invOpts, inventory.WithToken(ts))
	}
	notifySecret := cfg.PaymentNotifySecret
	if notifySecret == "" { // AUTH_DISABLED=1 only (Validate): the simulator still signs
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		notifySecret = hex.EncodeToString(b)
		log.Warn("PAYMENT_NOTIFY_SECRET is not set: a random one is used, only the payment simulator can pay")
	}
	limits, err := app.NewLimits(app.LimitOptions{RatePerUser: cfg.RatePerUser, Burst: cfg.RateBurst, MaxUnpaid: cfg.MaxUnpaid}, store)
	if err != nil {
		return err
	}
	inv, err := inventory.New(cfg.InventoryURL, cfg.InventoryTimeout, invOpts...)
	if err != nil {
		return err
	}
	defer inv.Close()

	mqCfg := mq.Config{
		Namesrv:         namesrv,
		RebackTopic:     cfg.RebackTopic,
		TimeoutTopic:    cfg.TimeoutTopic,
		TxGroup:         cfg.TxGroup,
		ProducerGroup:   cfg.ProducerGroup,
		TimeoutGroup:    cfg.TimeoutGroup,
		PayTimeoutLevel: cfg.PayTimeoutLevel,
		Log:             log,
		Propagator:      prop,
		Credentials:     cfg.MQCredentials,
	}
	halves, err := mq.NewTxPublisher(mqCfg)
	if err != nil {
		return err
	}
	timeouts, err := mq.NewProducer(mqCfg)
	if err != nil {
		return err
	}
	svc, err := app.New(app.Deps{
		Orders:      store,
		Carts:       store,
		Saga:        store,
		Idempotency: store,
		Stock:       inv,
		Goods:       inv,
		Halves:      halves,
		Timeouts:    timeouts,
		Timeline:    store,
		Payments:    store,
		Owners:      store,
		Metrics:     met,
		Tracer:      tp.Tracer("github.com/shopsaga/shopsaga/order_srv"),
		Log:         log,
		Crash: func(point string) {
			log.Warn("exiting for an injected crash", "fault", point)
			os.Exit(exitCrash)
		},
	}, app.Options{})
	if err != nil {
		return err
	}
	// The producers live as long as the process and are shut down once, after the HTTP server
	// has drained (an order in flight still needs them).
	if err := timeouts.Start(); err != nil {
		return err
	}
	defer shutdown(log, "timeout producer", timeouts.Shutdown)
	announceCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = halves.Start(announceCtx, svc)
	cancel()
	if err != nil {
		return err
	}
	defer shutdown(log, "transaction producer", halves.Shutdown)
	consumer, err := mq.NewTimeoutConsumer(mqCfg, svc.HandleTimeout)
	if err != nil {
		return err
	}
	consumer.OnMalformed = func() { heal.MalformedMessage(cfg.TimeoutTopic) }
	reconciler, err := newReconciler(cfg, svc, store, inv, heal)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	srv := &http.Server{
		Handler: httpapi.Router(svc, httpapi.Options{
			Faults: cfg.Faults,
			Readiness: []httpapi.Check{
				{Name: "database", Func: store.Ping},
				{Name: "name server", Func: func(ctx context.Context) error { return mqclient.Reachable(ctx, cfg.Namesrv) }},
			},
			Requests:   met,
			Metrics:    httpmetrics.Handler(reg),
			Log:        log,
			Tracer:     apiTracer,
			Propagator: prop,

			Auth:             verifier,
			AuthWarning:      cfg.Auth.Warning(),
			Payments:         svc,
			NotifySecret:     notifySecret,
			PaymentSimulator: cfg.PaymentSimulator,
			Limits:           limits,
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      time.Minute, // above the saga's own bound (app.Options.SagaTimeout)
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("order_srv listening", "addr", ln.Addr().String(), "namesrv", namesrv, "inventory", cfg.InventoryURL,
		"pay_timeout_level", cfg.PayTimeoutLevel, "faults", cfg.Faults, "traces_exporter", cfg.TracesExporter,
		"auth_disabled", cfg.Auth.Disabled, "payment_simulator", cfg.PaymentSimulator,
		"rate_per_user", cfg.RatePerUser, "max_unpaid", cfg.MaxUnpaid)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return consumer.Run(gctx) })
	if cfg.ReconcileInterval > 0 {
		g.Go(func() error { return reconciler.Run(gctx) })
	}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), cfg.ShutdownTimeout)
		defer cancel()
		log.Info("shutting down")
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("http shutdown: %w", err)
		}
		return nil
	})
	return g.Wait()
}

// serviceTokens is the source of order_srv's tokens for inventory_srv: OAuth2 client credentials
// when configured, else minted from AUTH_JWT_SECRET; nil with AUTH_DISABLED=1.
func serviceTokens(ctx context.Context, cfg config.Config) (oauth2.TokenSource, error) {
	switch {
	case cfg.OAuth.TokenURL != "":
		cc := clientcredentials.Config{ClientID: cfg.OAuth.ClientID, ClientSecret: cfg.OAuth.ClientSecret,
			TokenURL: cfg.OAuth.TokenURL, Scopes: strings.Fields(cfg.OAuth.Scopes)}
		return cc.TokenSource(context.WithoutCancel(ctx)), nil // caches and refreshes the token
	case cfg.Auth.JWTSecret != "":
		return auth.NewServiceTokenSource(cfg.Auth.JWTSecret, "order_srv")
	}
	return nil, nil
}

func shutdown(log *slog.Logger, what string, f func() error) {
	if err := f(); err != nil {
		log.Warn("shutdown", "what", what, "err", err)
	}
}

// healthcheck GETs /healthz of the server ORDER_HTTP_ADDR (or -http-addr) names, from this machine.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg := config.Default()
	if v := getenv("ORDER_HTTP_ADDR"); v != "" {
		cfg.HTTPAddr = v
	}
	if len(args) == 2 && args[0] == "-http-addr" {
		cfg.HTTPAddr = args[1]
	} else if len(args) != 0 {
		return fmt.Errorf("healthcheck: usage: order_srv healthcheck [-http-addr host:port]")
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
