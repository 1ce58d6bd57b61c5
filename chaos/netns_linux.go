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
	ns     map[string]string // role → namespace name, set once this layout has created it
	links  []string          // host ends of veth pairs this layout created

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

// netIDs is how many layouts fit in 10.213.0.0/16 (three /30s each, in the third octet).
const netIDs = 80

// newNetLayout creates the namespaces and links under the first id from id on (mod 80) whose
// names no namespace or link holds yet, so that concurrent campaigns stay apart.
func newNetLayout(ctx context.Context, id int) (*netLayout, error) {
	if err := netnsSupported(); err != nil {
		return nil, err
	}
	free, err := freeNetID(ctx, id)
	if err != nil {
		return nil, err
	}
	return createNetLayout(ctx, free)
}

// freeNetID returns the first id from id on (mod netIDs) with no namespace or link of its names.
func freeNetID(ctx context.Context, id int) (int, error) {
	taken := map[string]bool{}
	for _, args := range [][]string{{"netns", "list"}, {"-o", "link", "show"}} {
		out, err := exec.CommandContext(ctx, "ip", args...).Output()
		if err != nil {
			return 0, fmt.Errorf("ip %s: %w", strings.Join(args, " "), err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			name := f[0]
			if args[0] == "-o" && len(f) > 1 { // "3: chs7bh@if2: <…>"
				name, _, _ = strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			}
			taken[name] = true
		}
	}
	for i := range netIDs {
		cand := ((id % netIDs) + netIDs + i) % netIDs
		prefix := "chs" + strconv.Itoa(cand)
		free := true
		for _, role := range netRoles {
			for _, name := range []string{prefix + role[:1], prefix + role[:1] + "h", prefix + role[:1] + "n"} {
				free = free && !taken[name]
			}
		}
		if free {
			return cand, nil
		}
	}
	return 0, fmt.Errorf("no free network layout id: all %d are in use (ip netns list)", netIDs)
}

// createNetLayout creates the layout id; on an error it removes only what it created.
func createNetLayout(ctx context.Context, id int) (*netLayout, error) {
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
		l.roles[role] = subnet + "2"
		for i, c := range cmds {
			if err := command(ctx, nil, "ip", c...); err != nil {
				l.remove()
				return nil, err
			}
			switch i {
			case 0:
				l.ns[role] = ns // ours from here on: remove deletes it
			case 1:
				l.links = append(l.links, host)
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
	time.AfterFunc(d, func() { _ = l.heal(table) }) // healed early by heal(""), which reports
	return errors.Join(errs...)
}

// heal deletes one partition's table (or, with table "", every one); an error for every
// table it could not delete.
func (l *netLayout) heal(table string) error {
	l.mu.Lock()
	tables := map[string][]string{}
	for t, nss := range l.live {
		if table == "" || t == table {
			tables[t] = nss
			delete(l.live, t)
		}
	}
	l.mu.Unlock()
	var errs []error
	for t, nss := range tables {
		for _, ns := range nss {
			errs = append(errs, command(context.Background(), nil, "ip", "netns", "exec", ns, "nft", "delete", "table", "ip", t))
		}
	}
	return errors.Join(errs...)
}

// remove deletes the namespaces this layout created (their ends of the veth pairs, and so the
// pairs) and the host ends of pairs it created that were not moved; never another's.
func (l *netLayout) remove() {
	for _, role := range netRoles {
		if ns := l.ns[role]; ns != "" {
			_ = command(context.Background(), nil, "ip", "netns", "del", ns)
		}
	}
	for _, link := range l.links {
		_ = command(context.Background(), nil, "ip", "link", "del", link) // gone with its namespace, unless the move failed
	}
	l.ns, l.links = map[string]string{}, nil
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
