package health

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
)

func TestFailures_namesEveryFailedCheck(t *testing.T) {
	t.Parallel()
	got := Failures(context.Background(), []Check{
		{"database", func(context.Context) error { return errors.New("down") }},
		{"broker", func(context.Context) error { return nil }},
		{"disk", func(context.Context) error { return errors.New("full") }},
	})
	if want := []string{"database: down", "disk: full"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Failures = %q, want %q", got, want)
	}
}

func TestLocalURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		":8081":          "http://127.0.0.1:8081/healthz",
		"0.0.0.0:8082":   "http://127.0.0.1:8082/healthz",
		"[::]:8082":      "http://127.0.0.1:8082/healthz",
		"10.1.2.3:8081":  "http://10.1.2.3:8081/healthz",
		"localhost:8081": "http://localhost:8081/healthz",
	} {
		if got, err := LocalURL(in); err != nil || got != want {
			t.Errorf("LocalURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := LocalURL("8081"); err == nil {
		t.Error("LocalURL accepted an address without a port")
	}
}

func TestProbe_failsUnless200(t *testing.T) {
	t.Parallel()
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(status.Load())) }))
	defer srv.Close()
	if err := Probe(context.Background(), srv.URL+"/healthz"); err != nil {
		t.Fatalf("Probe of a healthy server: %v", err)
	}
	status.Store(http.StatusServiceUnavailable)
	if err := Probe(context.Background(), srv.URL+"/healthz"); err == nil {
		t.Fatal("Probe accepted a 503")
	}
}
