// Package broker wires mqbroker together: it owns the listeners of the name
// server and the broker, the store, topic and client tables, consumer
// offsets and queue locks, and the services built on them — long-polling
// pulls, delayed messages, transactional half messages with check-back and
// consumer retry with dead letters. Request handlers live in one file per
// concern (send.go, pull.go, consume.go, schedule.go, transaction.go,
// retry.go); admin.go serves the HTTP admin API — the console pages of
// package console (fed by views.go), JSON under /api and Prometheus metrics
// (metrics.go, with rates from stats.go).
//
// Lock order: a handler takes at most one of the tables' mutexes at a time
// (topics, clients, offsets, locks, waiters, schedule, txn) and never calls
// the store while holding one; the store's own locks are innermost.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
	"github.com/shopsaga/shopsaga/mqbroker/internal/acl"
	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/namesrv"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
	"github.com/shopsaga/shopsaga/mqbroker/internal/store"
)

// Broker is one name server plus one broker sharing a store.
type Broker struct {
	cfg       Config
	log       *slog.Logger
	clock     cfgClock
	storeHost netip.AddrPort // written into every stored record
	advertise string         // what routes tell clients to dial

	nsLn, brLn, adminLn net.Listener
	ns                  *namesrv.Server
	nsSrv, brSrv        *remoting.Server
	admin               *http.Server

	dirLock *flock.Flock // held while the broker runs
	store   *store.Store
	topics  *topicTable
	clients *clientTable
	offsets *offsetTable
	locks   lockTable
	waiters waiters
	sched   *scheduler
	txn     *txnService
	metrics *metrics     // traffic counters, live rates, Prometheus registry (metrics.go)
	acl     *acl.Watcher // nil: ACL off
	// diskFull is set by housekeeping while the data dir's file system is
	// above store.DiskFullPercent: sends are refused (retention.go).
	diskFull atomic.Bool

	openedAt time.Time // when Open started (recovery time in the log)

	subGroups *subGroupTable // subscription groups created by mqadmin (adminwire.go)
	metas     clientMetas    // language/version of client connections (adminwire.go)
	relays    relayTable     // requests relayed to clients, awaiting their answers (relay.go)

	// stateMu makes the services' state and the commit log agree for a
	// checkpoint (state.go): held shared across every Put that changes that
	// state together with the in-memory change, exclusively by saveState.
	stateMu sync.RWMutex

	closeOnce sync.Once
	stop      chan struct{} // closed by Close: stops background loops
	wg        sync.WaitGroup
}

type cfgClock = interface {
	Now() time.Time
}

