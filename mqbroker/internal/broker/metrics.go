package broker

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shopsaga/shopsaga/mqbroker/internal/store"
)

// metrics counts the broker's traffic for /metrics (Prometheus, on a
// registry of its own: no global state) and for the console's live rates.
// Gauges (pending half and delayed messages, consumer lag) are computed
// from the broker's tables at scrape time. All methods are safe for
// concurrent use; the counters are updated on the send and pull paths.
type metrics struct {
	reg     *prometheus.Registry
	started time.Time

	msgsIn, bytesIn, msgsOut, bytesOut *prometheus.CounterVec // by topic
	// byTopic caches a topic's four counters (topic → *topicCounters): a CounterVec lookup
	// hashes the label on every call, once per send and per pull otherwise.
	byTopic    sync.Map
	fsync      prometheus.Histogram
	aclDenied  *prometheus.CounterVec // by request code
	movedToMin prometheus.Counter     // pulls below a queue's min offset, continued at the min
	setAside   *prometheus.CounterVec // by kind: entries retention or the scheduler could not re-put (setaside.go)

	// Totals across topics, for the rates (cheaper than gathering).
	totalIn, totalOut, totalBytesIn, totalBytesOut atomic.Int64
	rates                                          rates
}

func newMetrics(b *Broker) *metrics {
	m := &metrics{
		reg:     prometheus.NewRegistry(),
		started: time.Now(),
		msgsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqbroker_messages_in_total",
			Help: "Messages accepted from producers, by the topic they were sent to."}, []string{"topic"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqbroker_bytes_in_total",
			Help: "Bytes of stored records accepted from producers, by topic."}, []string{"topic"}),
		msgsOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqbroker_messages_out_total",
			Help: "Messages delivered in pull responses, by topic."}, []string{"topic"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqbroker_bytes_out_total",
			Help: "Bytes of records delivered in pull responses, by topic."}, []string{"topic"}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mqbroker_fsync_duration_seconds",
			Help:    "Latency of commit-log fdatasync calls.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2.5, 12)}), // 50µs .. ~1.2s
	}
	m.aclDenied = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqbroker_acl_denied_total",
		Help: "Requests refused by the ACL with NO_PERMISSION, by request code."}, []string{"code"})
	m.movedToMin = prometheus.NewCounter(prometheus.CounterOpts{Name: "mqbroker_pull_offset_moved_to_min_total",
		Help: "Pulls whose offset was below the queue's min offset (deleted by retention), continued at the min."})
	m.setAside = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqbroker_set_aside_total",
		Help: "Half or scheduled messages that could not be carried forward or delivered, moved to topic " + deadLetterTopic + " (or lost, if unreadable), by kind."}, []string{"kind"})
	m.reg.MustRegister(m.msgsIn, m.bytesIn, m.msgsOut, m.bytesOut, m.fsync, m.aclDenied, m.movedToMin, m.setAside, newGaugeCollector(b), newStoreCollector(b),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.sample(m.started) // the zero point of the rates
	return m
}

// handler serves the registry in the Prometheus exposition format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// topicCounters are one topic's series of the by-topic counters.
type topicCounters struct{ msgsIn, bytesIn, msgsOut, bytesOut prometheus.Counter }

// topic returns topic's counters, created on first use.
func (m *metrics) topic(topic string) *topicCounters {
	if c, ok := m.byTopic.Load(topic); ok {
		return c.(*topicCounters)
	}
	c, _ := m.byTopic.LoadOrStore(topic, &topicCounters{
		msgsIn: m.msgsIn.WithLabelValues(topic), bytesIn: m.bytesIn.WithLabelValues(topic),
		msgsOut: m.msgsOut.WithLabelValues(topic), bytesOut: m.bytesOut.WithLabelValues(topic),
	})
	return c.(*topicCounters)
}

// sent counts messages a producer sent to topic and the broker stored.
func (m *metrics) sent(topic string, res []store.PutResult) {
	var n int64
	for _, r := range res {
		n += int64(r.Size)
	}
	c := m.topic(topic)
	c.msgsIn.Add(float64(len(res)))
	c.bytesIn.Add(float64(n))
	m.totalIn.Add(int64(len(res)))
	m.totalBytesIn.Add(n)
}

// pulled counts records delivered from topic in one pull response.
func (m *metrics) pulled(topic string, records [][]byte) {
	if len(records) == 0 {
		return
	}
	var n int64
	for _, r := range records {
		n += int64(len(r))
	}
	c := m.topic(topic)
	c.msgsOut.Add(float64(len(records)))
	c.bytesOut.Add(float64(n))
	m.totalOut.Add(int64(len(records)))
	m.totalBytesOut.Add(n)
}

