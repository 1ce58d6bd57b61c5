package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	_ "github.com/go-sql-driver/mysql" // the driver of wait.ForSQL
	mobynetwork "github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"golang.org/x/sync/errgroup"

	"github.com/shopsaga/shopsaga/internal/auth"
)

// Environment variables naming the images (all built locally; nothing is pulled).
const (
	envMySQLImage     = "E2E_MYSQL_IMAGE"
	envBrokerImage    = "E2E_MQBROKER_IMAGE"
	envInventoryImage = "E2E_INVENTORY_IMAGE"
	envOrderImage     = "E2E_ORDER_IMAGE"
)

// Default images: those deploy/build-images.sh builds.
const (
	localMariaDBImage     = "shopsaga/mariadb:10.11"
	fallbackMySQLImage    = "mysql:8.4"
	defaultBrokerImage    = "shopsaga/mqbroker:dev"
	defaultInventoryImage = "shopsaga/inventory_srv:dev"
	defaultOrderImage     = "shopsaga/order_srv:dev"
)

const buildImagesHint = "build the images with `sh deploy/build-images.sh --with-mariadb` " +
	"(from the repository root; --with-mariadb needs root once) or name existing ones with " +
	envMySQLImage + ", " + envBrokerImage + ", " + envInventoryImage + ", " + envOrderImage

// Network aliases: the host names the programs use for each other, as in deploy/docker-compose.yml.
const (
	aliasMySQL     = "mysql"
	aliasBroker    = "mqbroker"
	aliasInventory = "inventory_srv"
	aliasOrder     = "order_srv"
)

// Ports inside the containers.
const (
	portMySQL       = "3306/tcp"
	portBrokerAdmin = "8080/tcp"
	portInventory   = "8082/tcp"
	portOrder       = "8081/tcp"
)

// Database accounts. deploy/mysql-init creates the databases inventory and orders for dbUser.
const (
	dbRootPassword = "e2e-root"
	dbUser         = "shopsaga"
	dbPassword     = "shopsaga-e2e"
)

// delayLevels is the broker's delay-level table in these tests: RocketMQ's 18 levels, but in
// seconds, so that payment timeouts and consume retries (level 3 + reconsume times) come fast.
const delayLevels = "1s 1s 1s 2s 3s 4s 5s 6s 8s 10s 15s 20s 30s 1m 2m 5m 10m 30m"

// Payment-timeout delay levels of order_srv (ORDER_PAY_TIMEOUT_LEVEL) in delayLevels.
const (
	payTimeout5s    = 7  // an unpaid order is closed 5 s after it was created
	payTimeoutNever = 18 // 30 min: no order times out during a test
)

// Transaction check-back timings of the broker: a half message undecided for txTimeout is
// checked back, and again every txCheckInterval.
const (
	txTimeout       = "2s"
	txCheckInterval = "2s"
)

// exitCrash is order_srv's exit status after an injected crash (order_srv/main.go).
const exitCrash = 3

// startupTimeout bounds the start of one container until it is ready; generous because
// several stacks start at once on a small machine.
const startupTimeout = 2 * time.Minute

// stackOptions configure a stack.
type stackOptions struct {
	payTimeoutLevel int // ORDER_PAY_TIMEOUT_LEVEL, one of the payTimeout* constants
}

// stack is the whole system of one test: a database server, the broker and both services on a
// private network. The containers and the network are removed when the test ends, after the
// invariant check and, if the test failed, after the logs of every container were printed.
// The services' secrets (AUTH_JWT_SECRET, PAYMENT_NOTIFY_SECRET): test values, fixed.
const (
	authSecret   = "e2e-auth-secret-0123456789abcdef0123456789"
	notifySecret = "e2e-notify-secret-0123456789abcdef01234567"
)

type stack struct {
	t      *testing.T
	opts   stackOptions
	images images
	net    *testcontainers.DockerNetwork
	http   *http.Client
	ledger ledger
	token  string     // a bearer token of the scopes admin and service (minted from authSecret)
	acl    aclSecrets // the broker's ACL secrets of this stack (acl_stack_test.go)

	mu         sync.Mutex // guards the fields below
	members    []member   // every container started, in order, crashed ones included
	orderURL   string     // base URL of the live order_srv
	invURL     string     // base URL of inventory_srv
	brokerURL  string     // base URL of the broker's admin API
	orderCount int        // order_srv containers started so far
	up         bool       // the stack was fully started
}

// member is one container of a stack, with a name for the logs.
type member struct {
	name string
	ctr  *testcontainers.DockerContainer
}

