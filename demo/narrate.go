package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// narrator writes the demo's story: numbered scenarios and steps, each with the time since the
// demo began, and the expectations that did not hold. It is used by one goroutine.
type narrator struct {
	w        io.Writer
	start    time.Time
	scenario int
	step     int
	failures int // in the current scenario
}

func newNarrator(w io.Writer) *narrator { return &narrator{w: w, start: time.Now()} }

// line writes a line without a step number.
func (n *narrator) line(format string, args ...any) {
	fmt.Fprintf(n.w, format+"\n", args...)
}

// since is the time since the demo began, for the narration: "+12.3s".
func (n *narrator) since(t time.Time) string {
	return fmt.Sprintf("+%.1fs", t.Sub(n.start).Seconds())
}

func (n *narrator) intro() {
	n.line("shopsaga demo: the saga of ARCHITECTURE.md, played by mqbroker, inventory_srv and order_srv")
	n.line("as processes on this machine.")
}

// stackUp describes the running stack.
func (n *narrator) stackUp(st *stack) {
	p := st.cfg.ports
	db := "SQLite files in " + st.dataDir
	if st.cfg.mysql() {
		db = "MySQL (the DSNs given)"
	}
	n.line("Started; databases: %s; logs in %s:", db, st.logDir)
	n.line("  mqbroker       name server 127.0.0.1:%d, broker 127.0.0.1:%d, admin API %s", p.namesrv, p.broker, st.api.admin)
	n.line("                 half messages are checked back %s after they were stored, then every %s (defaults: 6s, 1m);",
		fmtDuration(st.cfg.txTimeout), fmtDuration(st.cfg.txCheckInterval))
	n.line("                 delay levels %d× shorter than RocketMQ's: level %d (payment timeout) = %s instead of %s",
		st.cfg.speedup, payTimeoutLevel, fmtDuration(levelDelay(st.levels, payTimeoutLevel)), fmtDuration(defaultLevelDelay(payTimeoutLevel)))
	n.line("  inventory_srv  %s", st.api.inventory)
	n.line("  order_srv      %s  (ORDER_FAULTS=1: the X-Fault header injects failures; ORDER_PAY_TIMEOUT_LEVEL=%d)", st.api.order, payTimeoutLevel)
	for _, b := range st.balancers {
		n.line("                 %s's address is a round-robin balancer over %d instances: %s", b.name, len(b.targets), strings.Join(b.targets, ", "))
	}
}

// balanced tells how many requests each instance behind a balancer answered.
func (n *narrator) balanced(st *stack) {
	for _, b := range st.balancers {
		var parts []string
		for i, c := range b.counts() {
			parts = append(parts, fmt.Sprintf("%s_%d %d", b.name, i+1, c))
		}
		n.line("Requests answered through the %s balancer: %s", b.name, strings.Join(parts, ", "))
	}
}

// beginScenario starts the next numbered scenario, or, with an empty title, the closing checks.
func (n *narrator) beginScenario(title string) {
	n.scenario++
	n.step, n.failures = 0, 0
	n.line("")
	if title == "" {
		n.line("Finally — what must hold now: no undecided half message, and sold + remaining = initial")
		return
	}
	n.line("Scenario %d — %s", n.scenario, title)
}

// stepf writes the next numbered step, stamped with the time since the demo began.
func (n *narrator) stepf(format string, args ...any) {
	n.step++
	fmt.Fprintf(n.w, "%7s %s %s\n", n.since(time.Now()), circled(n.step), fmt.Sprintf(format, args...))
}

// detail writes a line that belongs to the last step.
func (n *narrator) detail(format string, args ...any) {
	fmt.Fprintf(n.w, "%7s   %s\n", "", fmt.Sprintf(format, args...))
}

// expect records an expectation; a failed one is written as a ✗ line. It returns ok.
func (n *narrator) expect(ok bool, format string, args ...any) bool {
	if !ok {
		n.failures++
		fmt.Fprintf(n.w, "%7s ✗ expected %s\n", "", fmt.Sprintf(format, args...))
	}
	return ok
}

// endScenario closes a scenario; err is a step that could not be played. It reports whether
// everything went as expected.
func (n *narrator) endScenario(err error) bool {
	if err != nil {
		n.failures++
		fmt.Fprintf(n.w, "%7s ✗ %v\n", "", err)
	}
	if n.failures > 0 {
		n.line("%7s ✗ %d expectation(s) failed", "", n.failures)
		return false
	}
	n.line("%7s ✓ as expected", "")
	return true
}

// explore tells how to use the stack that stays running.
func (n *narrator) explore(st *stack) {
	p := st.cfg.ports
	rel := func(path string) string {
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
				return r
			}
		}
		return path
	}
	n.line("")
	n.line("The stack is running:")
	n.line("  order_srv      %s", st.api.order)
	n.line("  inventory_srv  %s", st.api.inventory)
	n.line("  mqbroker       name server 127.0.0.1:%d, admin API %s", p.namesrv, st.api.admin)
	n.line("  logs           %s", rel(st.logDir))
	n.line("Tokens (fresh secrets each run; also in %s — `. %s`):", rel(st.tokens), rel(st.tokens))
	n.line("  export TOKEN=%s        # user %d, as in README.md", st.secrets.user, readmeUser)
	n.line("  export ADMIN_TOKEN=%s  # scopes admin and service", st.secrets.admin)
	n.line("Try:")
	n.line("  curl -s '%s/v1/goods?ids=1001,1002,1003,1004'", st.api.inventory)
	n.line("  curl -s -H \"Authorization: Bearer $ADMIN_TOKEN\" '%s/v1/orders?user_id=%d'", st.api.order, demoUser)
	n.line("  curl -s '%s/api/messages?key=<order_sn>'     # every copy the broker stored for an order", st.api.admin)
	n.line("  curl -s %s/api/transactions                 # undecided half messages", st.api.admin)
	n.line("  LOADGEN_TOKEN=$ADMIN_TOKEN go run ./loadgen --order-url %s --inventory-url %s --duration 10s   # more load, like scenario 6", st.api.order, st.api.inventory)
	n.line("  (README.md, \"The API, with curl\", has more.)")
	n.line("Ctrl-C to stop.")
}

// circled numbers steps ①…⑳, then (21)….
func circled(i int) string {
	if i >= 1 && i <= 20 {
		return string(rune('①' + i - 1))
	}
	return fmt.Sprintf("(%d)", i)
}

// money formats cents as 12.34.
func money(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

// short abbreviates a long id for the narration: 2026…3591.
func short(id string) string {
	if len(id) <= 12 {
		return id
	}
	return id[:4] + "…" + id[len(id)-6:]
}
