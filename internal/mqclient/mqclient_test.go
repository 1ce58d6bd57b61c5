package mqclient

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
)

func TestSplitNameServers(t *testing.T) {
	t.Parallel()
	got, err := SplitNameServers("mq:9876; 10.0.0.1:9876,[::1]:9876")
	if err != nil || !slices.Equal(got, []string{"mq:9876", "10.0.0.1:9876", "[::1]:9876"}) {
		t.Errorf("SplitNameServers = %q, %v", got, err)
	}
	for in, wantErr := range map[string]string{
		"":                     "no name server",
		" ; ":                  "no name server",
		"mq":                   "missing port",
		":9876":                "missing host",
		"mq:0":                 "port must be",
		"mq:x;nohost:99999":    "port must be", // every problem is reported
		"mq:9876;also-bad":     "missing port",
		"http://mq:9876/x;y:1": "too many colons",
	} {
		_, err := SplitNameServers(in)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("SplitNameServers(%q) = %v, want an error containing %q", in, err, wantErr)
		}
	}
	_, err = SplitNameServers("mq:x;nohost:99999")
	if n := strings.Count(err.Error(), "port must be"); n != 2 {
		t.Errorf("SplitNameServers reported %d of 2 problems: %v", n, err)
	}
}

func TestResolveNameServers_givesIPLiterals(t *testing.T) {
	t.Parallel()
	got, err := ResolveNameServers(context.Background(), "localhost:9876;127.0.0.1:9876;[::ffff:10.1.2.3]:1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1:9876", "10.1.2.3:1"} // localhost's IPv4, deduplicated; mapped IPv6 unmapped
	if !slices.Equal(got, want) {
		t.Errorf("ResolveNameServers = %q, want %q", got, want)
	}
	if _, err := ResolveNameServers(context.Background(), "no-such-host.invalid:9876"); err == nil {
		t.Error("an unknown host resolved")
	}
}

func TestReachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	ctx := context.Background()
	if err := Reachable(ctx, closedAddr+";"+ln.Addr().String()); err != nil {
		t.Errorf("one of two reachable: %v", err)
	}
	if err := Reachable(ctx, closedAddr); err == nil {
		t.Error("a closed port was reachable")
	}
}

func TestInstanceName_isUniquePerCall(t *testing.T) {
	t.Parallel()
	a, b := InstanceName("reback"), InstanceName("reback")
	if a == b || !strings.HasPrefix(a, "reback-") {
		t.Errorf("InstanceName gave %q and %q", a, b)
	}
}

func TestNewPushConsumer_twoOfOneGroupInOneProcess(t *testing.T) {
	t.Parallel()
	// Without distinct instance names both would share one client instance and the second
	// Start would fail with "consumer group exist already".
	for range 2 {
		if _, err := NewPushConsumer([]string{"127.0.0.1:9876"}, "g"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := NewPushConsumer(nil, "g"); err == nil {
		t.Error("a consumer without name server was built")
	}
}
