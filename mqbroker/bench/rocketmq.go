package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// namer gives unique topic, group and instance names. Distinct instance
// names matter: the client shares one connection set per instance name
// within a process (PROTOCOL.md §4.1).
type namer struct {
	pid int
	seq atomic.Int64
}

func newNamer() *namer { return &namer{pid: os.Getpid()} }

func (n *namer) next(prefix string) string {
	return fmt.Sprintf("bench_%s_%d_%d", prefix, n.pid, n.seq.Add(1))
}

func newProducer(ns string, names *namer, opts ...producer.Option) (rocketmq.Producer, error) {
	all := append([]producer.Option{
		producer.WithNameServer([]string{ns}),
		producer.WithGroupName(names.next("pg")),
		producer.WithInstanceName(names.next("p")),
		producer.WithRetry(2),
	}, opts...)
	p, err := rocketmq.NewProducer(all...)
	if err != nil {
		return nil, fmt.Errorf("new producer: %w", err)
	}
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("start producer: %w", err)
	}
	return p, nil
}

func body(size int) []byte { return bytes.Repeat([]byte("m"), size) }

// sendOne is a sendFunc doing SendSync of one message.
func sendOne(p rocketmq.Producer, topic string, b []byte) sendFunc {
	return func(ctx context.Context) error {
		res, err := p.SendSync(ctx, primitive.NewMessage(topic, b))
		if err != nil {
			return err
		}
		if res.Status != primitive.SendOK {
			return fmt.Errorf("send status %d", res.Status)
		}
		return nil
	}
}

// sendScenario is one shape of producer concurrency.
type sendScenario struct {
	key      string // stable id, to match a scenario with its ceiling
	name     string
	workers  int  // goroutines sending back to back
	separate bool // one producer instance per goroutine (else one shared)
}

func sendScenarios(concurrency int) []sendScenario {
	return []sendScenario{
		{"1", "1 producer", 1, false},
		{"shared", fmt.Sprintf("%d goroutines, 1 producer", concurrency), concurrency, false},
		{"separate", fmt.Sprintf("%d producer instances", concurrency), concurrency, true},
	}
}

// rocketmqSends measures one send scenario against the name server ns.
func (b *bench) rocketmqSends(ctx context.Context, ns string, sc sendScenario) (loadResult, error) {
	topic := b.names.next("T")
	nprod := 1
	if sc.separate {
		nprod = sc.workers
	}
	var prods []rocketmq.Producer
	defer func() {
		for _, p := range prods {
			_ = p.Shutdown()
		}
	}()
	for range nprod {
		p, err := newProducer(ns, b.names)
		if err != nil {
			return loadResult{}, err
		}
		prods = append(prods, p)
	}
	msg := body(b.cfg.Size)
	sends := make([]sendFunc, sc.workers)
	for i := range sends {
		sends[i] = sendOne(prods[i%len(prods)], topic, msg)
	}
	r := measure(ctx, sends, b.cfg.Warmup, b.cfg.Duration)
	if r.count() == 0 {
		return r, fmt.Errorf("no send succeeded in the window (%d errors, first: %w)", r.errs, errOrNone(r.firstErr))
	}
	return r, nil
}

func errOrNone(err error) error {
	if err == nil {
		return errors.New("none")
	}
	return err
}
