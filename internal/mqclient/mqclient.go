// Package mqclient sets up the official RocketMQ Go client (github.com/apache/rocketmq-client-go/v2
// v2.1.2) the way every shopsaga service needs it, working around the client's traps (the
// client's issues #705, #728, #1102 and #1170 tell the stories):
//
//   - The client accepts only IP literals as name-server addresses; ResolveNameServers turns
//     "host:port;host2:port" (compose service names, DNS names) into "ip:port" entries. Resolve
//     again before each (re)start: a container's address changes when it is recreated.
//   - Producers and consumers of one process with the default instance name share one client
//     instance (one ClientID, one set of connections): a Shutdown of one can stop the others, two
//     consumers of one group cannot coexist, and transaction check-backs go to whichever of them
//     was created first. InstanceName gives each its own; NewPushConsumer always uses one.
//   - A panic in the client's goroutines (e.g. an async send timing out) kills the process
//     unless primitive.PanicHandler is set; the client also logs at info level through its own
//     logger. Setup configures both.
//
// The package has no state of its own. Setup changes the client's process-wide settings.
package mqclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// Setup quiets the client's logger to warnings and makes a panic in the client's goroutines a
// logged error instead of the end of the process. The settings are process-wide and read by the
// client's goroutines without synchronisation: call Setup once, before creating any producer or
// consumer (from run, or from TestMain).
func Setup(log *slog.Logger) {
	rlog.SetLogLevel("warn")
	primitive.PanicHandler = func(r any) {
		log.Error("rocketmq client: recovered a panic in a client goroutine", "panic", r, "stack", string(debug.Stack()))
	}
}

// SplitNameServers checks the syntax of a name-server list, "host:port" entries separated by
// ';' (the client's own separator) or ',', reporting every bad entry, and returns the entries
// trimmed of spaces. It resolves nothing.
func SplitNameServers(addrs string) ([]string, error) {
	var entries []string
	var errs []error
	for entry := range strings.FieldsFuncSeq(addrs, func(r rune) bool { return r == ';' || r == ',' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		host, port, err := net.SplitHostPort(entry)
		if err != nil {
			errs = append(errs, fmt.Errorf("name server %q: %w", entry, err))
			continue
		}
		if host == "" {
			errs = append(errs, fmt.Errorf("name server %q: missing host", entry))
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			errs = append(errs, fmt.Errorf("name server %q: port must be 1-65535", entry))
		}
		entries = append(entries, entry)
	}
	if len(entries) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no name server given"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return entries, nil
}

// ResolveNameServers turns a name-server list (see SplitNameServers) into "ip:port" entries the
// client accepts: IP literals are kept, host names are looked up with net.DefaultResolver and
// contribute every IPv4 address they have (their IPv6 ones only if they have no IPv4: the client
// identifies itself by an IPv4 address). The result has no duplicates.
func ResolveNameServers(ctx context.Context, addrs string) ([]string, error) {
	entries, err := SplitNameServers(addrs)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, entry := range entries {
		host, port, _ := net.SplitHostPort(entry) // checked by SplitNameServers
		ips, err := resolve(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("name server %q: %w", entry, err)
		}
		for _, ip := range ips {
			addr := net.JoinHostPort(ip.String(), port)
			if !seen[addr] {
				seen[addr] = true
				out = append(out, addr)
			}
		}
	}
	return out, nil
}

func resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	all, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	var v4, v6 []netip.Addr
	for _, ip := range all {
		if ip = ip.Unmap(); ip.Is4() {
			v4 = append(v4, ip)
		} else {
			v6 = append(v6, ip)
		}
	}
	if len(v4) > 0 {
		return v4, nil
	}
	if len(v6) > 0 {
		return v6, nil
	}
	return nil, fmt.Errorf("%s has no address", host)
}

// Reachable reports whether a TCP connection to at least one of the name servers can be made
// before ctx ends (the readiness probe of a service that uses the broker). addrs is a list as in
// SplitNameServers; host names are resolved.
func Reachable(ctx context.Context, addrs string) error {
	resolved, err := ResolveNameServers(ctx, addrs)
	if err != nil {
		return err
	}
	var d net.Dialer
	var errs []error
	for _, addr := range resolved {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// InstanceName returns a client instance name unique to this call, "<role>-<pid>-<random>", so
// that the producer or consumer it is given to gets a client instance of its own (see the package
// comment). Pass it with producer.WithInstanceName or consumer.WithInstance.
func InstanceName(role string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return fmt.Sprintf("%s-%d-%s", role, os.Getpid(), hex.EncodeToString(b))
}

// NewPushConsumer returns a clustering push consumer of group on the name servers nameServers
// (IP literals, see ResolveNameServers), with a client instance of its own (InstanceName(group)).
// opts are applied after those and may override them. Subscribe, then Start it; Shutdown it once.
func NewPushConsumer(nameServers []string, group string, opts ...consumer.Option) (rocketmq.PushConsumer, error) {
	if len(nameServers) == 0 {
		return nil, errors.New("push consumer: no name server")
	}
	base := []consumer.Option{
		consumer.WithNsResolver(primitive.NewPassthroughResolver(nameServers)),
		consumer.WithGroupName(group),
		consumer.WithInstance(InstanceName(group)),
		consumer.WithConsumerModel(consumer.Clustering),
	}
	c, err := rocketmq.NewPushConsumer(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("push consumer of group %s: %w", group, err)
	}
	return c, nil
}
