package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopsaga/shopsaga/internal/programs"
)

// stack is mqbroker, inventory_srv and order_srv running as child processes.
type stack struct {
	cfg     config
	dataDir string // absolute
	binDir  string
	logDir  string
	levels  string // the broker's delay-level table

	broker, inventory, order *process      // inventory and order: the first instance of each
	inventories, orders      []*process    // every instance (--replicas)
	balancers                []*balancer   // with --replicas 2: the one address of each service
	died                     chan *process // a process that exited without being asked to

	api     *api
	secrets secrets // fresh per run: the services' keys and the printed tokens
	tokens  string  // the file holding the tokens
}

// startupTimeout bounds the start of one program, until it answers its readiness check.
const startupTimeout = 90 * time.Second

// markerFile marks a data directory as the demo's, so that only such a directory is emptied.
const markerFile = ".shopsaga-demo"

// startStack prepares the data directory, builds the programs and starts them, each once its
// dependencies are ready. On error, whatever was started is stopped again.
func startStack(ctx context.Context, cfg config, n *narrator) (*stack, error) {
	if err := portsFree(cfg.ports); err != nil {
		return nil, err
	}
	goTool, root, err := programs.FindModule(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.dataDir == "" {
		cfg.dataDir = filepath.Join(root, "data", "demo") // ignored by git
	}
	dir, err := prepareDataDir(cfg.dataDir, cfg.keep)
	if err != nil {
		return nil, err
	}
	levels, err := delayLevels(cfg.speedup)
	if err != nil {
		return nil, err
	}
	sec, err := newSecrets()
	if err != nil {
		return nil, fmt.Errorf("make the secrets: %w", err)
	}
	st := &stack{cfg: cfg, dataDir: dir, binDir: filepath.Join(dir, "bin"), logDir: filepath.Join(dir, "logs"),
		levels: levels, died: make(chan *process, 1+2*cfg.replicas), api: newAPI(cfg.ports), secrets: sec}
	st.api.token = sec.admin
	if err := os.MkdirAll(st.logDir, 0o755); err != nil {
		return nil, err
	}
	if st.tokens, err = sec.write(dir); err != nil {
		return nil, err
	}

	n.line("Building mqbroker, inventory_srv and order_srv into %s (go build; the first time takes a minute) …", st.binDir)
	began := time.Now()
	if err := programs.Build(ctx, goTool, root, st.binDir); err != nil {
		return nil, err
	}
	n.line("Built in %.1fs.", time.Since(began).Seconds())

	env := childEnv(os.Environ())
	loop := func(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
	p := cfg.ports
	st.broker = st.newProcess("mqbroker", "mqbroker", env,
		"--namesrv-addr", loop(p.namesrv), "--broker-addr", loop(p.broker), "--admin-addr", loop(p.admin),
		"--data-dir", filepath.Join(dir, "mqbroker"), "--delay-levels", levels,
		"--tx-timeout", cfg.txTimeout.String(), "--tx-check-interval", cfg.txCheckInterval.String(),
		// The console links a message key to its order's timeline page, which needs a token:
		// the demo's admin token rides in the link (fine for a local demo, see ARCHITECTURE.md).
		"--order-timeline-url", "http://localhost:"+strconv.Itoa(p.order)+"/v1/orders/{key}/timeline/page?access_token="+sec.admin)
	st.broker.readyURL = st.api.admin + "/healthz"
	invEnv := slices.Concat(env, sec.env(), []string{"MQ_NAMESRV=" + loop(p.namesrv)})
	ordEnv := slices.Concat(env, sec.env(), []string{"MQ_NAMESRV=" + loop(p.namesrv),
		"INVENTORY_URL=http://" + loop(p.inventory), "ORDER_FAULTS=1", "ORDER_PAYMENT_SIMULATOR=1",
		"ORDER_PAY_TIMEOUT_LEVEL=" + strconv.Itoa(payTimeoutLevel)})
	if cfg.mysql() {
		invEnv = append(invEnv, "INVENTORY_MYSQL_DSN="+cfg.mysqlInventoryDSN)
		ordEnv = append(ordEnv, "ORDER_MYSQL_DSN="+cfg.mysqlOrderDSN)
	} else {
		invEnv = append(invEnv, "INVENTORY_SQLITE_PATH="+filepath.Join(dir, "inventory.db"))
		ordEnv = append(ordEnv, "ORDER_SQLITE_PATH="+filepath.Join(dir, "order.db"))
	}
	invAddrs, err := st.instanceAddrs(p.inventory)
	if err != nil {
		return nil, err
	}
	ordAddrs, err := st.instanceAddrs(p.order)
	if err != nil {
		return nil, err
	}
	for i, addr := range invAddrs {
		pr := st.newProcess(st.instanceName("inventory_srv", i), "inventory_srv", append(slices.Clone(invEnv), "INVENTORY_HTTP_ADDR="+addr))
		pr.readyURL = "http://" + addr + "/readyz"
		st.inventories = append(st.inventories, pr)
	}
	for i, addr := range ordAddrs {
		pr := st.newProcess(st.instanceName("order_srv", i), "order_srv", append(slices.Clone(ordEnv), "ORDER_HTTP_ADDR="+addr))
		pr.readyURL, pr.url = "http://"+addr+"/readyz", "http://"+addr
		st.orders = append(st.orders, pr)
	}
	st.inventory, st.order = st.inventories[0], st.orders[0]
	if cfg.replicas > 1 {
		for _, b := range []struct {
			name  string
			port  int
			addrs []string
		}{{"inventory_srv", p.inventory, invAddrs}, {"order_srv", p.order, ordAddrs}} {
			bal, err := newBalancer(b.name, loop(b.port), b.addrs)
			if err != nil {
				st.stop(nil)
				return nil, err
			}
			st.balancers = append(st.balancers, bal)
		}
	}

	for _, pr := range st.processes() { // one after the other: the first instance migrates
		if err := st.startAndAwait(ctx, pr); err != nil {
			st.stop(nil)
			return nil, err
		}
	}
	return st, nil
}

// instanceAddrs returns the loopback addresses of a service's instances: its own port with one
// instance, otherwise free ports behind the balancer on port.
func (st *stack) instanceAddrs(port int) ([]string, error) {
	if st.cfg.replicas == 1 {
		return []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}, nil
	}
	var addrs []string
	for range st.cfg.replicas {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("a port for an instance: %w", err)
		}
		addrs = append(addrs, ln.Addr().String())
		ln.Close()
	}
	return addrs, nil
}

