// Package httpapi is the HTTP/JSON transport of inventory_srv, on gin. It lists the whole API in
// Router, decodes and checks requests, calls the inventory use cases with the request's context
// and writes JSON answers; every error goes through writeError, which maps it to a status and a
// body {"error":{"code":"...","message":"..."}}.
//
// DTOs live here, separate from the domain types. gin must not leak out of this package, and the
// package must not import the storage or broker adapters.
package httpapi

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/internal/health"
	"github.com/shopsaga/shopsaga/internal/httpmetrics"

	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

// Inventory is what the API needs from the use cases; *inventory.Service implements it.
type Inventory interface {
	PutGoods(ctx context.Context, g inventory.Goods) (created bool, err error)
	Goods(ctx context.Context, id int64) (inventory.Goods, error)
	GoodsList(ctx context.Context, ids []int64) (found []inventory.Goods, missing []int64, err error)
	Sell(ctx context.Context, req inventory.SellRequest) (inventory.SellResult, error)
	Reback(ctx context.Context, orderSN string) (inventory.RebackOutcome, error)
	SellDetail(ctx context.Context, orderSN string) (inventory.SellDetail, error)
	DeductedSells(ctx context.Context, q inventory.DeductedSellsQuery) (inventory.DeductedSellsPage, error)
}

// Check is one readiness condition of /readyz, e.g. "the database answers".
type Check = health.Check

// Router returns the HTTP API:
//
//	GET  /healthz                          the process is up
//	GET  /readyz                           every readiness check passes (else 503)
//	PUT  /v1/goods/{id}                    create or update goods {name, price_cents, stock}
//	GET  /v1/goods/{id}                    one goods
//	GET  /v1/goods?ids=1,2                 several goods, and the ids that do not exist
//	POST /v1/stock/sell                    deduct {order_sn, items:[{goods_id, num}]}, all or nothing
//	POST /v1/stock/reback                  return an order's stock {order_sn}, exactly once
//	GET  /v1/stock/sell-details/{order_sn} the sell record of an order
//	GET  /v1/stock/sells?status=deducted&created_before=T  sells still deducted, paged (reconciler; scope service)
//	GET  /metrics                          Prometheus metrics (with WithMetrics)
//	GET  /openapi.json                     the OpenAPI 3.1 document of this API
//
// Who may call what (WithAuth): reading goods is public; goods writes need the scope admin;
// sell and reback need service; sell details need service or admin. Without WithAuth every
// call is allowed, as with AUTH_DISABLED=1 (the program always passes WithAuth).
func Router(inv Inventory, readiness []Check, log *slog.Logger, opts ...Option) http.Handler {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	// gin's mode is process-wide; release mode only silences its debug printing.
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false // a JSON client wants an error, not a redirect
	r.RedirectFixedPath = false

	h := &handlers{inv: inv, readiness: readiness, log: log, warning: o.authWarning}
	if o.verifier == nil {
		o.verifier, _ = auth.NewVerifier(context.Background(), auth.Config{Disabled: true}) // cannot fail
	}
	authn := o.verifier.Authenticate()
	if o.requests != nil {
		r.Use(httpmetrics.Middleware(o.requests)) // outermost: it sees the 500 of a recovered panic
	}
	if o.tracer != nil {
		r.Use(tracingMiddleware(o.tracer, o.propagator))
	}
	r.Use(h.recoverPanics, h.logRequests)
	r.NoRoute(func(c *gin.Context) {
		writeError(c, log, errorf(http.StatusNotFound, "not_found", "no such endpoint: %s %s", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		writeError(c, log, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "method %s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})

	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	r.GET("/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", OpenAPI) })
	if o.metrics != nil {
		r.GET("/metrics", gin.WrapH(o.metrics))
	}

	v1 := r.Group("/v1")
	admin, service := auth.Require(auth.ScopeAdmin), auth.Require(auth.ScopeService)
	v1.PUT("/goods/:id", authn, admin, h.putGoods)
	v1.GET("/goods/:id", h.getGoods)
	v1.GET("/goods", h.listGoods)
	v1.POST("/stock/sell", authn, service, h.sell)
	v1.POST("/stock/reback", authn, service, h.reback)
	v1.GET("/stock/sell-details/:order_sn", authn, auth.Require(auth.ScopeService, auth.ScopeAdmin), h.sellDetail)
	v1.GET("/stock/sells", authn, service, h.deductedSells)
	return r
}

// OpenAPI is the OpenAPI 3.1 document of the API, served at GET /openapi.json. The API tests
// validate every exchange against it (internal/openapitest).
//
//go:embed openapi.json
var OpenAPI []byte

// Option tunes the Router.
type Option func(*options)

type options struct {
	verifier    *auth.Verifier
	authWarning string
	requests    httpmetrics.Observer
	metrics     http.Handler
	tracer      trace.TracerProvider
	propagator  propagation.TextMapPropagator
}

// WithAuth checks every call but the public ones with v (see Router). warning, when not empty
// (AUTH_DISABLED=1), is shown on /readyz.
func WithAuth(v *auth.Verifier, warning string) Option {
	return func(o *options) { o.verifier, o.authWarning = v, warning }
}

// WithRequestObserver tells obs about every request (HTTP metrics).
func WithRequestObserver(obs httpmetrics.Observer) Option {
	return func(o *options) { o.requests = obs }
}

// WithMetrics serves h at GET /metrics (the Prometheus exposition).
func WithMetrics(h http.Handler) Option { return func(o *options) { o.metrics = h } }

// WithTracing makes every API request a server span of tp, continuing the caller's trace (the
// traceparent order_srv sends with its sell call) through prop.
func WithTracing(tp trace.TracerProvider, prop propagation.TextMapPropagator) Option {
	return func(o *options) { o.tracer, o.propagator = tp, prop }
}

// tracingMiddleware spans the API's requests; probes and scrapes are left out.
func tracingMiddleware(tp trace.TracerProvider, prop propagation.TextMapPropagator) gin.HandlerFunc {
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	return otelgin.Middleware("inventory_srv",
		otelgin.WithTracerProvider(tp), otelgin.WithPropagators(prop),
		otelgin.WithMeterProvider(metricnoop.NewMeterProvider()), // metrics are Prometheus's job here
		otelgin.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}))
}
