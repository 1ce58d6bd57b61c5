package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixedSource is a Source with canned data.
type fixedSource struct{ msgs []Message }

func (fixedSource) Queues() []Queue {
	return []Queue{{Topic: "%RETRY%inv", QueueID: 0, MaxOffset: 1}, {Topic: "order_reback", QueueID: 0, MaxOffset: 7},
		{Topic: "order_reback", QueueID: 1, MaxOffset: 3}}
}

func (fixedSource) Groups() []Group {
	return []Group{{Group: "inventory_reback", Online: true, Clients: []string{"10.0.0.1@1"}, Topics: []string{"order_reback"},
		Queues: []GroupQueue{{Topic: "order_reback", QueueID: 0, Committed: 5, MaxOffset: 7, Lag: 2},
			{Topic: "order_reback", QueueID: 1, Committed: -1, MaxOffset: 3, Lag: 3}}, Lag: 5, DLQDepth: 1}}
}

func (fixedSource) Halves() []Half {
	return []Half{{CommitLogOffset: 42, Group: "order_tx", Topic: "order_reback", MsgID: "HALF1", Keys: []string{"SN 1/2"},
		StoredAt: testNow.Add(-90 * time.Second), Checks: 2}}
}

func (fixedSource) Delays() []DelayLevel {
	return []DelayLevel{{Level: 1, Delay: "1s"}, {Level: 16, Delay: "30m", Pending: 1, NextDueAt: testNow.Add(29 * time.Minute),
		Messages: []Delayed{{MsgID: "D1", OffsetMsgID: "OFF-D1", Topic: "order_timeout", Keys: []string{"SN1"},
			StoredAt: testNow.Add(-time.Minute), DueAt: testNow.Add(29 * time.Minute)}}}}
}

func (s fixedSource) Lookup(key string) []Message {
	var out []Message
	for _, m := range s.msgs {
		if m.MsgID == key || strings.Contains(" "+m.Properties["KEYS"]+" ", " "+key+" ") {
			out = append(out, m)
		}
	}
	return out
}

func (s fixedSource) Message(id string) (Message, bool) {
	for _, m := range s.msgs {
		if m.OffsetMsgID == id || m.MsgID == id {
			m.Trace = s.msgs
			return m, true
		}
	}
	return Message{}, false
}

func (fixedSource) Stats() Stats {
	return Stats{At: testNow, StartedAt: testNow.Add(-time.Hour), MessagesIn: 1234, SendRate: 12.5, ConsumeRate: 3.25,
		SendSeries: []int64{1, 2, 3}, PendingHalf: 1, PendingDelayed: 1}
}

func newTestServer(t *testing.T, timeline string) *httptest.Server {
	t.Helper()
	src := fixedSource{msgs: []Message{
		{MsgID: "U1", OffsetMsgID: "OFF1", Topic: "order_reback", Stage: StageStored, DeliveredTo: []string{"inventory_reback"},
			Properties: map[string]string{"KEYS": "SN1", "UNIQ_KEY": "U1"}, Body: `{"order_sn":"SN1","note":"<script>alert(1)</script>"}`},
		{MsgID: "U1", OffsetMsgID: "OFF2", Topic: "%DLQ%inventory_reback", Stage: StageDLQ, ReconsumeTimes: 16,
			Properties: map[string]string{"KEYS": "SN1", "UNIQ_KEY": "U1"}, Body: "\xff\x00binary"},
	}}
	c, err := New(src, Options{TimelineURL: timeline, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestPages_showTheSourcesData(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, "http://orders.test/v1/orders/{key}/timeline/page")
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{"12.5", "3.2", `data-stat="sendRate"`, "/api/stats", "1234"}},
		{"/topics", []string{"order_reback", "10 messages", `%RETRY%inv <span class="tag">system</span>`}},
		{"/groups", []string{"inventory_reback", "online", "10.0.0.1@1", `data-lag="inventory_reback">5<`, "/ <span class=\"bad\">1</span>"}},
		{"/transactions", []string{"HALF1", "order_tx", "1m30s", `href="/messages?key=SN%201%2f2"`,
			`href="http://orders.test/v1/orders/SN%201%2F2/timeline/page"`}},
		{"/delays", []string{"30m", "order_timeout", "in 29m0s", `href="/messages/OFF-D1"`}},
		{"/messages", []string{`name="key"`}},
		{"/messages?key=SN1", []string{"2 stored record(s)", "dlq", "inventory_reback", `href="/messages/OFF2"`,
			`id="timeline" href="http://orders.test/v1/orders/SN1/timeline/page"`}},
		{"/messages/OFF1", []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "UNIQ_KEY", "%DLQ%inventory_reback", "order timeline"}},
		{"/messages/OFF2", []string{`&#34;\xff\x00binary&#34;`}},
	} {
		code, body := get(t, srv.URL+tc.path)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d", tc.path, code)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: page lacks %q", tc.path, w)
			}
		}
		if strings.Contains(body, "<script>alert") {
			t.Errorf("GET %s: message body rendered unescaped", tc.path)
		}
	}
}

func TestPages_unknownMessageIs404_andAnIdInTheSearchBoxRedirects(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, "")
	code, body := get(t, srv.URL+"/messages/NOPE")
	if code != http.StatusNotFound || !strings.Contains(body, "no message with id NOPE") {
		t.Errorf("unknown id: %d %q", code, body)
	}
	code, body = get(t, srv.URL+"/messages?key=OFF2") // follows the redirect
	if code != http.StatusOK || !strings.Contains(body, "%DLQ%inventory_reback / 0 / 0") {
		t.Errorf("search by offset id: %d, page without the message", code)
	}
	if _, body = get(t, srv.URL+"/messages?key=SN1"); strings.Contains(body, "timeline") {
		t.Error("timeline link shown although no timeline URL is configured")
	}
	if code, _ = get(t, srv.URL+"/nothing-here"); code != http.StatusNotFound {
		t.Errorf("unknown page: %d, want 404", code)
	}
}

func TestValidateTimelineURL(t *testing.T) {
	t.Parallel()
	for u, ok := range map[string]bool{
		"": true, "http://localhost:8081/v1/orders/{key}/timeline/page": true, "https://x.example/o?sn={key}": true,
		"http://localhost:8081/v1/orders/timeline": false, "/v1/orders/{key}": false, "ftp://h/{key}": false,
	} {
		if err := ValidateTimelineURL(u); (err == nil) != ok {
			t.Errorf("ValidateTimelineURL(%q) = %v, want ok=%v", u, err, ok)
		}
	}
	if _, err := New(fixedSource{}, Options{TimelineURL: "nope"}); err == nil {
		t.Error("New accepted a timeline URL without {key}")
	}
}
