package load

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// maxMismatchRows bounds the per-SKU table of a failed invariant.
const maxMismatchRows = 20

// Summary renders the result as markdown: a title, one table of metrics and, when the
// invariant failed, one row per differing SKU, then the first errors, if any.
func (r *Result) Summary() string {
	b := &strings.Builder{}
	c, t := r.cfg, r.t
	sent := r.Sent
	fmt.Fprintf(b, "\n## loadgen: %d SKU(s) × stock %d, %d workers, %d orders in %s (seed %d)\n\n",
		c.SKUs, c.Stock, c.Concurrency, sent, formatLatency(r.Elapsed), c.Seed)
	row := func(k, format string, args ...any) { fmt.Fprintf(b, "| %s | %s |\n", k, fmt.Sprintf(format, args...)) }
	fmt.Fprintln(b, "| metric | value |")
	fmt.Fprintln(b, "|---|---|")
	row("orders/s", "%.1f", r.OrdersPerSecond())
	row("created/s", "%.1f", r.perSecond(r.Created))
	row("latency p50", "%s", formatLatency(r.P50))
	row("latency p99", "%s", formatLatency(r.P99))
	row("latency max", "%s", formatLatency(r.Max))
	row("orders sent", "%d", sent)
	row("created", "%d", t.created.Load())
	row("out of stock", "%d", t.outOfStock.Load())
	t.mu.Lock()
	row("failed", "%d%s", t.failed.Load(), breakdown(t.failedBy))
	samples := slices.Clone(t.errSamples)
	t.mu.Unlock()
	row("errors (no answer)", "%d", t.errors.Load())
	if c.FaultRatio > 0 {
		row("faults injected", "%d (fail-local-tx)", t.injected.Load())
	}
	if c.PayRatio > 0 {
		row("paid", "%d (%d payments failed)", t.paid.Load(), t.payErrors.Load())
	}
	inv := r.inv
	switch {
	case r.Interrupted:
		row("invariant", "not checked: interrupted")
	default:
		if inv.found+inv.noOrder+inv.unknowns > 0 {
			row("unknown outcomes", "%d order(s) found, %d without an order, %d unreadable", inv.found, inv.noOrder, inv.unknowns)
		}
		if inv.closed > 0 {
			row("closed by timeout", "%d", inv.closed)
		}
		row("invariant", "%s", inv)
	}
	if !r.Interrupted && !inv.ok && len(inv.mismatch) > 0 {
		fmt.Fprintln(b, "\n| goods_id | initial | remaining | held by orders | missing (+) / extra (−) |")
		fmt.Fprintln(b, "|---|---|---|---|---|")
		for _, s := range inv.mismatch[:min(len(inv.mismatch), maxMismatchRows)] {
			fmt.Fprintf(b, "| %d | %d | %d | %d | %+d |\n", s.id, s.initial, s.remaining, s.held, s.diff())
		}
		if n := len(inv.mismatch) - maxMismatchRows; n > 0 {
			fmt.Fprintf(b, "\n… and %d more SKU(s).\n", n)
		}
	}
	if len(samples) > 0 {
		fmt.Fprintln(b, "\nFirst errors:")
		for _, s := range samples {
			fmt.Fprintf(b, "- %s\n", strings.ReplaceAll(s, "\n", " "))
		}
	}
	return b.String()
}

// breakdown formats counts by key, e.g. " (503 unavailable: 3, 500 internal: 1)".
func breakdown(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
