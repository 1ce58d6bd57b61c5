// Package brokertest starts an in-process mqbroker (name server + broker)
// for tests, like net/http/httptest: on 127.0.0.1 with random ports and a
// temporary data directory, stopped when the test ends.
//
//	b := brokertest.Start(t, brokertest.WithDelayLevels("1s 2s"))
//	p, _ := rocketmq.NewProducer(producer.WithNameServer([]string{b.NamesrvAddr()}))
package brokertest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/clock"
	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
	"github.com/shopsaga/shopsaga/mqbroker/internal/store"
)

// Option adjusts the broker's configuration.
type Option func(*broker.Config)

// WithDelayLevels replaces the delay-level table ("1s 2s 3s ...").
func WithDelayLevels(levels string) Option {
	return func(c *broker.Config) { c.DelayLevels = delay.MustParse(levels) }
}

// WithTxTimeout sets the age at which an undecided half message is first checked back.
func WithTxTimeout(d time.Duration) Option { return func(c *broker.Config) { c.TxTimeout = d } }

// WithTxCheckInterval sets the pause between check-backs of one half message.
func WithTxCheckInterval(d time.Duration) Option {
	return func(c *broker.Config) { c.TxCheckInterval = d }
}

// WithTxCheckMax sets how many check-backs a half message gets.
func WithTxCheckMax(n int) Option { return func(c *broker.Config) { c.TxCheckMax = n } }

// WithSyncFlush makes every send wait for fsync (group commit).
func WithSyncFlush() Option { return func(c *broker.Config) { c.Flush = store.FlushSync } }

// WithDefaultQueues sets the queue count of auto-created topics.
func WithDefaultQueues(n int) Option { return func(c *broker.Config) { c.DefaultQueues = n } }

// WithDataDir uses dir instead of a fresh temporary directory (to restart
// a broker on the data of a previous one).
func WithDataDir(dir string) Option { return func(c *broker.Config) { c.DataDir = dir } }

// WithClock drives the broker's schedulers (delays, check-backs) and store
// timestamps from clk, e.g. a *clock.Fake.
func WithClock(clk clock.Clock) Option { return func(c *broker.Config) { c.Clock = clk } }

// WithAdmin serves the HTTP admin API on a random port (see AdminURL).
func WithAdmin() Option { return func(c *broker.Config) { c.AdminAddr = "127.0.0.1:0" } }

// WithACLFile turns the plain ACL on with the policy file at path
// (plain_acl.yml shape, see package acl), re-read every 10 ms when it changes.
func WithACLFile(path string) Option {
	return func(c *broker.Config) { c.ACLFile, c.ACLReloadInterval = path, 10*time.Millisecond }
}

// WithLogger sends the broker's logs to l (default: discarded unless
// MQBROKER_TEST_LOG=1, then stderr at debug level).
func WithLogger(l *slog.Logger) Option { return func(c *broker.Config) { c.Logger = l } }

// WithConfig applies an arbitrary change to the configuration.
func WithConfig(f func(*broker.Config)) Option { return Option(f) }

// Broker is a running test broker.
type Broker struct {
	t      testing.TB
	cfg    broker.Config
	opts   []Option
	b      *broker.Broker
	cancel context.CancelFunc
	done   chan error
}

// Start starts a broker and registers its shutdown with t.Cleanup.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.NamesrvAddr, cfg.BrokerAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.SegmentSize = 64 << 20
	if os.Getenv("MQBROKER_TEST_LOG") == "1" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, o := range opts {
		o(&cfg)
	}
	tb := &Broker{t: t, cfg: cfg, opts: opts}
	tb.start()
	t.Cleanup(tb.Stop)
	return tb
}

func (tb *Broker) start() {
	tb.t.Helper()
	b, err := broker.Open(tb.cfg)
	if err != nil {
		tb.t.Fatalf("brokertest: %v", err)
	}
	// Restarts keep the ports, so clients reconnect to the same addresses.
	tb.cfg.NamesrvAddr, tb.cfg.BrokerAddr = b.NamesrvAddr().String(), b.BrokerAddr().String()
	if a := b.AdminAddr(); a != nil {
		tb.cfg.AdminAddr = a.String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.b, tb.cancel, tb.done = b, cancel, make(chan error, 1)
	go func() { tb.done <- b.Run(ctx) }()
}

// NamesrvAddr is the name server's address as the client wants it ("127.0.0.1:port").
func (tb *Broker) NamesrvAddr() string { return tb.cfg.NamesrvAddr }

// BrokerAddr is the broker's address.
func (tb *Broker) BrokerAddr() string { return tb.cfg.BrokerAddr }

// AdminURL is the admin API's base URL ("" without WithAdmin).
func (tb *Broker) AdminURL() string {
	if tb.cfg.AdminAddr == "" {
		return ""
	}
	return "http://" + tb.cfg.AdminAddr
}

// DataDir is the broker's data directory.
func (tb *Broker) DataDir() string { return tb.cfg.DataDir }

// Stop shuts the broker down gracefully (flushing); it is idempotent.
func (tb *Broker) Stop() {
	if tb.cancel == nil {
		return
	}
	tb.cancel()
	if err := <-tb.done; err != nil {
		tb.t.Errorf("brokertest: stop: %v", err)
	}
	tb.cancel = nil
}

// Restart stops the broker and starts a new one on the same ports and data
// directory, as a process restart would.
func (tb *Broker) Restart() {
	tb.t.Helper()
	tb.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		// The ports were just released; wait until they can be bound again.
		ln, err := net.Listen("tcp", tb.cfg.BrokerAddr)
		if err == nil {
			ln.Close()
			break
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("brokertest: restart: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.start()
}