// newStack starts a stack for t, or skips t if there is no Docker (or in -short mode). All
// containers wait until their programs answer: SQL for the database, /healthz for the broker,
// /readyz for the services.
func newStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: starts the whole system in containers; skipped in -short mode")
	}
	skipWithoutDocker(t)
	if opts.payTimeoutLevel == 0 {
		opts.payTimeoutLevel = payTimeoutNever
	}
	s := &stack{
		t:      t,
		opts:   opts,
		images: requireImages(t),
		http:   &http.Client{Timeout: time.Minute},
		token:  mustMint(t),
		acl:    newACLSecrets(t),
		ledger: newLedger(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	started := time.Now()
	nw, err := network.New(ctx, network.WithLabels(map[string]string{"org.shopsaga.e2e": t.Name()}))
	if err != nil {
		t.Fatalf("e2e: create network: %v", err)
	}
	s.net = nw
	t.Cleanup(s.close)

	var g errgroup.Group
	g.Go(func() error { return s.startMySQL(ctx) })
	g.Go(func() error { return s.startBroker(ctx) })
	if err := g.Wait(); err != nil {
		t.Fatalf("e2e: %v", err)
	}
	if err := s.startInventory(ctx); err != nil {
		t.Fatalf("e2e: %v", err)
	}
	if err := s.startOrder(ctx); err != nil {
		t.Fatalf("e2e: %v", err)
	}
	s.mu.Lock()
	s.up = true
	s.mu.Unlock()
	t.Logf("e2e: stack up in %v (order_srv %s, inventory_srv %s, broker admin %s)",
		time.Since(started).Round(10*time.Millisecond), s.order(), s.inventory(), s.broker())
	return s
}

// dockerCheck asks once per test binary whether a Docker daemon answers.
var dockerCheck struct {
	once   sync.Once
	reason string // why Docker is unusable; empty if it is usable
}

// skipWithoutDocker skips t, saying how to run it, if no Docker daemon answers. It is
// testcontainers.SkipIfProviderIsNotHealthy with a message of this project and done once.
func skipWithoutDocker(t *testing.T) {
	t.Helper()
	dockerCheck.once.Do(func() {
		dockerCheck.reason = strings.Join(strings.Fields(dockerUnavailable()), " ")
	})
	if dockerCheck.reason != "" {
		t.Skipf("e2e: skipped: no usable Docker daemon (%s); the end-to-end tests need Docker and the images: "+
			"sh deploy/build-images.sh --with-mariadb && go test ./e2e/ -v", dockerCheck.reason)
	}
}

func dockerUnavailable() (reason string) {
	defer func() {
		if r := recover(); r != nil { // testcontainers panics when it finds no Docker at all
			reason = fmt.Sprint(r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	provider, err := testcontainers.ProviderDocker.GetProvider()
	if err == nil {
		err = provider.Health(ctx)
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// images are the images of a stack.
type images struct {
	mysql, broker, inventory, order string
}

// imageCheck looks the images up once per test binary.
var imageCheck struct {
	once   sync.Once
	images images
	err    error
}

// requireImages returns the images, failing t with the command that builds them if one is
// missing (t is skipped if Docker cannot be asked).
func requireImages(t *testing.T) images {
	t.Helper()
	imageCheck.once.Do(func() { imageCheck.images, imageCheck.err = lookUpImages() })
	if imageCheck.err != nil {
		t.Fatalf("e2e: %v", imageCheck.err)
	}
	return imageCheck.images
}

func lookUpImages() (images, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return images{}, fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	exists := func(image string) (bool, error) {
		_, err := cli.ImageInspect(ctx, image)
		switch {
		case err == nil:
			return true, nil
		case errdefs.IsNotFound(err):
			return false, nil
		}
		return false, fmt.Errorf("inspect image %s: %w", image, err)
	}
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	imgs := images{
		mysql:     os.Getenv(envMySQLImage),
		broker:    env(envBrokerImage, defaultBrokerImage),
		inventory: env(envInventoryImage, defaultInventoryImage),
		order:     env(envOrderImage, defaultOrderImage),
	}
	if imgs.mysql == "" {
		imgs.mysql = fallbackMySQLImage
		if ok, err := exists(localMariaDBImage); err != nil {
			return images{}, err
		} else if ok {
			imgs.mysql = localMariaDBImage
		}
	}
	var missing []string
	for _, image := range []string{imgs.mysql, imgs.broker, imgs.inventory, imgs.order} {
		ok, err := exists(image)
		if err != nil {
			return images{}, err
		}
		if !ok {
			missing = append(missing, image)
		}
	}
	if len(missing) > 0 {
		return images{}, fmt.Errorf("missing image(s) %s (nothing is pulled); %s", strings.Join(missing, ", "), buildImagesHint)
	}
	return imgs, nil
}

// run starts a container on the stack's network under alias and records it, even when it
// failed to become ready, so that its logs are printed and it is removed.
func (s *stack) run(ctx context.Context, name, image, alias string, opts ...testcontainers.ContainerCustomizer) (*testcontainers.DockerContainer, error) {
	all := append([]testcontainers.ContainerCustomizer{
		network.WithNetwork([]string{alias}, s.net),
		testcontainers.WithLabels(map[string]string{"org.shopsaga.e2e": s.t.Name()}),
	}, opts...)
	started := time.Now()
	ctr, err := testcontainers.Run(ctx, image, all...)
	if ctr != nil {
		s.mu.Lock()
		s.members = append(s.members, member{name: name, ctr: ctr})
		s.mu.Unlock()
	}
	if err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, image, err)
	}
	s.t.Logf("e2e: %s ready in %v", name, time.Since(started).Round(10*time.Millisecond))
	return ctr, nil
}

func (s *stack) startMySQL(ctx context.Context) error {
	_, err := s.run(ctx, "mysql", s.images.mysql, aliasMySQL,
		testcontainers.WithExposedPorts(portMySQL),
		testcontainers.WithEnv(map[string]string{
			"MYSQL_ROOT_PASSWORD": dbRootPassword,
			"MYSQL_USER":          dbUser,
			"MYSQL_PASSWORD":      dbPassword,
		}),
		// The same init script as deploy/docker-compose.yml: both databases, granted to dbUser.
		testcontainers.WithFiles(testcontainers.ContainerFile{
			HostFilePath:      "../deploy/mysql-init/01-databases.sql",
			ContainerFilePath: "/docker-entrypoint-initdb.d/01-databases.sql",
			FileMode:          0o644,
		}),
		// Ready when the application user reaches its last database over TCP: the init script
		// has run and the real server (not an init-time one) is listening.
		testcontainers.WithWaitStrategy(wait.ForSQL(portMySQL, "mysql", func(host string, port mobynetwork.Port) string {
			return fmt.Sprintf("%s:%s@tcp(%s:%s)/orders", dbUser, dbPassword, host, port.Port())
		}).WithStartupTimeout(startupTimeout)),
	)
	return err
}

func (s *stack) startBroker(ctx context.Context) error {
	ctr, err := s.run(ctx, "mqbroker", s.images.broker, aliasBroker, append(s.brokerACL(),
		testcontainers.WithExposedPorts(portBrokerAdmin),
		testcontainers.WithEnv(map[string]string{
			// Advertise the container's own IP on the network: the clients dial what the name
			// server tells them.
			"MQ_ADVERTISE_ADDR": "auto",
			"MQ_ADMIN_ADDR":     ":8080",
			"MQ_TOPICS":         "order_reback,order_timeout", // routes do not create topics
		}),
		testcontainers.WithCmd("--delay-levels", delayLevels,
			"--tx-timeout", txTimeout, "--tx-check-interval", txCheckInterval),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/healthz").WithPort(portBrokerAdmin).
			WithStartupTimeout(startupTimeout)),
	)...)
	if err != nil {
		return err
	}
	url, err := ctr.PortEndpoint(ctx, portBrokerAdmin, "http")
	if err != nil {
		return fmt.Errorf("mqbroker admin address: %w", err)
	}
	s.mu.Lock()
	s.brokerURL = url
	s.mu.Unlock()
	return nil
}

func (s *stack) startInventory(ctx context.Context) error {
	ctr, err := s.run(ctx, "inventory_srv", s.images.inventory, aliasInventory,
		s.serviceACL(aclInventoryAcct),
		testcontainers.WithExposedPorts(portInventory),
		testcontainers.WithEnv(map[string]string{
			"INVENTORY_MYSQL_DSN": fmt.Sprintf("%s:%s@tcp(%s:3306)/inventory", dbUser, dbPassword, aliasMySQL),
			"MQ_NAMESRV":          aliasBroker + ":9876",
			"AUTH_JWT_SECRET":     authSecret,
		}),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/readyz").WithPort(portInventory).
			WithStartupTimeout(startupTimeout)),
	)
	if err != nil {
		return err
	}
	url, err := ctr.PortEndpoint(ctx, portInventory, "http")
	if err != nil {
		return fmt.Errorf("inventory_srv address: %w", err)
	}
	s.mu.Lock()
	s.invURL = url
	s.mu.Unlock()
	return nil
}

// startOrder starts an order_srv container (the first, or the successor of a crashed one) and
// makes it the one the test talks to.
func (s *stack) startOrder(ctx context.Context) error {
	s.mu.Lock()
	s.orderCount++
	name := "order_srv#" + strconv.Itoa(s.orderCount)
	s.mu.Unlock()
	ctr, err := s.run(ctx, name, s.images.order, aliasOrder,
		s.serviceACL(aclOrderAccount),
		testcontainers.WithExposedPorts(portOrder),
		testcontainers.WithEnv(map[string]string{
			"ORDER_MYSQL_DSN":         fmt.Sprintf("%s:%s@tcp(%s:3306)/orders", dbUser, dbPassword, aliasMySQL),
			"INVENTORY_URL":           "http://" + aliasInventory + ":8082",
			"MQ_NAMESRV":              aliasBroker + ":9876",
			"ORDER_PAY_TIMEOUT_LEVEL": strconv.Itoa(s.opts.payTimeoutLevel),
			"ORDER_FAULTS":            "1",
			"AUTH_JWT_SECRET":         authSecret,
			"PAYMENT_NOTIFY_SECRET":   notifySecret,
			"ORDER_PAYMENT_SIMULATOR": "1",
		}),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/readyz").WithPort(portOrder).
			WithStartupTimeout(startupTimeout)),
	)
	if err != nil {
		return err
	}
	url, err := ctr.PortEndpoint(ctx, portOrder, "http")
	if err != nil {
		return fmt.Errorf("%s address: %w", name, err)
	}
	s.mu.Lock()
	s.orderURL = url
	s.mu.Unlock()
	return nil
}

// restartOrder starts a successor of the crashed order_srv under the same network alias.
func (s *stack) restartOrder(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout+30*time.Second)
	defer cancel()
	if err := s.startOrder(ctx); err != nil {
		t.Fatalf("e2e: restart order_srv: %v", err)
	}
}

