//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// netLayout is the campaign's network with -partitions netns (Linux, root): the broker, the
// inventory_srv instances and the order_srv instances each run in a network namespace of their
// own ("broker", "inventory", "order"), joined to the campaign's namespace by a veth pair, with
// a default route back through it. Every path between the namespaces goes through the
// campaign's proxies, which listen on the host end of the broker's pair (hostIP) — packets from
// a namespace to hostIP are delivered locally, never forwarded, so the host's firewall (Docker's
// FORWARD policy) does not see them. A partition loads an nft table into the namespaces of one
// side that drops every packet to and from the proxies of the other: a cut at the packet level,
// where TCP retransmits and times out as on a real network, until the table is deleted.
type netLayout struct {
	prefix string            // of the namespaces' and interfaces' names
	hostIP string            // the proxies' address, reachable from every namespace
	roles  map[string]string // role → its namespace's address
	ns     map[string]string // role → namespace name

	mu   sync.Mutex // guards seq, live
	seq  int
	live map[string][]string // nft table name → the namespaces that hold it
}

var netRoles = []string{"broker", "inventory", "order"}

// netnsSupported says whether -partitions netns can run here.
func netnsSupported() error {
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("-partitions netns needs %s (Debian: iproute2, nftables): %w", tool, err)
		}
	}
	return nil
}

// newNetLayout creates the namespaces and links; id (0–79) keeps concurrent campaigns apart.
func newNetLayout(ctx context.Context, id int) (*netLayout, error) {
	if err := netnsSupported(); err != nil {
		return nil, err
	}
	l := &netLayout{prefix: "chs" + strconv.Itoa(id), roles: map[string]string{}, ns: map[string]string{}, live: map[string][]string{}}
	for i, role := range netRoles {
		subnet := fmt.Sprintf("10.213.%d.", 3*id+i+1)
		ns, host, peer := l.prefix+role[:1], l.prefix+role[:1]+"h", l.prefix+role[:1]+"n"
		cmds := [][]string{
			{"netns", "add", ns},
			{"link", "add", host, "type", "veth", "peer", "name", peer},
			{"link", "set", peer, "netns", ns},
			{"addr", "add", subnet + "1/30", "dev", host},
			{"link", "set", host, "up"},
			{"-n", ns, "addr", "add", subnet + "2/30", "dev", peer},
			{"-n", ns, "link", "set", peer, "up"},
			{"-n", ns, "link", "set", "lo", "up"},
			{"-n", ns, "route", "add", "default", "via", subnet + "1"},
		}
		l.ns[role], l.roles[role] = ns, subnet+"2"
		for _, c := range cmds {
			if err := command(ctx, nil, "ip", c...); err != nil {
				l.remove()
				return nil, err
			}
		}
		if role == "broker" {
			l.hostIP = subnet + "1"
		}
	}
	return l, nil
}

// addr is role's address for port.
func (l *netLayout) addr(role string, port int) string {
	return l.roles[role] + ":" + strconv.Itoa(port)
}

// wrap runs bin with args in role's namespace (ip netns exec execs it: same process, same pid).
func (l *netLayout) wrap(role, bin string, args []string) (string, []string) {
	return "ip", append([]string{"netns", "exec", l.ns[role], bin}, args...)
}

// drop cuts roles from the proxies at ports for d: every TCP packet between the roles'
// namespaces and hostIP on those ports is dropped.
func (l *netLayout) drop(roles []string, ports []int, d time.Duration) error {
	l.mu.Lock()
	l.seq++
	table := "chaos_" + strconv.Itoa(l.seq)
	l.mu.Unlock()
	var ps []string
	for _, p := range ports {
		ps = append(ps, strconv.Itoa(p))
	}
	set := strings.Join(ps, ", ")
	rules := fmt.Sprintf(`table ip %s {
	chain out { type filter hook output priority 0; policy accept; ip daddr %s tcp dport { %s } drop; }
	chain in { type filter hook input priority 0; policy accept; ip saddr %s tcp sport { %s } drop; }
}
`, table, l.hostIP, set, l.hostIP, set)
	var nss []string
	var errs []error
	for _, role := range roles {
		if err := command(context.Background(), strings.NewReader(rules), "ip", "netns", "exec", l.ns[role], "nft", "-f", "-"); err != nil {
			errs = append(errs, err)
			continue
		}
		nss = append(nss, l.ns[role])
	}
	l.mu.Lock()
	l.live[table] = nss
	l.mu.Unlock()
	time.AfterFunc(d, func() { l.heal(table) })
	return errors.Join(errs...)
}

// heal deletes one partition's table (or, with table "", every one).
func (l *netLayout) heal(table string) {
	l.mu.Lock()
	tables := map[string][]string{}
	for t, nss := range l.live {
		if table == "" || t == table {
			tables[t] = nss
			delete(l.live, t)
		}
	}
	l.mu.Unlock()
	for t, nss := range tables {
		for _, ns := range nss {
			_ = command(context.Background(), nil, "ip", "netns", "exec", ns, "nft", "delete", "table", "ip", t)
		}
	}
}

// remove deletes the namespaces (their ends of the veth pairs, and so the pairs).
func (l *netLayout) remove() {
	for _, role := range netRoles {
		if ns := l.ns[role]; ns != "" {
			_ = command(context.Background(), nil, "ip", "netns", "del", ns)
		}
		_ = command(context.Background(), nil, "ip", "link", "del", l.prefix+role[:1]+"h") // if the move failed
	}
}

// command runs name with args (and stdin, if any) and returns its output in the error.
func command(ctx context.Context, stdin *strings.Reader, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
