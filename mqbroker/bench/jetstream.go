package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const jetstreamSystem = "NATS JetStream 2.15.2 (embedded, file store)"

// startJetStream starts an embedded NATS server with JetStream on file
// storage (default sync policy) in the bench process; its send scenarios
// publish with acknowledgement, for context.
func (b *bench) startJetStream() (*sendSystem, func(), error) {
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: filepath.Join(b.tmp, "jetstream"), NoLog: true, NoSigs: true,
	})
	if err != nil {
		return nil, nil, err
	}
	go s.Start()
	stop := func() {
		s.Shutdown()
		s.WaitForShutdown()
	}
	if !s.ReadyForConnections(10 * time.Second) {
		stop()
		return nil, nil, errors.New("not ready after 10s")
	}
	b.progress("started embedded NATS JetStream at %s", s.ClientURL())
	return &sendSystem{name: jetstreamSystem, kind: "jetstream",
		send: func(ctx context.Context, sc sendScenario) (loadResult, error) {
			return b.jetstreamSends(ctx, s.ClientURL(), sc)
		},
		scenario: func(sc sendScenario) string {
			switch sc.key {
			case "1":
				return "1 publisher"
			case "shared":
				return fmt.Sprintf("%d goroutines, 1 connection", sc.workers)
			}
			return fmt.Sprintf("%d publishers (connections)", sc.workers)
		}}, stop, nil
}

func (b *bench) jetstreamSends(ctx context.Context, url string, sc sendScenario) (loadResult, error) {
	nconn := 1
	if sc.separate {
		nconn = sc.workers
	}
	var conns []*nats.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	var streams []jetstream.JetStream
	for range nconn {
		nc, err := nats.Connect(url)
		if err != nil {
			return loadResult{}, fmt.Errorf("connect: %w", err)
		}
		conns = append(conns, nc)
		js, err := jetstream.New(nc)
		if err != nil {
			return loadResult{}, fmt.Errorf("jetstream: %w", err)
		}
		streams = append(streams, js)
	}
	stream := b.names.next("S")
	subject := "bench." + stream
	if _, err := streams[0].CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject},
		Storage: jetstream.FileStorage}); err != nil {
		return loadResult{}, fmt.Errorf("create stream: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = streams[0].DeleteStream(dctx, stream) // frees the disk for the next scenario
	}()
	msg := body(b.cfg.Size)
	sends := make([]sendFunc, sc.workers)
	for i := range sends {
		js := streams[i%len(streams)]
		sends[i] = func(ctx context.Context) error {
			_, err := js.Publish(ctx, subject, msg)
			return err
		}
	}
	r := measure(ctx, sends, b.cfg.Warmup, b.cfg.Duration)
	if r.count() == 0 {
		return r, fmt.Errorf("no publish succeeded in the window (%d errors, first: %w)", r.errs, errOrNone(r.firstErr))
	}
	return r, nil
}