// awaitOrderCrash waits until the live order_srv container has exited and checks that it did so
// for an injected crash.
func (s *stack) awaitOrderCrash(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	var m member
	for _, x := range s.members {
		if strings.HasPrefix(x.name, "order_srv#") {
			m = x
		}
	}
	s.mu.Unlock()
	eventually(t, 30*time.Second, m.name+" exits after the injected crash", func(ctx context.Context) error {
		st, err := m.ctr.State(ctx)
		if err != nil {
			return err
		}
		if st.Running {
			return fmt.Errorf("%s is still %s", m.name, st.Status)
		}
		if st.ExitCode != exitCrash {
			t.Fatalf("%s exited with status %d, want %d (injected crash)", m.name, st.ExitCode, exitCrash)
		}
		return nil
	})
}

func (s *stack) order() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orderURL
}

func (s *stack) inventory() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.invURL
}

func (s *stack) broker() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.brokerURL
}

// close runs when the test ends: the invariant check (if the stack came up), the logs of every
// container (if the test failed), then the removal of the containers and the network.
func (s *stack) close() {
	s.mu.Lock()
	up, members := s.up, append([]member(nil), s.members...)
	s.mu.Unlock()
	if up {
		s.checkInvariant()
	}
	if s.t.Failed() {
		for _, m := range members {
			s.printLogs(m)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(members))
	for i, m := range members {
		wg.Go(func() {
			// No graceful stop: nothing is kept, and a killed process is what the system must
			// survive anyway.
			if err := testcontainers.TerminateContainer(m.ctr, testcontainers.StopTimeout(0)); err != nil {
				errs[i] = fmt.Errorf("remove %s: %w", m.name, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.t.Errorf("e2e: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.net.Remove(ctx); err != nil {
		s.t.Errorf("e2e: remove network: %v", err)
	}
}

// maxLogLines bounds the log lines printed per container (the last ones are kept).
const maxLogLines = 400

func (s *stack) printLogs(m member) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	state := "state unknown"
	if st, err := m.ctr.State(ctx); err == nil {
		state = fmt.Sprintf("%s, exit code %d", st.Status, st.ExitCode)
	}
	rc, err := m.ctr.Logs(ctx)
	if err != nil {
		s.t.Logf("e2e: logs of %s (%s): %v", m.name, state, err)
		return
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		s.t.Logf("e2e: logs of %s (%s): %v", m.name, state, err)
	}
	lines := bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n"))
	skipped := ""
	if len(lines) > maxLogLines {
		skipped = fmt.Sprintf("(%d earlier lines not shown)\n", len(lines)-maxLogLines)
		lines = lines[len(lines)-maxLogLines:]
	}
	s.t.Logf("e2e: ===== logs of %s (%s) =====\n%s%s\n===== end of %s =====",
		m.name, state, skipped, bytes.Join(lines, []byte("\n")), m.name)
}

// mustMint mints the stack's token of the scopes admin and service.
func mustMint(t *testing.T) string {
	t.Helper()
	tok, err := auth.Mint(authSecret, "e2e", 2*time.Hour, auth.ScopeAdmin, auth.ScopeService)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
