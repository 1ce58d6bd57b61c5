//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestNetLayout_dropCutsPacketsOfOneNamespace_untilHealed: from the order namespace an echo
// on the host answers; while nft drops the order namespace's packets to that port it does not
// (the connection times out), while the inventory namespace still gets its answer; after the
// heal the order namespace gets it again. Root and Linux only (skipped otherwise).
func TestNetLayout_dropCutsPacketsOfOneNamespace_untilHealed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if err := netnsSupported(); err != nil {
		t.Skip(err)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("the client in the namespace is bash's /dev/tcp")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := newNetLayout(ctx, 79)
	if err != nil {
		t.Fatal(err)
	}
	defer l.remove()
	target, _ := echoServerOn(t, l.hostIP)
	_, port, _ := net.SplitHostPort(target)
	host := l.hostIP
	echo := func(role string) (string, error) {
		script := fmt.Sprintf(`exec 3<>/dev/tcp/%s/%s && printf ping >&3 && read -r -t 2 -n 4 x <&3 && printf %%s "$x"`, host, port)
		out, err := exec.CommandContext(ctx, "timeout", "3", "ip", "netns", "exec", l.ns[role], "bash", "-c", script).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if got, err := echo("order"); err != nil || got != "ping" {
		t.Fatalf("before the partition: %q, %v", got, err)
	}
	var p int
	fmt.Sscan(port, &p)
	if err := l.drop([]string{"order"}, []int{p}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := echo("order"); err == nil {
		t.Errorf("during the partition: %q, want no answer", got)
	}
	if got, err := echo("inventory"); err != nil || got != "ping" {
		t.Errorf("another namespace during the partition: %q, %v; want its answer", got, err)
	}
	l.heal("")
	if got, err := echo("order"); err != nil || got != "ping" {
		t.Errorf("after healing: %q, %v", got, err)
	}
}
