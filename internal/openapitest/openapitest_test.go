package openapitest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const doc = `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/things/{id}":{
 "parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}}],
 "put":{"requestBody":{"required":true,"content":{"application/json":{"schema":{"type":"object","required":["n"],
   "additionalProperties":false,"properties":{"n":{"type":"integer"}}}}}},
  "responses":{"200":{"description":"ok","content":{"application/json":{"schema":{"type":"object","required":["n"],
   "additionalProperties":false,"properties":{"n":{"type":["integer","null"]}}}}}}}}}}}`

// recordingTB keeps what Errorf reports.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex // guards errs
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestWrap_failsOnUndocumentedResponsesAndAcceptedBadRequests(t *testing.T) {
	c := Load(t, []byte(doc))
	for _, tc := range []struct {
		name, path, body, answer string
		status                   int
		fails                    bool
	}{
		{"conforming", "/things/1", `{"n":1}`, `{"n":2}`, 200, false},
		{"3.1 type array (null)", "/things/1", `{"n":1}`, `{"n":null}`, 200, false},
		{"undocumented field in the answer", "/things/1", `{"n":1}`, `{"n":2,"x":1}`, 200, true},
		{"undocumented status", "/things/1", `{"n":1}`, `{}`, 500, true},
		{"accepted a bad body", "/things/1", `{"m":1}`, `{"n":2}`, 200, true},
		{"accepted a bad path", "/things/abc", `{"n":1}`, `{"n":2}`, 200, true},
		{"undocumented route", "/other", `{"n":1}`, `{"n":2}`, 200, true},
		{"unknown route refused", "/other", ``, `{}`, 404, false},
	} {
		rec := &recordingTB{TB: t}
		h := c.Wrap(rec, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			_, _ = w.Write([]byte(tc.answer))
		}))
		srv := httptest.NewServer(h)
		req, _ := http.NewRequest("PUT", srv.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if failed := len(rec.errs) > 0; failed != tc.fails {
			t.Errorf("%s: contract failed = %v (%v), want %v", tc.name, failed, rec.errs, tc.fails)
		}
	}
	if c.Checked() != 8 {
		t.Errorf("checked %d exchanges, want 8", c.Checked())
	}
}

func TestParse_refusesAnInvalidDocument(t *testing.T) {
	if _, err := Parse([]byte(`{"openapi":"3.1.0","paths":{}}`)); err == nil {
		t.Error("a document without info was accepted")
	}
}