// Open binds the listeners, opens (and recovers) the store and rebuilds the
// broker's state. Call Run to serve, Close to stop.
func Open(cfg Config) (_ *Broker, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, clock: cfg.Clock, clients: newClientTable(), stop: make(chan struct{}), openedAt: time.Now()}
	defer func() {
		if err != nil {
			b.closeListeners()
			if b.store != nil {
				b.store.Close()
			}
			if b.dirLock != nil {
				b.dirLock.Close()
			}
		}
	}()
	if b.dirLock, err = lockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if b.nsLn, err = net.Listen("tcp", cfg.NamesrvAddr); err != nil {
		return nil, fmt.Errorf("listen name server: %w", err)
	}
	if b.brLn, err = net.Listen("tcp", cfg.BrokerAddr); err != nil {
		return nil, fmt.Errorf("listen broker: %w", err)
	}
	if cfg.AdminAddr != "" {
		if b.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return nil, fmt.Errorf("listen admin: %w", err)
		}
	}
	if b.storeHost, b.advertise, err = advertised(cfg.AdvertiseAddr, b.brLn.Addr()); err != nil {
		return nil, err
	}
	configDir := filepath.Join(cfg.DataDir, "config")
	if err := os.MkdirAll(configDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if b.topics, err = loadTopics(configDir, cfg.DefaultQueues, len(cfg.DelayLevels)); err != nil {
		return nil, err
	}
	if b.offsets, err = loadOffsets(configDir); err != nil {
		return nil, err
	}
	if b.clients.sqlGroups, err = loadSQLGroups(configDir); err != nil {
		return nil, err
	}
	if b.subGroups, err = loadSubGroups(configDir); err != nil {
		return nil, err
	}
	for _, t := range cfg.Topics {
		if _, _, err := b.topics.get(t, true); err != nil {
			return nil, fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	b.sched = newScheduler(b)
	b.txn = newTxnService(b)
	b.metrics = newMetrics(b)
	b.store, err = store.Open(store.Options{
		Dir:            filepath.Join(cfg.DataDir, "store"),
		SegmentSize:    cfg.SegmentSize,
		Flush:          cfg.Flush,
		FlushInterval:  cfg.FlushInterval,
		MaxMessageSize: cfg.MaxMessageSize + 64<<10, // body limit plus header room
		Now:            cfg.Clock.Now,
		Logger:         cfg.Logger,
		OnAppend:       b.onAppend,
		OnSync:         b.metrics.observeSync,
		Repair:         cfg.Repair,
		Retention:      cfg.Retention,
		MaxDiskUsage:   cfg.MaxDiskUsage,
		BeforeDelete:   b.carryForward,
		OnRecover:      b.recoverRecord,
		SaveState:      b.saveState,
		LoadState:      b.loadState,
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := b.recoverServices(); err != nil {
		return nil, err
	}
	if cfg.ACLFile != "" {
		if b.acl, err = acl.Open(cfg.ACLFile, acl.Options{Interval: cfg.ACLReloadInterval, Logger: cfg.Logger, Getenv: cfg.ACLGetenv}); err != nil {
			return nil, err
		}
		if cfg.openAdminWithACL() {
			b.log.Warn("!!! INSECURE: ACL is on but the admin HTTP API on " + cfg.AdminAddr +
				" has no token (--insecure-admin): anyone who reaches it reads every message; set --admin-token (MQ_ADMIN_TOKEN)")
		}
	}
	b.ns = namesrv.New(routes{b}, cfg.Cluster, cfg.BrokerName, b.advertise)
	ropts := cfg.remotingOptions()
	b.nsSrv = remoting.NewServer(b.ns, ropts)
	b.brSrv = remoting.NewServer(b, ropts)
	return b, nil
}

// recoverServices reports the scheduler's and the transaction service's
// state: loaded from the store's checkpoint (state.go) and brought up to
// date by recoverRecord from the records after it, or rebuilt from the whole
// commit log without a usable checkpoint (see schedule.go and transaction.go).
func (b *Broker) recoverServices() error {
	rs := b.store.RecoveryStats()
	b.log.Info("state recovered", "pending_half", b.txn.pendingCount(), "took", time.Since(b.openedAt),
		"from_checkpoint", rs.FromCheckpoint, "skipped_bytes", rs.SkippedBytes, "scanned_bytes", rs.ScannedBytes)
	return nil
}

// recoverRecord is the store's OnRecover hook: one pass over the commit log
// rebuilds the store's indexes and the services' state. Only the records
// the services look at (half, op and committed messages, and those that
// carry the scheduler's progress) are decoded in full.
func (b *Broker) recoverRecord(h message.Header, rec []byte) {
	need := string(h.Topic) == halfTopic || string(h.Topic) == opTopic ||
		h.SysFlag&message.SysFlagTransactionMask == message.SysFlagTransactionCommit
	if !need {
		if string(h.Topic) == delay.ScheduleTopic {
			_, need = message.PropertyValue(h.Properties, propCarriedSrc)
		} else {
			_, need = message.PropertyValue(h.Properties, propScheduleSrc)
		}
	}
	if !need {
		return
	}
	m, _, err := message.Decode(rec)
	if err != nil {
		return // the store's own checks report a bad record
	}
	b.sched.recoverRecord(m)
	b.txn.recoverRecord(m)
}

// NamesrvAddr is the bound name-server address.
func (b *Broker) NamesrvAddr() net.Addr { return b.nsLn.Addr() }

// BrokerAddr is the bound broker address.
func (b *Broker) BrokerAddr() net.Addr { return b.brLn.Addr() }

// AdvertisedAddr is the broker address clients are told to dial.
func (b *Broker) AdvertisedAddr() string { return b.advertise }

// AdminAddr is the bound admin HTTP address, or nil.
func (b *Broker) AdminAddr() net.Addr {
	if b.adminLn == nil {
		return nil
	}
	return b.adminLn.Addr()
}

// Run serves until ctx is cancelled, then shuts down gracefully: stops
// accepting, ends connections, flushes the store and persists offsets.
func (b *Broker) Run(ctx context.Context) error {
	errc := make(chan error, 3)
	go func() { errc <- b.nsSrv.Serve(b.nsLn) }()
	go func() { errc <- b.brSrv.Serve(b.brLn) }()
	if b.adminLn != nil {
		b.admin = &http.Server{Handler: requireToken(b.cfg.AdminToken, b.adminHandler()), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := b.admin.Serve(b.adminLn); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	if b.acl != nil {
		aclCtx, cancel := context.WithCancel(context.Background())
		b.wg.Add(1)
		go func() { defer b.wg.Done(); b.acl.Run(aclCtx) }()
		go func() { <-b.stop; cancel() }()
	}
	b.wg.Add(3)
	go func() { defer b.wg.Done(); b.housekeeping() }()
	go func() { defer b.wg.Done(); b.sched.run(b.stop) }()
	go func() { defer b.wg.Done(); b.txn.run(b.stop) }()
	b.log.Info("mqbroker serving", "namesrv", b.nsLn.Addr().String(), "broker", b.brLn.Addr().String(),
		"advertise", b.advertise, "data_dir", b.cfg.DataDir, "flush", b.cfg.Flush.String())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if err != nil {
			err = fmt.Errorf("serve: %w", err)
		}
	}
	return errors.Join(err, b.Close())
}

// Close stops everything and flushes; it is safe to call more than once.
func (b *Broker) Close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.stop)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if b.admin != nil {
			_ = b.admin.Shutdown(ctx)
		}
		b.closeListeners()
		if b.nsSrv != nil {
			_ = b.nsSrv.Shutdown(ctx)
			_ = b.brSrv.Shutdown(ctx)
		}
		b.wg.Wait()
		err = errors.Join(b.offsets.persist(), b.store.Close())
		b.dirLock.Close()
		b.log.Info("mqbroker stopped", "err", err)
	})
	return err
}

func (b *Broker) closeListeners() {
	for _, ln := range []net.Listener{b.nsLn, b.brLn, b.adminLn} {
		if ln != nil {
			ln.Close()
		}
	}
}

// housekeeping persists offsets and expires silent clients.
func (b *Broker) housekeeping() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
		}
		if err := b.offsets.persist(); err != nil {
			b.log.Error("persist consumer offsets", "err", err)
		}
		b.metrics.sample(time.Now())
		b.retain()
		now := b.clock.Now()
		changed, ids := b.clients.drop(func(c *remoting.Conn, seen time.Time) bool {
			return now.Sub(seen) > b.cfg.ClientExpiry
		})
		b.locks.releaseClients(ids)
		b.notifyChanged(changed)
	}
}

