//go:build unix

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/shopsaga/shopsaga/internal/sqldb"
)

// stack is the running system: one broker, n inventory_srv and n order_srv, and the proxies
// on every path a partition cuts.
type stack struct {
	mq        *program
	invs      []*program
	orders    []*program
	orderURLs []string
	invURL    string // the first inventory_srv, directly (the goods are put there before any fault)
	adminURL  string
	namesrv   string // direct, for the duplicating producer
	orderDB   string
	invDB     string
	db        *mariadb   // nil on SQLite
	net       *netLayout // -partitions netns; nil: everything on loopback
	pInv      *proxy     // order_srv → inventory_srv: the one address of every inventory_srv
	pBroker   []*proxy   // services → name server, services → broker
	programs  []*program
	logs      []*os.File
	proxies   []*proxy
}

// startStack starts the stack with instances of each service in dir, the programs from bin.
func startStack(ctx context.Context, dir, bin string, db *mariadb, nl *netLayout, instances int) (*stack, error) {
	s := &stack{orderDB: filepath.Join(dir, "order.db"), invDB: filepath.Join(dir, "inventory.db"), db: db, net: nl}
	invDBEnv, orderDBEnv := "INVENTORY_SQLITE_PATH="+s.invDB, "ORDER_SQLITE_PATH="+s.orderDB
	if db != nil {
		if err := db.start(ctx); err != nil {
			return s, err
		}
		invDBEnv, orderDBEnv = "INVENTORY_MYSQL_DSN="+db.dsn("inventory"), "ORDER_MYSQL_DSN="+db.dsn("orders")
	}
	ports := make([]int, 3+2*instances)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	addr, proxyIP := func(_ string, port int) string { return localAddr(port) }, "127.0.0.1"
	if nl != nil {
		addr, proxyIP = nl.addr, nl.hostIP
	}
	ns, br, adm := addr("broker", ports[0]), addr("broker", ports[1]), addr("broker", ports[2])
	invAddrs, orderAddrs := make([]string, instances), make([]string, instances)
	for i := range instances {
		invAddrs[i], orderAddrs[i] = addr("inventory", ports[3+i]), addr("order", ports[3+instances+i])
	}
	s.namesrv, s.adminURL, s.invURL = ns, "http://"+adm, "http://"+invAddrs[0]
	var err error
	pNS, err := newProxy(proxyIP, "services→namesrv", ns)
	if err != nil {
		return nil, err
	}
	pBR, err := newProxy(proxyIP, "services→broker", br)
	if err != nil {
		return nil, err
	}
	if s.pInv, err = newProxy(proxyIP, "order_srv→inventory_srv", invAddrs...); err != nil {
		return nil, err
	}
	s.pBroker = []*proxy{pNS, pBR}
	s.proxies = []*proxy{pNS, pBR, s.pInv}

	mk := func(name, exe string, args, env []string, ready string) (*program, error) {
		f, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			return nil, err
		}
		s.logs = append(s.logs, f)
		path := filepath.Join(bin, exe)
		if nl != nil {
			role := map[string]string{"mqbroker": "broker", "inventory_srv": "inventory", "order_srv": "order"}[exe]
			path, args = nl.wrap(role, path, args)
		}
		p := &program{name: name, bin: path, args: args, env: env, log: f, readyURL: ready}
		s.programs = append(s.programs, p)
		return p, nil
	}
	if s.mq, err = mk("mqbroker", "mqbroker", []string{
		"--namesrv-addr", ns, "--broker-addr", br, "--advertise-addr", pBR.addr(), "--admin-addr", adm,
		"--data-dir", filepath.Join(dir, "mqbroker"), "--delay-levels", delayLevels,
		"--tx-timeout", "1s", "--tx-check-interval", "1s", "--log-level", "warn",
	}, nil, ""); err != nil {
		return nil, err
	}
	for i, addr := range invAddrs {
		p, err := mk(fmt.Sprintf("inventory_srv_%d", i+1), "inventory_srv", nil, []string{
			"INVENTORY_HTTP_ADDR=" + addr, invDBEnv, "MQ_NAMESRV=" + pNS.addr(), "INVENTORY_LOG_LEVEL=warn",
			// Chaos tests failures, not authentication: the services run open (loudly) on loopback.
			"AUTH_DISABLED=1",
		}, "http://"+addr+"/readyz")
		if err != nil {
			return nil, err
		}
		s.invs = append(s.invs, p)
	}
	for i, addr := range orderAddrs {
		p, err := mk(fmt.Sprintf("order_srv_%d", i+1), "order_srv", nil, []string{
			"ORDER_HTTP_ADDR=" + addr, orderDBEnv, "MQ_NAMESRV=" + pNS.addr(),
			"INVENTORY_URL=http://" + s.pInv.addr(), "ORDER_FAULTS=1", "ORDER_LOG_LEVEL=warn",
			"ORDER_PAY_TIMEOUT_LEVEL=" + strconv.Itoa(payTimeoutLevel),
			"AUTH_DISABLED=1", "ORDER_PAYMENT_SIMULATOR=1", // see inventory_srv's; pay() uses the simulator
			// The reconciler: often, and past the broker's check budget here (15 s saga + 1 s +
			// 15 × 1 s checks); its payment deadline is level 6 of the default table (2 min).
			"ORDER_RECONCILE_INTERVAL=2s", "ORDER_RECONCILE_SELL_AGE=40s", "ORDER_RECONCILE_GRACE=5s",
		}, "http://"+addr+"/readyz")
		if err != nil {
			return nil, err
		}
		s.orders = append(s.orders, p)
		s.orderURLs = append(s.orderURLs, "http://"+addr)
	}
	if err := s.mq.start(); err != nil {
		return s, err
	}
	// The broker has no readiness URL of its own here; its admin API answers once it runs.
	s.mq.readyURL = s.adminURL + "/api/stats"
	for _, p := range s.programs {
		if p != s.mq {
			if err := p.start(); err != nil {
				return s, err
			}
		}
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := p.waitReady(rctx)
		cancel()
		if err != nil {
			return s, err
		}
	}
	return s, nil
}

func (s *stack) stop() {
	for i := len(s.programs) - 1; i >= 0; i-- {
		s.programs[i].stop()
	}
	for _, p := range s.proxies {
		p.close()
	}
	for _, f := range s.logs {
		_ = f.Close()
	}
	if s.db != nil {
		s.db.remove()
	}
}

// dbOptions opens database name ("orders" or "inventory") of the stack.
func (s *stack) dbOptions(name string) sqldb.Options {
	quiet := slog.New(slog.DiscardHandler)
	if s.db != nil {
		return sqldb.Options{MySQLDSN: s.db.dsn(name), Logger: quiet}
	}
	if name == "orders" {
		return sqldb.Options{SQLitePath: s.orderDB, Logger: quiet}
	}
	return sqldb.Options{SQLitePath: s.invDB, Logger: quiet}
}
