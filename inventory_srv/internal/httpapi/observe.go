package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// RequestObserver is told about every answered request, e.g. to count it. route is the route
// template ("/v1/orders/:order_sn"), never the raw path, so the set of values stays small;
// requests that match no route are "unmatched", methods outside the standard set "OTHER".
// Implementations are safe for concurrent use.
type RequestObserver interface {
	ObserveRequest(method, route string, status int, elapsed time.Duration)
}

// observe reports every request to the observer, after the handlers (and recoverPanics) ran.
func observe(obs RequestObserver) gin.HandlerFunc {
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