// onAppend is the store's append hook: wake long polls and schedulers.
func (b *Broker) onAppend(topic string, queueID int32) {
	b.waiters.notify(topic, queueID)
	b.sched.onAppend(topic, queueID)
	b.txn.onAppend(topic)
}

// ConnClosed drops the connection's clients (Go clients never unregister)
// and tells their groups to rebalance.
func (b *Broker) ConnClosed(c *remoting.Conn) {
	changed, ids := b.clients.drop(func(conn *remoting.Conn, _ time.Time) bool { return conn == c })
	b.locks.releaseClients(ids)
	b.notifyChanged(changed)
	b.forgetConn(c)
}

// Serve dispatches a broker request (remoting.Handler).
func (b *Broker) Serve(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	code := protocol.Code(req.Code)
	if b.acl != nil {
		if err := b.acl.Check(acl.Request{Code: req.Code, ExtFields: req.ExtFields, Body: req.Body, Peer: c.Peer().Addr()}); err != nil {
			b.metrics.aclDenied.WithLabelValues(code.String()).Inc()
			b.log.Debug("acl refused", "code", code.String(), "remote", c.RemoteAddr(), "err", err)
			return errResponse(req, protocol.NoPermission, "%s: %v", code, err)
		}
	}
	switch code {
	case protocol.SendMessage, protocol.SendMessageV2, protocol.SendBatchMessage:
		return b.handleSend(c, req)
	case protocol.PullMessage:
		return b.handlePull(ctx, req)
	case protocol.HeartBeat:
		b.noteHeartbeat(c, req)
		return b.handleHeartbeat(c, req)
	case protocol.UnregisterClient:
		return b.handleUnregister(req)
	case protocol.GetConsumerListByGroup:
		return b.handleConsumerList(req)
	case protocol.QueryConsumerOffset:
		return b.handleQueryOffset(req)
	case protocol.UpdateConsumerOffset:
		return b.handleUpdateOffset(req)
	case protocol.GetMaxOffset, protocol.GetMinOffset, protocol.SearchOffsetByTimestamp, protocol.GetEarliestMsgStoretime:
		return b.handleOffsetQuery(code, req)
	case protocol.LockBatchMQ:
		return b.handleLock(req)
	case protocol.UnlockBatchMQ:
		return b.handleUnlock(req)
	case protocol.EndTransaction:
		return b.handleEndTransaction(c, req)
	case protocol.ConsumerSendMsgBack:
		return b.handleSendBack(c, req)
	case protocol.UpdateAndCreateTopic:
		return b.handleUpdateTopic(req)
	case protocol.CheckClientConfig:
		return b.handleCheckClientConfig(req)
	}
	if resp, ok := b.serveAdmin(c, req); ok {
		return resp
	}
	if namesrv.Handles(code) {
		// Clients may ask the broker port for routes too.
		return b.ns.Serve(ctx, c, req)
	}
	return remoting.NewResponse(req, int16(protocol.RequestCodeNotSupported),
		fmt.Sprintf("request code %d (%s) not supported", req.Code, code))
}