// observeSync is the store's OnSync hook.
func (m *metrics) observeSync(took time.Duration, err error) {
	if err == nil {
		m.fsync.Observe(took.Seconds())
	}
}

// sample records the totals for the live rates (called about once a second).
func (m *metrics) sample(now time.Time) {
	m.rates.add(now, m.totalIn.Load(), m.totalOut.Load())
}

// gaugeCollector reads the broker's state at scrape time.
type gaugeCollector struct {
	b                                *Broker
	pendingHalf, pendingDelayed, lag *prometheus.Desc
}

func newGaugeCollector(b *Broker) gaugeCollector {
	return gaugeCollector{b: b,
		pendingHalf: prometheus.NewDesc("mqbroker_pending_half_messages",
			"Transactional half messages not yet committed, rolled back or discarded.", nil, nil),
		pendingDelayed: prometheus.NewDesc("mqbroker_pending_delayed_messages",
			"Messages waiting in a delay level (producer delays and consumer retries).", []string{"level", "delay"}, nil),
		lag: prometheus.NewDesc("mqbroker_consumer_lag",
			"Messages stored but not yet consumed (committed) by a consumer group, summed over the topic's queues.",
			[]string{"group", "topic"}, nil),
	}
}

func (g gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.pendingHalf
	ch <- g.pendingDelayed
	ch <- g.lag
}

func (g gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(g.pendingHalf, prometheus.GaugeValue, float64(g.b.txn.pendingCount()))
	for _, l := range g.b.sched.stats() {
		ch <- prometheus.MustNewConstMetric(g.pendingDelayed, prometheus.GaugeValue, float64(l.Pending),
			strconv.Itoa(l.Level), l.Delay)
	}
	for _, grp := range g.b.view().Groups() {
		lag := map[string]int64{}
		for _, q := range grp.Queues {
			lag[q.Topic] += q.Lag
		}
		for topic, n := range lag {
			ch <- prometheus.MustNewConstMetric(g.lag, prometheus.GaugeValue, float64(n), grp.Group, topic)
		}
	}
}

// storeCollector exposes the store's size and what retention removed.
type storeCollector struct {
	b                                                    *Broker
	logBytes, fsUsed, fsTotal, oldest                    *prometheus.Desc
	delSegments, delBytes, delMessages, carried, refused *prometheus.Desc
}

func newStoreCollector(b *Broker) storeCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return storeCollector{b: b,
		logBytes:    d("mqbroker_store_log_bytes", "Bytes of commit log stored (all segments)."),
		fsUsed:      d("mqbroker_store_fs_used_bytes", "Used bytes of the data dir's file system."),
		fsTotal:     d("mqbroker_store_fs_size_bytes", "Size of the data dir's file system (used + available)."),
		oldest:      d("mqbroker_store_oldest_message_timestamp_seconds", "Store time of the oldest message still stored."),
		delSegments: d("mqbroker_retention_deleted_segments_total", "Commit-log segments deleted by retention."),
		delBytes:    d("mqbroker_retention_deleted_bytes_total", "Bytes of commit-log segments deleted by retention."),
		delMessages: d("mqbroker_retention_deleted_messages_total", "Consume-queue entries deleted with them."),
		carried:     d("mqbroker_retention_carried_forward_total", "Undecided half and pending scheduled messages re-appended before their segment was deleted."),
		refused:     d("mqbroker_disk_full", "1 while sends are refused because the file system is above the full-disk limit."),
	}
}

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.logBytes, c.fsUsed, c.fsTotal, c.oldest, c.delSegments, c.delBytes, c.delMessages, c.carried, c.refused} {
		ch <- d
	}
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.storeStats()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.logBytes, float64(st.LogBytes))
	if st.FSSize > 0 {
		gauge(c.fsUsed, float64(st.FSUsed))
		gauge(c.fsTotal, float64(st.FSSize))
	}
	if !st.Oldest.IsZero() {
		gauge(c.oldest, float64(st.Oldest.UnixMilli())/1000)
	}
	counter(c.delSegments, float64(st.Retention.Segments))
	counter(c.delBytes, float64(st.Retention.Bytes))
	counter(c.delMessages, float64(st.Retention.Messages))
	counter(c.carried, float64(st.CarriedForward))
	refused := 0.0
	if st.DiskFull {
		refused = 1
	}
	gauge(c.refused, refused)
}
