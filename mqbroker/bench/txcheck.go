package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"golang.org/x/sync/errgroup"
)

// checkRecorder is the phase's transaction listener: every local
// transaction is Unknown; the first check-back of each half message is
// timed and answered Rollback (so there is no second one).
type checkRecorder struct {
	timeout time.Duration
	kick    chan struct{}

	mu     sync.Mutex // guards seen, lat, checks
	seen   map[string]bool
	lat    []time.Duration
	checks int
}

func (r *checkRecorder) ExecuteLocalTransaction(*primitive.Message) primitive.LocalTransactionState {
	return primitive.UnknowState
}

func (r *checkRecorder) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	now := time.Now()
	r.mu.Lock()
	r.checks++
	if !r.seen[m.MsgId] {
		r.seen[m.MsgId] = true
		r.lat = append(r.lat, now.Sub(time.UnixMilli(m.StoreTimestamp).Add(r.timeout)))
	}
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return primitive.RollbackMessageState
}

func (r *checkRecorder) counts() (distinct, checks int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen), r.checks
}

// txCheckPhase sends TxN half messages whose outcome is unknown and times
// the broker's check-backs.
func (b *bench) txCheckPhase(ctx context.Context, t *target) {
	rw := row{system: "mqbroker --flush " + t.flush,
		scenario: fmt.Sprintf("check-back of %d unknown half messages (tx-timeout %v)", b.cfg.TxN, b.cfg.TxTimeout),
		latKind:  "check-back", target: "(reported)"}
	t.rss.phase()
	lat, note, err := b.txCheckRun(ctx, t.namesrv)
	rw.rssMiB = t.rss.phase()
	rw.lat, rw.note, rw.err = lat, note, err
	b.progress("txcheck: %v, err %v", lat, err)
	b.rep.add(rw)
}

func (b *bench) txCheckRun(ctx context.Context, ns string) (latency, string, error) {
	n := b.cfg.TxN
	rec := &checkRecorder{timeout: b.cfg.TxTimeout, kick: make(chan struct{}, 1), seen: make(map[string]bool, n)}
	// Its own instance name: the check processor belongs to the instance's
	// first producer (PROTOCOL.md §4.4).
	p, err := rocketmq.NewTransactionProducer(rec,
		producer.WithNameServer([]string{ns}),
		producer.WithGroupName(b.names.next("tpg")),
		producer.WithInstanceName(b.names.next("tx")),
		producer.WithRetry(2),
	)
	if err != nil {
		return latency{}, "", fmt.Errorf("new transaction producer: %w", err)
	}
	if err := p.Start(); err != nil {
		return latency{}, "", fmt.Errorf("start transaction producer: %w", err)
	}
	defer p.Shutdown()
	topic := b.names.next("X")
	msg := body(b.cfg.Size)
	const workers = 4
	var next atomic.Int64
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for range workers {
		g.Go(func() error {
			for next.Add(1) <= int64(n) {
				res, err := p.SendMessageInTransaction(gctx, primitive.NewMessage(topic, msg))
				if err != nil {
					return fmt.Errorf("send half message: %w", err)
				}
				if res.Status != primitive.SendOK {
					return fmt.Errorf("half message status %d", res.Status)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return latency{}, "", err
	}
	sent := time.Since(start)
	b.progress("txcheck: %d half messages sent in %v; waiting for check-backs", n, sent.Round(time.Millisecond))
	limit := b.cfg.TxTimeout*3 + 30*time.Second
	if err := waitUntil(ctx, rec.kick, limit, func() bool { d, _ := rec.counts(); return d >= n }); err != nil {
		d, _ := rec.counts()
		return latency{}, "", fmt.Errorf("%d of %d half messages checked back: %w", d, n, err)
	}
	_, checks := rec.counts()
	rec.mu.Lock()
	lat := summarize(rec.lat)
	rec.mu.Unlock()
	note := fmt.Sprintf("halves sent at %.0f msg/s (%d goroutines, 1 transaction producer); %d checks for %d halves; "+
		"the listener answers Rollback; tx-check-interval %v", float64(n)/sent.Seconds(), workers, checks, n, b.cfg.TxTimeout)
	return lat, note, nil
}
