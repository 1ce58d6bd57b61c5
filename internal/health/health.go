// Package health holds the liveness and readiness pieces both services share: named readiness
// checks run under one deadline, and the probe behind each program's `healthcheck`
// sub-command (the images are FROM scratch: no shell, no curl). It imports no service code.
package health

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Check is one readiness condition, e.g. "database" pinging the pool.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Failures runs every check within ctx and describes the failed ones as "name: error".
func Failures(ctx context.Context, checks []Check) []string {
	var failed []string
	for _, c := range checks {
		if err := c.Func(ctx); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", c.Name, err))
		}
	}
	return failed
}

// LocalURL is the /healthz URL of a server listening on listenAddr, as seen from the same
// machine: a specific listen IP is kept, an empty or unspecified one becomes 127.0.0.1.
func LocalURL(listenAddr string) (string, error) {
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port", listenAddr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}

// Probe GETs url within 3 s and fails unless it answers 200.
func Probe(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	return nil
}
