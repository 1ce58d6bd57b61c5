package main

import (
	"net"
	"os"
	"strings"
	"testing"
)

// freePorts returns five distinct free loopback ports for a stack.
func freePorts(t *testing.T) ports {
	t.Helper()
	var got []int
	for range 5 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() // held until all are chosen, so that they differ
		got = append(got, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports{namesrv: got[0], broker: got[1], admin: got[2], inventory: got[3], order: got[4]}
}

// testEnv is the environment the demo sees in tests: only the MySQL DSNs, when set (then the
// stack uses MySQL instead of SQLite files).
func testEnv(name string) string {
	if strings.HasPrefix(name, "DEMO_MYSQL_DSN_") {
		return os.Getenv(name)
	}
	return ""
}
