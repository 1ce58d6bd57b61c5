// Package metrics is order_srv's Prometheus instrumentation: the saga's outcome counters
// (implementing app.Metrics) and the HTTP request metrics (implementing
// httpmetrics.Observer), all registered on one registry that run creates per process — never
// the global default registry — and serves at GET /metrics through httpmetrics.Handler.
//
//	http_requests_total{method,route,code}           requests answered, by route template
//	http_request_duration_seconds{method,route}      their latency (histogram)
//	orders_created_total                             local transactions that committed an order
//	orders_rolled_back_total{reason}                 sagas that ended without an order
//	orders_closed_by_timeout_total                   unpaid orders closed by their timeout
//	orders_paid_total                                orders paid (repeats not counted)
//	check_backs_total{answer}                        check-backs, by answer
//	payments_total{status}                           provider payments recorded: applied,
//	                                                 duplicate_to_refund, to_refund
//
// Every label value of the saga counters is created at zero up front, so a dashboard sees the
// series before the first event. The package must not import the transport or the adapters.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shopsaga/shopsaga/internal/httpmetrics"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
)

// Metrics holds the collectors. It is safe for concurrent use.
type Metrics struct {
	*httpmetrics.Requests // http_requests_total, http_request_duration_seconds
	created               prometheus.Counter
	rolledBack            *prometheus.CounterVec
	closedByTimout        prometheus.Counter
	paid                  prometheus.Counter
	checkBacks            *prometheus.CounterVec
	payments              *prometheus.CounterVec
}

var (
	_ app.Metrics        = (*Metrics)(nil)
	_ app.PaymentMetrics = (*Metrics)(nil)
)

// New creates the collectors and registers them, with the Go runtime and process collectors,
// on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orders_created_total", Help: "Orders committed by their local transaction.",
		}),
		rolledBack: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_rolled_back_total", Help: "Sagas that ended without an order (any deducted stock returned), by reason.",
		}, []string{"reason"}),
		closedByTimout: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orders_closed_by_timeout_total", Help: "Unpaid orders closed by their payment timeout.",
		}),
		paid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orders_paid_total", Help: "Orders paid (a repeated payment is not counted).",
		}),
		checkBacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "check_backs_total", Help: "Check-backs of reback half messages answered, by answer.",
		}, []string{"answer"}),
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payments_total", Help: "Payments of the provider's notify recorded, by what became of them (to_refund and duplicate_to_refund need a refund).",
		}, []string{"status"}),
	}
	for _, s := range []app.PaymentStatus{app.PaymentApplied, app.PaymentDuplicate, app.PaymentToRefund} {
		m.payments.WithLabelValues(string(s))
	}
	for _, r := range app.RollbackReasons {
		m.rolledBack.WithLabelValues(string(r))
	}
	for _, a := range []app.HalfOutcome{app.DeliverReback, app.DiscardReback, app.AskLater} {
		m.checkBacks.WithLabelValues(a.String())
	}
	for _, c := range []prometheus.Collector{
		m.created, m.rolledBack, m.closedByTimout, m.paid, m.checkBacks, m.payments,
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

// OrderCreated implements app.Metrics.
func (m *Metrics) OrderCreated() { m.created.Inc() }

// OrderRolledBack implements app.Metrics.
func (m *Metrics) OrderRolledBack(reason app.RollbackReason) {
	m.rolledBack.WithLabelValues(string(reason)).Inc()
}

// OrderClosedByTimeout implements app.Metrics.
func (m *Metrics) OrderClosedByTimeout() { m.closedByTimout.Inc() }

// OrderPaid implements app.Metrics.
func (m *Metrics) OrderPaid() { m.paid.Inc() }

// CheckBack implements app.Metrics.
func (m *Metrics) CheckBack(answer app.HalfOutcome) {
	m.checkBacks.WithLabelValues(answer.String()).Inc()
}

// PaymentRecorded implements app.PaymentMetrics.
func (m *Metrics) PaymentRecorded(status app.PaymentStatus) {
	m.payments.WithLabelValues(string(status)).Inc()
}
