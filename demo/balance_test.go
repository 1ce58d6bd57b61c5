package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBalancer_alternates_resendsTheBodyPastARefusingInstance_andCounts: requests alternate
// between two live instances; with a third that refuses connections between them, every
// request — a POST with a body too — still reaches a live one, whole, and the counts say who
// answered.
func TestBalancer_alternates_resendsTheBodyPastARefusingInstance_andCounts(t *testing.T) {
	t.Parallel()
	instance := func(name string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, name+" "+r.Method+" "+r.URL.Path+" "+string(b))
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	b, err := newBalancer("test", "127.0.0.1:0", []string{instance("a"), deadAddr, instance("b")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	seen := map[string]int{}
	for i := range 6 {
		resp, err := http.Post("http://"+b.addr()+"/v1/orders", "application/json", strings.NewReader(`{"n":1}`))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		name, rest, _ := strings.Cut(string(body), " ")
		if resp.StatusCode != http.StatusOK || rest != `POST /v1/orders {"n":1}` {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		seen[name]++
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("answered by %v, want both live instances", seen)
	}
	if c := b.counts(); c[0] != int64(seen["a"]) || c[1] != 0 || c[2] != int64(seen["b"]) {
		t.Errorf("counts %v, want %d, 0, %d", c, seen["a"], seen["b"])
	}
}
