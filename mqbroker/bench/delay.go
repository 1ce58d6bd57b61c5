package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
)

// propLevel carries a delayed message's level to the consumer (the broker
// removes DELAY when it delivers).
const propLevel = "bench_level"

// delayPhase sends DelayN delayed messages spread over every level and
// measures how late each is consumed.
//
// A delivered delayed message is a new record: its StoreTimestamp is the
// delivery time, not the original store time. Lateness is therefore taken
// against the born time (client clock, same machine), an upper bound: the
// original store happened between born and the send's acknowledgement,
// which gives the lower bound reported in the note.
func (b *bench) delayPhase(ctx context.Context, t *target) {
	levels, _ := delay.ParseLevels(b.cfg.DelayLevels) // validated
	rw := row{system: "mqbroker --flush " + t.flush,
		scenario: fmt.Sprintf("%d delayed messages over levels %s", b.cfg.DelayN, b.cfg.DelayLevels),
		latKind:  "lateness", target: "p99 < 100 ms"}
	t.rss.phase()
	res, err := b.delayRun(ctx, t.namesrv, levels)
	rw.rssMiB = t.rss.phase()
	rw.err = err
	if err == nil {
		rw.lat = res.upper
		rw.pass = judge(true, res.upper.p99 < 100*time.Millisecond)
		rw.note = fmt.Sprintf("sent at %.0f msg/s (1 producer, SendAsync, %d in flight); "+
			"lower bound (ack time instead of born time) p50 %s p99 %s max %s ms; "+
			"broker part (delivery store time − due) p50 %s p99 %s max %s ms",
			res.sendRate, delayWindow, ms(res.lower.p50), ms(res.lower.p99), ms(res.lower.max),
			ms(res.broker.p50), ms(res.broker.p99), ms(res.broker.max))
	}
	b.progress("delay: lateness %v, err %v", res.upper, err)
	b.rep.add(rw)
}

type delayResult struct {
	upper, lower, broker latency
	sendRate             float64
}

type delivery struct {
	at             time.Time
	born, storedMs int64
	level          int
}

func (b *bench) delayRun(ctx context.Context, ns string, levels delay.Levels) (delayResult, error) {
	n := b.cfg.DelayN
	topic := b.names.next("D")
	var (
		mu     sync.Mutex // guards got, probes
		got    = make(map[string]delivery, n)
		probes int
		kick   = make(chan struct{}, 1)
	)
	listen := func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		now := time.Now()
		mu.Lock()
		for _, m := range msgs {
			lvl, err := strconv.Atoi(m.GetProperty(propLevel))
			if err != nil {
				probes++
				continue
			}
			if _, ok := got[m.MsgId]; !ok {
				got[m.MsgId] = delivery{at: now, born: m.BornTimestamp, storedMs: m.StoreTimestamp, level: lvl}
			}
		}
		mu.Unlock()
		select {
		case kick <- struct{}{}:
		default:
		}
		return consumer.ConsumeSuccess, nil
	}
	p, err := newProducer(ns, b.names)
	if err != nil {
		return delayResult{}, err
	}
	defer p.Shutdown()
	// A route lookup does not create a topic (as on Apache RocketMQ), so the
	// consumer could not start on a topic nothing was sent to: send first.
	if err := sendOne(p, topic, []byte("create"))(ctx); err != nil {
		return delayResult{}, fmt.Errorf("create topic: %w", err)
	}
	c, err := b.startConsumer(ns, topic, listen)
	if err != nil {
		return delayResult{}, err
	}
	defer c.Shutdown()

	// Wait until the consumer is pulling: a plain message must come through.
	if err := sendOne(p, topic, []byte("probe"))(ctx); err != nil {
		return delayResult{}, fmt.Errorf("probe: %w", err)
	}
	count := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(got), probes
	}
	if err := waitUntil(ctx, kick, 30*time.Second, func() bool { _, pr := count(); return pr > 0 }); err != nil {
		return delayResult{}, fmt.Errorf("consumer never received the probe: %w", err)
	}

	start := time.Now()
	b.progress("delay: sending %d delayed messages over %d levels (SendAsync, %d in flight)", n, len(levels), delayWindow)
	acks := make([]time.Time, n)
	ids := make([]string, n)
	if err := sendDelayedAsync(ctx, p, topic, body(b.cfg.Size), levels, acks, ids); err != nil {
		return delayResult{}, err
	}
	sendRate := float64(n) / lastAck(acks).Sub(start).Seconds()
	b.progress("delay: sent in %v (%.0f msg/s); waiting for delivery", lastAck(acks).Sub(start).Round(time.Millisecond), sendRate)
	limit := levels.Delay(len(levels)) + 30*time.Second
	if err := waitUntil(ctx, kick, limit, func() bool { g, _ := count(); return g >= n }); err != nil {
		g, _ := count()
		return delayResult{}, fmt.Errorf("consumed %d of %d delayed messages: %w", g, n, err)
	}

	mu.Lock()
	defer mu.Unlock()
	var upper, lower, brk []time.Duration
	for i, id := range ids {
		d, ok := got[id]
		if !ok {
			return delayResult{}, fmt.Errorf("delayed message %s (sent #%d) was not consumed", id, i)
		}
		lag := levels.Delay(d.level)
		upper = append(upper, d.at.Sub(time.UnixMilli(d.born).Add(lag)))
		lower = append(lower, d.at.Sub(acks[i].Add(lag)))
		brk = append(brk, time.UnixMilli(d.storedMs).Sub(time.UnixMilli(d.born).Add(lag)))
	}
	return delayResult{upper: summarize(upper), lower: summarize(lower), broker: summarize(brk), sendRate: sendRate}, nil
}

