package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopsaga/shopsaga/order_srv/internal/app"
)

// Heal holds the counters of the saga's self-healing (kept apart from Metrics so that each
// is registered once, by whoever needs it):
//
//	saga_malformed_messages_total{topic}   messages acknowledged unhandled: they can never succeed
//	saga_reconciled_total{action}          what the reconciler of last resort did
//
// and saga_steps_dropped_total (RegisterDroppedSteps), read from the store at each scrape.
//
// It is safe for concurrent use.
type Heal struct {
	malformed  *prometheus.CounterVec
	reconciled *prometheus.CounterVec
}

// NewHeal creates the counters and registers them on reg; topics are the label values of
// saga_malformed_messages_total created at zero up front.
func NewHeal(reg prometheus.Registerer, topics ...string) (*Heal, error) {
	h := &Heal{
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "saga_malformed_messages_total", Help: "Messages acknowledged without handling because they can never succeed (logged), by topic.",
		}, []string{"topic"}),
		reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "saga_reconciled_total", Help: "Sagas settled by the reconciler of last resort, by action.",
		}, []string{"action"}),
	}
	for _, t := range topics {
		h.malformed.WithLabelValues(t)
	}
	for _, a := range app.ReconcileActions {
		h.reconciled.WithLabelValues(a)
	}
	for _, c := range []prometheus.Collector{h.malformed, h.reconciled} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// MalformedMessage counts one message of topic acknowledged unhandled.
func (h *Heal) MalformedMessage(topic string) { h.malformed.WithLabelValues(topic).Inc() }

// Reconciled counts one action of the reconciler.
func (h *Heal) Reconciled(action string) { h.reconciled.WithLabelValues(action).Inc() }

// RegisterDroppedSteps registers saga_steps_dropped_total on reg, read from dropped at each
// scrape: timeline steps queued without waiting (Timeline.Append) that were not stored — their
// INSERT failed, the writer's queue was full, or shutdown's deadline passed (each is logged).
// No saga decision reads the timeline; a rising count means its audit trail has gaps.
func RegisterDroppedSteps(reg prometheus.Registerer, dropped func() int64) error {
	return reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "saga_steps_dropped_total", Help: "Timeline steps queued in the background that were not stored (logged): insert failed, queue full, or shutdown deadline.",
	}, func() float64 { return float64(dropped()) }))
}
