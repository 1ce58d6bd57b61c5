// Package metrics is inventory_srv's Prometheus instrumentation: the stock counters
// (implementing inventory.Metrics) and the HTTP request metrics (implementing
// httpmetrics.Observer), registered on one registry that run creates per process — never the
// global default registry — and serves at GET /metrics through httpmetrics.Handler.
//
//	http_requests_total{method,route,code}       requests answered, by route template
//	http_request_duration_seconds{method,route}  their latency (histogram)
//	stock_sells_total{result}                    sells: sold, replayed, insufficient_stock, …
//	stock_returns_total{result}                  returns: applied, duplicate (ignored), unknown_order (fenced)
//	inventory_goods_cache_total{result}          goods cache lookups by sells (hit, miss) and guard failures (stale)
//
// Every label value of the stock counters exists at zero from the start. The package must not
// import the transport or the adapters.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shopsaga/shopsaga/internal/httpmetrics"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

// Return results, the values of stock_returns_total's label.
const (
	ReturnApplied      = "applied"
	ReturnDuplicate    = "duplicate"
	ReturnUnknownOrder = "unknown_order"
)

// Metrics holds the collectors. It is safe for concurrent use.
type Metrics struct {
	*httpmetrics.Requests // http_requests_total, http_request_duration_seconds
	sells                 *prometheus.CounterVec
	returns               *prometheus.CounterVec
	goodsCache            *prometheus.CounterVec
}

var _ inventory.Metrics = (*Metrics)(nil)

// New creates the collectors and registers them, with the Go runtime and process collectors,
// on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		sells: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stock_sells_total", Help: "Stock sells (deductions for an order), by result.",
		}, []string{"result"}),
		returns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stock_returns_total", Help: "Stock returns of an order, by result: applied, duplicate (ignored) or unknown_order (fenced).",
		}, []string{"result"}),
		goodsCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inventory_goods_cache_total",
			Help: "Goods cache uses by sells: hit or miss per lookup, stale per guard that found a goods changed (the attempt ran again).",
		}, []string{"result"}),
	}
	for _, r := range inventory.GoodsCacheResults {
		m.goodsCache.WithLabelValues(string(r))
	}
	for _, r := range inventory.SellResultLabels {
		m.sells.WithLabelValues(string(r))
	}
	for _, r := range []string{ReturnApplied, ReturnDuplicate, ReturnUnknownOrder} {
		m.returns.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{
		m.sells, m.returns, m.goodsCache,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	var err error
	if m.Requests, err = httpmetrics.NewRequests(reg); err != nil {
		return nil, err
	}
	return m, nil
}

// StockSold implements inventory.Metrics.
func (m *Metrics) StockSold(result inventory.SellResultLabel) {
	m.sells.WithLabelValues(string(result)).Inc()
}

// StockReturned implements inventory.Metrics.
func (m *Metrics) StockReturned(outcome inventory.RebackOutcome) {
	switch outcome {
	case inventory.Returned:
		m.returns.WithLabelValues(ReturnApplied).Inc()
	case inventory.AlreadyReturned:
		m.returns.WithLabelValues(ReturnDuplicate).Inc()
	case inventory.NotSold:
		m.returns.WithLabelValues(ReturnUnknownOrder).Inc()
	}
}

// GoodsCache implements inventory.Metrics.
func (m *Metrics) GoodsCache(result inventory.GoodsCacheResult) {
	m.goodsCache.WithLabelValues(string(result)).Inc()
}
