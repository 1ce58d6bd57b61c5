package broker_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
)

// scrape fetches /metrics and parses it.
func scrape(t testing.TB, b *brokertest.Broker) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(b.AdminURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// metricValue returns the value of the sample of family name whose labels
// include want, and whether there is one.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// The admin server (JSON, console pages, /metrics) reads the broker's
// tables while sends, pulls and commits change them: run under -race.
func TestAdmin_servesWhileTrafficFlows_andMetricsMatchTheWire(t *testing.T) {
	b := startWireBroker(t, brokertest.WithAdmin(), brokertest.WithDefaultQueues(2))
	c := dialWire(t, b.BrokerAddr())
	const topic, group, perQueue = "admin_traffic", "admin_group", 30

	stop := make(chan struct{})
	var wg sync.WaitGroup
	readErr := make(chan error, 1)
	for _, path := range []string{"/metrics", "/api/groups", "/api/stats", "/api/delays", "/api/transactions",
		"/", "/topics", "/groups", "/transactions", "/delays", "/messages?key=k-0-0"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(b.AdminURL() + path)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("GET %s: %s", path, resp.Status)
					}
				}
				if err != nil {
					select {
					case readErr <- err:
					default:
					}
					return
				}
			}
		}()
	}
	for q := range 2 {
		for i := range perQueue {
			if _, err := c.sendOne(topic, q, fmt.Sprintf("k-%d-%d", q, i), "body"); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Queue 0 is pulled and committed completely, queue 1 to offset 10.
	pulled := 0
	for off := int64(0); off < perQueue; {
		_, msgs, err := c.pull(group, topic, 0, off, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			t.Fatalf("pull at offset %d returned nothing", off)
		}
		pulled += len(msgs)
		off += int64(len(msgs))
	}
	for q, off := range []int64{perQueue, 10} {
		if _, err := updateOffset(c, group, topic, q, off); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-readErr:
		t.Fatal(err)
	default:
	}

	fams := scrape(t, b)
	if v, _ := metricValue(fams, "mqbroker_messages_in_total", map[string]string{"topic": topic}); v != 2*perQueue {
		t.Errorf("messages in = %v, want %d", v, 2*perQueue)
	}
	if v, _ := metricValue(fams, "mqbroker_messages_out_total", map[string]string{"topic": topic}); v != float64(pulled) {
		t.Errorf("messages out = %v, want %d (pulled)", v, pulled)
	}
	if v, _ := metricValue(fams, "mqbroker_consumer_lag", map[string]string{"group": group, "topic": topic}); v != perQueue-10 {
		t.Errorf("lag = %v, want %d", v, perQueue-10)
	}
	var groups struct {
		Groups []struct {
			Group  string `json:"group"`
			Lag    int64  `json:"lag"`
			Queues []struct {
				QueueID   int32 `json:"queueId"`
				Committed int64 `json:"committed"`
				Lag       int64 `json:"lag"`
			} `json:"queues"`
		} `json:"groups"`
	}
	getJSON(t, b.AdminURL()+"/api/groups", &groups)
	if len(groups.Groups) != 1 || groups.Groups[0].Group != group || groups.Groups[0].Lag != perQueue-10 ||
		len(groups.Groups[0].Queues) != 2 || groups.Groups[0].Queues[1].Committed != 10 {
		t.Errorf("/api/groups = %+v, want %s with lag %d on 2 queues", groups.Groups, group, perQueue-10)
	}
	resp, err := http.Get(b.AdminURL() + "/api/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("unknown API path: %s %s, want a JSON 404", resp.Status, resp.Header.Get("Content-Type"))
	}
}

func getJSON(t testing.TB, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
