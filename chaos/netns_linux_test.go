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
	needNetns(t)
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
	if err := l.heal(""); err != nil {
		t.Fatal(err)
	}
	if got, err := echo("order"); err != nil || got != "ping" {
		t.Errorf("after healing: %q, %v", got, err)
	}
}

// needNetns skips unless root with ip and nft.
func needNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if err := netnsSupported(); err != nil {
		t.Skip(err)
	}
}

func netnsExists(t *testing.T, name string) bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// TestReview_netLayoutNeverRemovesANamespaceItDidNotCreate: with another campaign's namespace
// under the names of id 79, a layout asked for 79 takes a free id, and one forced onto 79 fails
// — neither deletes the other's namespace.
func TestReview_netLayoutNeverRemovesANamespaceItDidNotCreate(t *testing.T) {
	needNetns(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const foreign = "chs79b"
	if !netnsExists(t, foreign) {
		if err := command(ctx, nil, "ip", "netns", "add", foreign); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = command(context.Background(), nil, "ip", "netns", "del", foreign) }()
	}
	if _, err := createNetLayout(ctx, 79); err == nil {
		t.Error("a layout onto existing names: no error")
	}
	if !netnsExists(t, foreign) {
		t.Fatalf("the failed layout removed %s, which it did not create", foreign)
	}
	l, err := newNetLayout(ctx, 79)
	if err != nil {
		t.Fatal(err)
	}
	if l.prefix == "chs79" {
		t.Errorf("layout took the used id 79")
	}
	own := l.ns["broker"]
	l.remove()
	if !netnsExists(t, foreign) {
		t.Errorf("remove deleted %s, which it did not create", foreign)
	}
	if netnsExists(t, own) {
		t.Errorf("remove left its own %s", own)
	}
}

// TestReview_healAllRemovesEveryPartitionAndReportsErrors: heal("") deletes every live
// partition's table at once (not left to its timer) and reports the ones it could not delete.
func TestReview_healAllRemovesEveryPartitionAndReportsErrors(t *testing.T) {
	needNetns(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := newNetLayout(ctx, 78)
	if err != nil {
		t.Fatal(err)
	}
	defer l.remove()
	if err := l.drop([]string{"order", "inventory"}, []int{1}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := l.drop([]string{"order"}, []int{2}, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Someone else deleted one table: healing it fails, and says so.
	if err := command(ctx, nil, "ip", "netns", "exec", l.ns["inventory"], "nft", "delete", "table", "ip", "chaos_1"); err != nil {
		t.Fatal(err)
	}
	err = l.heal("")
	if err == nil || !strings.Contains(err.Error(), l.ns["inventory"]) {
		t.Errorf("heal: %v, want the failure in %s", err, l.ns["inventory"])
	}
	for _, role := range []string{"order", "inventory"} {
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", l.ns[role], "nft", "list", "tables").CombinedOutput()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "chaos_") {
			t.Errorf("%s after heal: %s", role, out)
		}
	}
	if err := l.heal(""); err != nil {
		t.Errorf("second heal: %v, want nothing left to heal", err)
	}
}
