// Package httpapi is the HTTP/JSON transport of order_srv, on gin. Router lists the whole API;
// handlers decode and check a request, call one use case with the request's context, and write
// JSON; every error goes through writeError, which maps it to a status and a body
// {"error":{"code":"...","message":"..."}}.
//
// DTOs live here, separate from the domain. gin must not leak out of this package, and it must
// not import the storage, inventory or broker adapters.
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

	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// Service is what the API needs from the use cases; *app.Service implements it.
type Service interface {
	CreateOrder(ctx context.Context, cmd app.CreateOrder) (app.Created, error)
	Order(ctx context.Context, sn string) (order.Order, error)
	OrdersOfUser(ctx context.Context, userID int64, page app.Page) ([]order.Order, int64, error)
	Pay(ctx context.Context, sn string) (order.Order, error)
	PutCartItem(ctx context.Context, userID, goodsID int64, num int32, checked bool) (order.CartItem, error)
	CartItems(ctx context.Context, userID int64) ([]order.CartItem, error)
	DeleteCartItem(ctx context.Context, userID, goodsID int64) error
	Timeline(ctx context.Context, sn string) ([]app.SagaStep, error)
}

// Check is one readiness condition of /readyz, e.g. "the database answers".
type Check = health.Check

// Options configure the Router.
type Options struct {
	// Faults enables the X-Fault request header (ORDER_FAULTS=1): fail-local-tx,
	// crash-after-deduct, crash-after-commit — for a token of the admin scope only (403 for any
	// other, before anything is done). When disabled the header is ignored.
	Faults bool
	// Readiness lists the conditions of /readyz.
	Readiness []Check
	// Requests, when set, is told about every request (HTTP metrics).
	Requests httpmetrics.Observer
	// Metrics, when set, is served at GET /metrics (the Prometheus exposition).
	Metrics http.Handler
	Log     *slog.Logger
	// Tracer, when set, makes every API request a server span, continuing the caller's trace
	// (traceparent) through Propagator.
	Tracer     trace.TracerProvider
	Propagator propagation.TextMapPropagator

	// Auth checks the bearer tokens (see security.go for who may call what). Without it every
	// call is allowed, as with AUTH_DISABLED=1; the program always sets it. AuthWarning, when not
	// empty (AUTH_DISABLED=1), is shown on /readyz.
	Auth        *auth.Verifier
	AuthWarning string
	// Payments records the provider's notifies (POST /v1/payments/notify), signed with
	// NotifySecret (HMAC-SHA256). PaymentSimulator (ORDER_PAYMENT_SIMULATOR=1) serves
	// POST /v1/orders/{order_sn}/pay, which signs a notify for the owner and goes the same path.
	Payments         PaymentService
	NotifySecret     string
	PaymentSimulator bool
	// Limits, when set, decides whether a user may create an order (429, 409).
	Limits OrderLimiter
}

// Router returns the HTTP API:
//
//	GET    /healthz                             the process is up
//	GET    /readyz                              every readiness check passes (else 503)
//	PUT    /v1/users/{uid}/cart/{goods_id}      put goods in the cart {num, checked}
//	GET    /v1/users/{uid}/cart                 the cart
//	DELETE /v1/users/{uid}/cart/{goods_id}      remove goods from the cart
//	POST   /v1/orders                           create an order {user_id, address, signer_name,
//	                                            signer_mobile, post, items:[{goods_id, num}]} or
//	                                            {…, from_cart: true}; header Idempotency-Key
//	GET    /v1/orders/{order_sn}                one order
//	GET    /v1/orders?user_id=&page=&page_size= a user's orders, newest first
//	POST   /v1/orders/{order_sn}/pay            the payment simulator (ORDER_PAYMENT_SIMULATOR=1):
//	                                            a signed notify for the order → TRADE_SUCCESS
//	POST   /v1/payments/notify                  the provider's signed payment notify (form)
//	GET    /v1/orders/{order_sn}/timeline       the steps of the order's saga {order_sn,
//	                                            steps:[{step, detail, at}]}, also for an order
//	                                            whose saga failed (no order, but steps)
//	GET    /v1/orders/{order_sn}/timeline/page  the same as an HTML page
//	GET    /metrics                             Prometheus metrics (when Options.Metrics is set)
//	GET    /openapi.json                        the OpenAPI 3.1 document of this API
//
// Every /v1 route but the notify needs a bearer token (Options.Auth); see security.go.
func Router(svc Service, opts Options) http.Handler {
	// gin's mode is process-wide; release mode only silences its debug printing.
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false // a JSON client wants an error, not a redirect
	r.RedirectFixedPath = false

	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	h := &handlers{svc: svc, faults: opts.Faults, readiness: opts.Readiness, log: log,
		warning: opts.AuthWarning, payments: opts.Payments, notifySecret: opts.NotifySecret, limits: opts.Limits}
	verifier := opts.Auth
	if verifier == nil {
		verifier, _ = auth.NewVerifier(context.Background(), auth.Config{Disabled: true}) // cannot fail
	}
	authn := verifier.Authenticate()
	if opts.Requests != nil {
		r.Use(httpmetrics.Middleware(opts.Requests)) // outermost: it sees the 500 of a recovered panic
	}
	if opts.Tracer != nil {
		r.Use(tracingMiddleware(opts.Tracer, opts.Propagator))
	}
	r.Use(h.recoverPanics, h.logRequests)
	r.NoRoute(func(c *gin.Context) {
		h.writeError(c, errorf(http.StatusNotFound, "not_found", "no such endpoint: %s %s", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		h.writeError(c, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "method %s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})

	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	r.GET("/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", OpenAPI) })
	if opts.Metrics != nil {
		r.GET("/metrics", gin.WrapH(opts.Metrics))
	}

	v1 := r.Group("/v1")
	v1.PUT("/users/:uid/cart/:goods_id", authn, h.ownUserPath, h.putCartItem)
	v1.GET("/users/:uid/cart", authn, h.ownUserPath, h.cart)
	v1.DELETE("/users/:uid/cart/:goods_id", authn, h.ownUserPath, h.deleteCartItem)
	v1.POST("/orders", authn, h.createOrder) // authorizeOrder: the body's user_id and the limits
	v1.GET("/orders/:order_sn", authn, h.order)
	v1.GET("/orders", authn, h.ownUserQuery, h.ordersOfUser)
	if opts.PaymentSimulator {
		v1.POST("/orders/:order_sn/pay", authn, h.ownOrderPath, h.simulatePay)
	}
	v1.POST("/payments/notify", h.paymentNotify)
	v1.GET("/orders/:order_sn/timeline", authn, h.ownOrderPath, h.timeline)
	// The page also takes ?access_token= (RFC 6750 §2.3), so a browser can open it from a link.
	v1.GET("/orders/:order_sn/timeline/page", verifier.AuthenticateWithQuery("access_token"), h.ownOrderPath, h.timelinePage)
	return r
}

// OpenAPI is the OpenAPI 3.1 document of the API, served at GET /openapi.json. The API tests
// validate every exchange against it (internal/openapitest).
//
//go:embed openapi.json
var OpenAPI []byte

// tracingMiddleware spans the API's requests; probes and scrapes are left out.
func tracingMiddleware(tp trace.TracerProvider, prop propagation.TextMapPropagator) gin.HandlerFunc {
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	return otelgin.Middleware("order_srv",
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