// delayWindow bounds the asynchronous sends in flight: deep enough to send
// fast, shallow enough that born time stays close to store time and that
// no send nears the client's fixed 3 s timeout.
const delayWindow = 64

// sendDelayedAsync sends len(acks) delayed messages, level i%len(levels)+1,
// recording each acknowledgement's time and message id.
func sendDelayedAsync(ctx context.Context, p rocketmq.Producer, topic string, msg []byte, levels delay.Levels, acks []time.Time, ids []string) error {
	sem := make(chan struct{}, delayWindow)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // guards firstErr
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	failed := func() error {
		mu.Lock()
		defer mu.Unlock()
		return firstErr
	}
	for i := range acks {
		if err := failed(); err != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		lvl := i%len(levels) + 1
		m := primitive.NewMessage(topic, msg)
		m.WithDelayTimeLevel(lvl)
		m.WithProperty(propLevel, strconv.Itoa(lvl))
		var once sync.Once
		wg.Add(1)
		release := func() { once.Do(func() { <-sem; wg.Done() }) }
		err := p.SendAsync(ctx, func(_ context.Context, res *primitive.SendResult, err error) {
			// v2.1.2 may call back twice on a timeout (then panics, PROTOCOL.md §4.2): once is enough.
			defer release()
			switch {
			case err != nil:
				fail(fmt.Errorf("send delayed message %d: %w", i, err))
			case res.Status != primitive.SendOK:
				fail(fmt.Errorf("send delayed message %d: status %d", i, res.Status))
			default:
				acks[i], ids[i] = time.Now(), res.MsgID
			}
		}, m)
		if err != nil {
			release()
			fail(fmt.Errorf("send delayed message %d: %w", i, err))
		}
	}
	wg.Wait()
	return failed()
}

func lastAck(acks []time.Time) time.Time {
	var last time.Time
	for _, a := range acks {
		if a.After(last) {
			last = a
		}
	}
	return last
}

var errTimeout = errors.New("timed out")

// waitUntil re-evaluates cond whenever kick fires (and every 100 ms) until it
// holds, ctx ends or the timeout passes.
func waitUntil(ctx context.Context, kick <-chan struct{}, timeout time.Duration, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%w after %v", errTimeout, timeout)
		case <-kick:
		case <-tick.C:
		}
	}
	return nil
}
