package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/clock"
	"github.com/shopsaga/shopsaga/mqbroker/internal/console"
	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
	"github.com/shopsaga/shopsaga/mqbroker/internal/store"
)

// Config configures a Broker. Zero fields take the defaults of DefaultConfig
// only through DefaultConfig; Validate reports every problem at once.
type Config struct {
	NamesrvAddr string // listen address of the name server, e.g. ":9876"
	BrokerAddr  string // listen address of the broker, e.g. ":10911"
	// AdvertiseAddr is the broker address put in routes and in stored
	// messages (STOREHOST). "" or "auto" derives it: the listen host if it
	// is a specific IP, else the machine's first non-loopback IPv4.
	AdvertiseAddr string
	AdminAddr     string // HTTP admin API, console and /metrics; "" disables
	// OrderTimelineURL links a message's keys (order numbers) to their order
	// timeline in the console: "{key}" is replaced by the key; "" no link.
	OrderTimelineURL string
	DataDir          string
	Flush            store.FlushMode
	FlushInterval    time.Duration
	SegmentSize      int64
	DefaultQueues    int
	MaxMessageSize   int
	DelayLevels      delay.Levels
	// TxTimeout is the age after which an undecided half message is
	// checked back; TxCheckInterval the pause between checks of one half
	// message; TxCheckMax the number of checks before it is discarded.
	TxTimeout       time.Duration
	TxCheckInterval time.Duration
	TxCheckMax      int
	// Retention deletes commit-log segments whose newest message is older
	// than this (0: never by age); MaxDiskUsage (percent of the data dir's
	// file system, 0: off) deletes the oldest segments when passed. Above
	// store.DiskFullPercent sends are refused. Repair lets the store skip a
	// damaged record that valid ones follow instead of refusing to start.
	Retention    time.Duration
	MaxDiskUsage int
	Repair       bool
	LongPollMax  time.Duration // cap on how long a pull is held
	ClientExpiry time.Duration // drop clients silent for this long
	// RelayTimeout bounds how long a request relayed to a client
	// (GET_CONSUMER_RUNNING_INFO, CONSUME_MESSAGE_DIRECTLY) waits for the
	// client's answer (Apache's Broker2Client#callClient: 10 s).
	RelayTimeout time.Duration
	BrokerName   string
	Cluster      string
	// Limits on what a peer can make the broker hold (remoting.Options):
	// in-flight requests and frame bytes per connection and in total (each
	// of the name server and the broker), the idle time after which a
	// connection is closed, and how long a begun frame may take to arrive.
	MaxInflightPerConn      int
	MaxInflightTotal        int
	MaxInflightBytesPerConn int64
	MaxInflightBytesTotal   int64
	ConnIdleTimeout         time.Duration
	FrameReadTimeout        time.Duration
	// Per peer IP (so one peer cannot starve the others): connections, and
	// in-flight requests and bytes of all its connections (0: a quarter of
	// the totals); SmallFrameReserve is the part of MaxInflightBytesTotal
	// only frames ≤ 64 KiB may use (0: a sixteenth; negative: none).
	MaxConnsPerIP         int
	MaxInflightPerIP      int
	MaxInflightBytesPerIP int64
	SmallFrameReserve     int64
	// AdminToken, when set, is the bearer token every admin HTTP request
	// but /healthz must carry.
	AdminToken string
	// InsecureAdmin lets the broker start with ACL on and the admin HTTP
	// on a non-loopback address without AdminToken — where anyone who
	// reaches it reads every message the ACL protects. Refused otherwise
	// (Validate); logged loudly when used.
	InsecureAdmin bool
	// ACLFile, when set, turns Apache RocketMQ's plain ACL on (package acl):
	// a plain_acl.yml-style file, re-read every ACLReloadInterval when it
	// changed.
	ACLFile           string
	ACLReloadInterval time.Duration
	// ACLGetenv expands ${NAME} in the ACL file (secret keys from the
	// environment); nil: no expansion.
	ACLGetenv func(string) string
	Logger    *slog.Logger
	Clock     clock.Clock

	// EnablePropertyFilter serves SQL92 subscriptions (Apache's
	// enablePropertyFilter); off, they are refused as Apache refuses them.
	EnablePropertyFilter bool

	// Topics are created at start with the default layout unless they
	// exist, as an operator would with mqadmin updateTopic: route lookups do
	// not create topics, so consumers can start before anything is sent.
	Topics []string
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		NamesrvAddr:     ":9876",
		BrokerAddr:      ":10911",
		AdminAddr:       "",
		DataDir:         "./data/mqbroker",
		Flush:           store.FlushAsync,
		FlushInterval:   200 * time.Millisecond,
		SegmentSize:     256 << 20,
		DefaultQueues:   4,
		MaxMessageSize:  4 << 20,
		DelayLevels:     delay.MustParse(delay.DefaultLevels),
		TxTimeout:       6 * time.Second,
		TxCheckInterval: 60 * time.Second,
		TxCheckMax:      15,
		Retention:       72 * time.Hour,
		MaxDiskUsage:    85,
		LongPollMax:     15 * time.Second,
		ClientExpiry:    120 * time.Second,
		RelayTimeout:    10 * time.Second,
		BrokerName:      "broker-a",
		Cluster:         "DefaultCluster",
		Clock:           clock.Real{},

		MaxInflightPerConn:      remoting.DefaultMaxInflight,
		MaxInflightTotal:        remoting.DefaultMaxInflightTotal,
		MaxInflightBytesPerConn: remoting.DefaultMaxInflightBytes,
		MaxInflightBytesTotal:   remoting.DefaultMaxInflightBytesTotal,
		ConnIdleTimeout:         remoting.DefaultIdleTimeout,
		FrameReadTimeout:        remoting.DefaultFrameTimeout,
		MaxConnsPerIP:           remoting.DefaultMaxConnsPerIP,
		EnablePropertyFilter:    true,
	}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for name, addr := range map[string]string{"namesrv-addr": c.NamesrvAddr, "broker-addr": c.BrokerAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad("%s %q: want host:port", name, addr)
		}
	}
	if c.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			bad("admin-addr %q: want host:port", c.AdminAddr)
		}
	}
	if c.openAdminWithACL() && !c.InsecureAdmin {
		bad("admin-addr %q serves every message without a token while ACL is on (acl-file): set admin-token (MQ_ADMIN_TOKEN), listen on 127.0.0.1, or pass --insecure-admin", c.AdminAddr)
	}
	if err := console.ValidateTimelineURL(c.OrderTimelineURL); err != nil {
		bad("order-timeline-url: %w", err)
	}
	if c.AdvertiseAddr != "" && c.AdvertiseAddr != "auto" {
		host, port, err := net.SplitHostPort(c.AdvertiseAddr)
		if err != nil || host == "" {
			bad("advertise-addr %q: want host:port or auto", c.AdvertiseAddr)
		} else if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			bad("advertise-addr %q: bad port", c.AdvertiseAddr)
		}
	}
	if c.DataDir == "" {
		bad("data-dir is empty")
	}
	if c.DefaultQueues < 1 || c.DefaultQueues > 1024 {
		bad("default-queues %d: want 1..1024", c.DefaultQueues)
	}
	if c.MaxMessageSize < 1024 || c.MaxMessageSize > 128<<20 {
		bad("max-message-size %d: want 1 KiB..128 MiB", c.MaxMessageSize)
	}
	if c.SegmentSize < int64(c.MaxMessageSize)+4096 {
		bad("segment size %d must exceed max-message-size %d", c.SegmentSize, c.MaxMessageSize)
	}
	if c.Retention < 0 {
		bad("retention %v: must not be negative (0 keeps everything)", c.Retention)
	}
	if c.MaxDiskUsage < 0 || c.MaxDiskUsage > 100 {
		bad("max-disk-usage %d: want 0..100 (percent, 0 disables)", c.MaxDiskUsage)
	}
	if c.SegmentSize > 1<<40 {
		bad("segment size %d: at most 1 TiB", c.SegmentSize)
	}
	if len(c.DelayLevels) == 0 {
		bad("delay-levels is empty")
	}
	if c.TxTimeout <= 0 || c.TxCheckInterval <= 0 || c.TxCheckMax < 1 {
		bad("tx-timeout, tx-check-interval and tx-check-max must be positive")
	}
	if c.FlushInterval <= 0 || c.LongPollMax <= 0 || c.ClientExpiry <= 0 || c.RelayTimeout <= 0 {
		bad("flush interval, long-poll cap, client expiry and relay timeout must be positive")
	}
	for _, t := range c.Topics {
		if err := checkTopicName(t); err != nil {
			bad("topics: %v", err)
		}
	}
	if c.BrokerName == "" || c.Cluster == "" {
		bad("broker name and cluster must not be empty")
	}
	if c.MaxConnsPerIP < 1 {
		bad("max-conns-per-ip %d: must be positive", c.MaxConnsPerIP)
	}
	if c.MaxInflightPerIP < 0 || c.MaxInflightBytesPerIP < 0 {
		bad("max-inflight-per-ip %d and max-inflight-bytes-per-ip %d: must not be negative (0: a quarter of the totals)", c.MaxInflightPerIP, c.MaxInflightBytesPerIP)
	}
	if c.ConnIdleTimeout <= 0 {
		bad("conn-idle-timeout %v: must be positive", c.ConnIdleTimeout)
	}
	if err := remoting.ValidateLimits(c.remotingOptions()); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// remotingOptions are the connection limits of both listeners.