// inlineStall is how long a Put may wait for or hold the commit log's
// append lock before sends stop being served inline (Inline): long
// enough for any append without an fsync (a few µs, tens with a page
// fault), short enough that a reader stops joining a stalled queue long
// before a heartbeat (3 s) or a LOCK_BATCH_MQ (1 s) behind it times out.
const inlineStall = 2 * time.Millisecond

// Inline implements remoting.Inliner: with --flush async a send returns
// as soon as its record is copied into the commit log (no fsync wait, no
// long poll, nothing asked of the peer), so the remoting server may serve
// it on the connection's reader goroutine, in the order the sends arrive.
// It never waits: it answers false, and the send goes to a worker, for
//   - --flush sync: a send waits for the group commit, which other sends
//     of the same connection must be able to join;
//   - a topic that does not exist yet or a topic table that is busy (a
//     send auto-creates its topic, writing topics.json with fsyncs under
//     the table's lock);
//   - a retry topic (%RETRY%...): a message past its reconsume limit is
//     moved to the dead-letter topic, which may have to be created;
//   - appends that are stalled (store.AppendStalled over inlineStall: a
//     segment roll's fsync, a checkpoint holding the append lock).
//
// The trade-off: a send served inline holds the connection's reader for
// its Put, and the official client multiplexes all the producers and
// consumers of a process on one connection per broker, so heartbeats,
// locks, pulls and offset commits read after it wait for it. The checks
// above bound that wait to one Put that stalls unforeseen (the first of
// a stall, on each connection that has one in flight): once a Put has
// been stuck for inlineStall, readers stop joining the queue, and the
// other requests they read go to workers. The saving is the hand-off to a
// worker per send (see remoting.Inliner).
func (b *Broker) Inline(req *remoting.Command) bool {
	var topic string
	switch protocol.Code(req.Code) {
	case protocol.SendMessage:
		topic = req.ExtFields["topic"]
	case protocol.SendMessageV2, protocol.SendBatchMessage:
		topic = req.ExtFields["b"]
	default:
		return false
	}
	if b.cfg.Flush != store.FlushAsync || strings.HasPrefix(topic, retryPrefix) {
		return false
	}
	return b.topics.existsNow(topic) && !b.store.AppendStalled(inlineStall)
}

// routes adapts the topic table to namesrv.Routes.
type routes struct{ b *Broker }

// RouteTopic never creates a topic: a lookup of a topic that does not exist
// answers TOPIC_NOT_EXIST as Apache's name server does (so a typo in
// mqadmin topicRoute creates nothing). Producers still auto-create topics
// through the default-topic route (TBW102) and their first send.
func (r routes) RouteTopic(topic string) (namesrv.Topic, bool) {
	c, ok, err := r.b.topics.get(topic, false)
	if err != nil || !ok {
		return namesrv.Topic{}, false
	}
	return namesrv.Topic{ReadQueues: c.ReadQueues, WriteQueues: c.WriteQueues, Perm: c.Perm}, true
}

func (r routes) TopicNames() []string { return r.b.topics.names() }

func errResponse(req *remoting.Command, code protocol.ResponseCode, format string, a ...any) *remoting.Command {
	return remoting.NewResponse(req, int16(code), fmt.Sprintf(format, a...))
}

func okResponse(req *remoting.Command) *remoting.Command {
	return remoting.NewResponse(req, int16(protocol.Success), "")
}
