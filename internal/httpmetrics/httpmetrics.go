// Package httpmetrics is the HTTP side of both services' Prometheus instrumentation: a gin
// middleware that reports every answered request to an Observer, the request collectors that
// implement Observer, and the /metrics handler. Each service registers the collectors on its
// own registry, created once in run; nothing here touches the global default registry.
//
//	http_requests_total{method,route,code}       requests answered, by route template
//	http_request_duration_seconds{method,route}  their latency (histogram)
//
// It imports no service code.
package httpmetrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Observer is told about every answered request, e.g. to count it. route is the route
// template ("/v1/orders/:order_sn"), never the raw path, so the set of values stays small;
// requests that match no route are "unmatched", methods outside the standard set "OTHER".
// Implementations are safe for concurrent use.
type Observer interface {
	ObserveRequest(method, route string, status int, elapsed time.Duration)
}

// Middleware reports every request to obs after the handlers (and any panic recovery
// installed after it) ran; install it outermost so it sees the 500 of a recovered panic.
func Middleware(obs Observer) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		obs.ObserveRequest(methodLabel(c.Request.Method), route, c.Writer.Status(), time.Since(start))
	}
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// Requests holds the request collectors; it implements Observer and is safe for concurrent use.
type Requests struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

var _ Observer = (*Requests)(nil)

// NewRequests creates the request collectors and registers them on reg.
func NewRequests(reg prometheus.Registerer) (*Requests, error) {
	r := &Requests{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests answered, by method, route template and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "Time to answer an HTTP request, by method and route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	for _, c := range []prometheus.Collector{r.requests, r.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// ObserveRequest implements Observer.
func (r *Requests) ObserveRequest(method, route string, status int, elapsed time.Duration) {
	r.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	r.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}

// Handler serves the metrics of reg in the Prometheus exposition format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