func (c Config) remotingOptions() remoting.Options {
	return remoting.Options{
		MaxFrame:              c.MaxMessageSize + 1<<20,
		MaxInflight:           c.MaxInflightPerConn,
		MaxInflightTotal:      c.MaxInflightTotal,
		MaxInflightBytes:      c.MaxInflightBytesPerConn,
		MaxInflightBytesTotal: c.MaxInflightBytesTotal,
		IdleTimeout:           c.ConnIdleTimeout,
		FrameTimeout:          c.FrameReadTimeout,
		MaxConnsPerIP:         c.MaxConnsPerIP,
		MaxInflightPerIP:      c.MaxInflightPerIP,
		MaxInflightBytesPerIP: c.MaxInflightBytesPerIP,
		SmallFrameReserve:     c.SmallFrameReserve,
		Logger:                c.Logger,
	}
}

// advertised resolves the address clients dial, given the bound listener.
func advertised(cfg string, bound net.Addr) (netip.AddrPort, string, error) {
	tcp, _ := bound.(*net.TCPAddr)
	port := 0
	if tcp != nil {
		port = tcp.Port
	}
	if cfg != "" && cfg != "auto" {
		host, p, _ := net.SplitHostPort(cfg)
		pn, _ := strconv.Atoi(p)
		ip, err := netip.ParseAddr(host)
		if err != nil {
			ips, lerr := net.LookupIP(host)
			if lerr != nil || len(ips) == 0 {
				return netip.AddrPort{}, "", fmt.Errorf("resolve advertise host %q: %w", host, lerr)
			}
			ip, _ = netip.AddrFromSlice(ips[0])
		}
		return netip.AddrPortFrom(ip.Unmap(), uint16(pn)), cfg, nil
	}
	if tcp != nil && !tcp.IP.IsUnspecified() {
		ip, _ := netip.AddrFromSlice(tcp.IP)
		ap := netip.AddrPortFrom(ip.Unmap(), uint16(port))
		return ap, ap.String(), nil
	}
	ip := firstIPv4()
	ap := netip.AddrPortFrom(ip, uint16(port))
	return ap, ap.String(), nil
}

func firstIPv4() netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
				if v4 := n.IP.To4(); v4 != nil {
					ip, _ := netip.AddrFromSlice(v4)
					return ip
				}
			}
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// openAdminWithACL reports ACL on with the admin HTTP on a non-loopback
// address and no token: the admin API (console, /api/messages) would hand
// anyone who reaches it what the ACL refuses them.
func (c Config) openAdminWithACL() bool {
	if c.ACLFile == "" || c.AdminAddr == "" || c.AdminToken != "" {
		return false
	}
	host, _, err := net.SplitHostPort(c.AdminAddr)
	if err != nil {
		return false // reported as a bad address
	}
	if host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.IsLoopback()
}
