package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"golang.org/x/sync/errgroup"
)

// consumerOptions are the tuned push-consumer options every consuming phase uses.
func (b *bench) consumerOptions(ns string) []consumer.Option {
	return []consumer.Option{
		consumer.WithNameServer([]string{ns}),
		consumer.WithGroupName(b.names.next("cg")),
		consumer.WithInstance(b.names.next("c")),
		consumer.WithConsumerModel(consumer.Clustering),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		consumer.WithPullBatchSize(int32(b.cfg.PullBatch)),
		consumer.WithConsumeMessageBatchMaxSize(b.cfg.ConsumeBatch),
		consumer.WithConsumeGoroutineNums(b.cfg.ConsumeGoroutines),
		consumer.WithPullThresholdForQueue(int64(b.cfg.PullThreshold)),
	}
}

func (b *bench) consumerSummary() string {
	return fmt.Sprintf("PullBatchSize %d, ConsumeMessageBatchMaxSize %d, ConsumeGoroutineNums %d, PullThresholdForQueue %d",
		b.cfg.PullBatch, b.cfg.ConsumeBatch, b.cfg.ConsumeGoroutines, b.cfg.PullThreshold)
}

// consumePhase pre-loads ConsumeN messages and measures one push consumer draining them.
func (b *bench) consumePhase(ctx context.Context, t *target) {
	rw := row{system: "mqbroker --flush " + t.flush,
		scenario: fmt.Sprintf("push consume %d pre-loaded (%d queues, 1 consumer)", b.cfg.ConsumeN, b.cfg.Queues),
		target:   "≥ 100,000 msg/s"}
	t.rss.phase()
	topic := b.names.next("C")
	if err := b.preload(ctx, t.namesrv, topic, b.cfg.ConsumeN); err != nil {
		rw.err = fmt.Errorf("pre-load: %w", err)
		b.rep.add(rw)
		return
	}
	b.progress("consume: draining %d messages (%s)", b.cfg.ConsumeN, b.consumerSummary())
	res, err := b.drain(ctx, t.namesrv, topic, b.cfg.ConsumeN)
	rw.rssMiB = t.rss.phase()
	rw.err = err
	if err == nil {
		rw.rate = res.rate
		rw.pass = judge(true, res.rate >= 100_000)
		rw.note = fmt.Sprintf("rate from first to last message; %.0f ms from Start to the first message, %.0f msg/s including it; "+
			"%d duplicate deliveries; %s", res.startup.Seconds()*1000, res.withStartup, res.dups, b.consumerSummary())
	}
	b.progress("consume: %.0f msg/s (%.0f msg/s including start-up), err %v", res.rate, res.withStartup, err)
	b.rep.add(rw)
}

// preload stores n messages in topic with batch sends from a few goroutines.
func (b *bench) preload(ctx context.Context, ns, topic string, n int) error {
	p, err := newProducer(ns, b.names)
	if err != nil {
		return err
	}
	defer p.Shutdown()
	const batch, workers = 64, 4
	msg := body(b.cfg.Size)
	var next atomic.Int64
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for range workers {
		g.Go(func() error {
			for {
				from := next.Add(batch) - batch
				if from >= int64(n) {
					return nil
				}
				k := min(batch, int64(n)-from)
				msgs := make([]*primitive.Message, k)
				for i := range msgs {
					msgs[i] = primitive.NewMessage(topic, msg)
				}
				res, err := p.SendSync(gctx, msgs...)
				if err != nil {
					return fmt.Errorf("batch send: %w", err)
				}
				if res.Status != primitive.SendOK {
					return fmt.Errorf("batch send status %d", res.Status)
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	el := time.Since(start)
	b.progress("consume: pre-loaded %d messages in %v (%.0f msg/s, batches of %d)", n, el.Round(time.Millisecond), float64(n)/el.Seconds(), batch)
	return nil
}

type drainResult struct {
	rate, withStartup float64
	startup           time.Duration
	dups              int
}

// drain consumes topic from its first offset until n distinct messages arrived.
func (b *bench) drain(ctx context.Context, ns, topic string, n int) (drainResult, error) {
	var (
		mu      sync.Mutex // guards seen, dups, first, last
		seen    = make(map[int64]struct{}, n)
		dups    int
		first   time.Time
		last    time.Time
		done    = make(chan struct{})
		started = time.Now()
	)
	listen := func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if first.IsZero() {
			first = now
		}
		for _, m := range msgs {
			k := int64(m.Queue.QueueId)<<40 | m.QueueOffset
			if _, ok := seen[k]; ok {
				dups++
				continue
			}
			seen[k] = struct{}{}
			if len(seen) == n {
				last = now
				close(done)
			}
		}
		return consumer.ConsumeSuccess, nil
	}
	c, err := b.startConsumer(ns, topic, listen)
	if err != nil {
		return drainResult{}, err
	}
	defer c.Shutdown()
	timeout := max(60*time.Second, time.Duration(n/5000)*time.Second)
	select {
	case <-done:
	case <-ctx.Done():
		return drainResult{}, ctx.Err()
	case <-time.After(timeout):
		mu.Lock()
		got := len(seen)
		mu.Unlock()
		return drainResult{}, fmt.Errorf("consumed %d of %d messages in %v", got, n, timeout)
	}
	mu.Lock()
	defer mu.Unlock()
	return drainResult{
		rate:        float64(n) / last.Sub(first).Seconds(),
		withStartup: float64(n) / last.Sub(started).Seconds(),
		startup:     first.Sub(started),
		dups:        dups,
	}, nil
}

func (b *bench) startConsumer(ns, topic string, listen func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error)) (rocketmq.PushConsumer, error) {
	c, err := rocketmq.NewPushConsumer(b.consumerOptions(ns)...)
	if err != nil {
		return nil, fmt.Errorf("new consumer: %w", err)
	}
	if err := c.Subscribe(topic, consumer.MessageSelector{}, listen); err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start consumer: %w", err)
	}
	return c, nil
}