// instanceName is program with one instance, program_1, program_2 … with several.
func (st *stack) instanceName(program string, i int) string {
	if st.cfg.replicas == 1 {
		return program
	}
	return program + "_" + strconv.Itoa(i+1)
}

// processes lists every process in the order of their start.
func (st *stack) processes() []*process {
	return slices.Concat([]*process{st.broker}, st.inventories, st.orders)
}

func (st *stack) newProcess(name, program string, env []string, args ...string) *process {
	return &process{name: name, path: filepath.Join(st.binDir, program), args: args, env: env,
		logPath: filepath.Join(st.logDir, name+".log"), died: st.died}
}

// orderLogs returns the logs of every order_srv instance.
func (st *stack) orderLogs() []string {
	var paths []string
	for _, p := range st.orders {
		paths = append(paths, p.logPath)
	}
	return paths
}

// startAndAwait starts p and waits until it answers its readiness endpoint.
func (st *stack) startAndAwait(ctx context.Context, p *process) error {
	if err := p.start(); err != nil {
		return err
	}
	url := p.readyURL
	_, err := await(ctx, startupTimeout, p.name+" to be ready", func(ctx context.Context) (struct{}, bool, error) {
		select {
		case <-p.exited():
			return struct{}{}, false, fmt.Errorf("%s exited at start-up (%v); the end of %s:\n%s", p.name, p.exitErr(), p.logPath, tail(p.logPath, 15))
		default:
		}
		status, _, err := st.api.get(ctx, url, nil)
		return struct{}{}, err == nil && status == http.StatusOK, nil
	})
	return err
}

// restart starts a process that has exited (a crash) again and waits until it is ready.
func (st *stack) restart(ctx context.Context, p *process) error {
	select {
	case <-p.exited():
	default:
		return fmt.Errorf("%s is still running", p.name)
	}
	return st.startAndAwait(ctx, p)
}

// stop ends the processes in reverse order of their start, each gracefully if it can.
func (st *stack) stop(n *narrator) {
	ps := st.processes()
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i] == nil {
			continue
		}
		if err := ps[i].stop(15 * time.Second); err != nil && n != nil {
			n.line("%s: %v", ps[i].name, err)
		}
	}
	for _, b := range st.balancers {
		b.close()
	}
}

// checkAlive returns an error naming every process that is not running.
func (st *stack) checkAlive() error {
	var errs []error
	for _, p := range st.processes() {
		select {
		case <-p.exited():
			errs = append(errs, fmt.Errorf("%s is not running (%v); its log: %s", p.name, p.exitErr(), p.logPath))
		default:
		}
	}
	return errors.Join(errs...)
}

// portsFree reports every port of ps that something already listens on.
func portsFree(ps ports) error {
	var errs []error
	for _, p := range ps.list() {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)))
		if err != nil {
			errs = append(errs, fmt.Errorf("port %d (%s) is taken — is a stack already running? choose another with --%s-port",
				p.port, p.name, flagOfPort(p.name)))
			continue
		}
		ln.Close()
	}
	return errors.Join(errs...)
}

func flagOfPort(name string) string {
	switch name {
	case "mqbroker name server":
		return "namesrv"
	case "mqbroker broker":
		return "broker"
	case "mqbroker admin":
		return "admin"
	}
	return strings.TrimSuffix(name, "_srv")
}

// prepareDataDir creates dir, or empties it unless keep. It refuses to empty a non-empty
// directory that it did not create (one without the marker file).
func prepareDataDir(dir string, keep bool) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return "", fmt.Errorf("data dir: %w", err)
	case keep || len(entries) == 0:
	default:
		if _, err := os.Stat(filepath.Join(abs, markerFile)); err != nil {
			return "", fmt.Errorf("data dir %s is not empty and was not made by the demo (no %s): refusing to empty it; choose another with --data-dir", abs, markerFile)
		}
		if err := os.RemoveAll(abs); err != nil {
			return "", fmt.Errorf("empty data dir: %w", err)
		}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(abs, markerFile), []byte("made by go run ./demo; emptied at each run unless --keep\n"), 0o644); err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	return abs, nil
}

// childEnv is the environment of the programs: the demo's own, without any setting of theirs
// (MQ_*, INVENTORY_*, ORDER_*, AUTH_*, PAYMENT_*) that could contradict the demo's.
func childEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if strings.HasPrefix(kv, "MQ_") || strings.HasPrefix(kv, "INVENTORY_") || strings.HasPrefix(kv, "ORDER_") ||
			strings.HasPrefix(kv, "AUTH_") || strings.HasPrefix(kv, "PAYMENT_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
