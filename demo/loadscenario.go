package main

import (
	"context"
	"strings"
	"time"

	"github.com/shopsaga/shopsaga/loadgen/load"
)

// loadGoodsBase is the first goods id of scenario 6: its own goods, away from the demo's (whose
// stock the closing checks count) and from loadgen's default 900000 (an unpaid order of the demo
// closed later would return stock to a loadgen run's goods).
const loadGoodsBase = 800000

// underLoad: many buyers at once through loadgen's engine (package load), then the stock invariant
// over every order they created.
func (p *play) underLoad(ctx context.Context) error {
	n, c := p.n, p.st.cfg
	cfg := load.DefaultConfig()
	cfg.OrderURL, cfg.InventoryURL = p.a.order, p.a.inventory
	cfg.Token = p.a.token
	cfg.GoodsBase, cfg.SKUs, cfg.Stock = loadGoodsBase, 4, 100_000
	cfg.Concurrency, cfg.Duration = c.loadBuyers, c.loadDuration
	cfg.PayRatio, cfg.FaultRatio = 0.5, 0.1
	cfg.Seed = uint64(time.Now().UnixNano())
	n.stepf("goods #%d…#%d, %d pieces each (not the demo's); %d buyers POST /v1/orders for %s, one random goods each;",
		cfg.GoodsBase, cfg.GoodsBase+int64(cfg.SKUs)-1, cfg.Stock, cfg.Concurrency, fmtDuration(cfg.Duration))
	n.detail("half of the created orders are paid, 10 %% carry X-Fault: fail-local-tx (503, stock returned through the broker)")

	var prog *load.Progress
	if load.IsTerminal(n.w) {
		prog = load.NewProgress(n.w, load.ProgressTTY)
	}
	r, err := load.Run(ctx, cfg, prog)
	if r == nil {
		return err
	}
	n.stepf("the load, as go run ./loadgen prints it (seed %d):", cfg.Seed)
	for _, l := range strings.Split(strings.TrimSpace(r.Summary()), "\n") {
		if strings.HasPrefix(l, "|") || strings.HasPrefix(l, "- ") || strings.HasPrefix(l, "First errors") {
			n.detail("%s", l)
		}
	}
	mark := "✓"
	if !n.expect(r.InvariantOK, "the stock invariant to hold on the load's goods, got %s", r.Invariant) {
		mark = "✗"
	}
	n.stepf("stock invariant: for each of the %d goods, initial − remaining = the pieces of its live orders (the 503s' stock came back): %s %s",
		cfg.SKUs, r.Invariant, mark)
	n.expect(r.Created > 0, "orders created under load")
	if err != nil && r.InvariantOK {
		n.expect(false, "a clean run, got %v", err)
	}
	return nil
}
