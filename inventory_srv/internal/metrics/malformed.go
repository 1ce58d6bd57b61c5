package metrics

import "github.com/prometheus/client_golang/prometheus"

// Malformed counts saga_malformed_messages_total{topic}: messages acknowledged without handling
// because they can never succeed (each is logged). It is safe for concurrent use.
type Malformed struct{ c *prometheus.CounterVec }

// NewMalformed creates the counter, with the series of topics at zero, and registers it on reg.
func NewMalformed(reg prometheus.Registerer, topics ...string) (*Malformed, error) {
	m := &Malformed{c: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "saga_malformed_messages_total", Help: "Messages acknowledged without handling because they can never succeed (logged), by topic.",
	}, []string{"topic"})}
	for _, t := range topics {
		m.c.WithLabelValues(t)
	}
	if err := reg.Register(m.c); err != nil {
		return nil, err
	}
	return m, nil
}

// Inc counts one message of topic.
func (m *Malformed) Inc(topic string) { m.c.WithLabelValues(topic).Inc() }
