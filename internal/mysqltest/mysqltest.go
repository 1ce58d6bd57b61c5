// Package mysqltest gives each test a fresh, empty MariaDB database with the migrations of its
// choice applied, on a real server:
//
//	func TestMain(m *testing.M) { mysqltest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := mysqltest.New(t, migrations.Inventory) // dropped when the test ends
//		...
//	}
//
// The server is, in order of preference:
//
//  1. the one named by SHOPSAGA_TEST_MYSQL_DSN, a DSN of a user that may create and drop
//     databases, e.g. "root:pw@tcp(127.0.0.1:3306)/";
//  2. a container started with testcontainers-go from the image SHOPSAGA_TEST_MYSQL_IMAGE
//     (default shopsaga/mariadb:10.11, built locally by deploy/mariadb/build.sh; it is never
//     pulled), started on first use and shared by all tests of the test binary, and removed by
//     Main when the tests end.
//
// With neither (no Docker daemon, or the image is missing) the test is skipped with a message
// saying how to get one; a server that exists but fails is a test failure. In -short mode every
// test that needs a database is skipped.
//
// It is a test helper: it must not be imported by non-test code.
package mysqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/moby/moby/api/types/network"
	"github.com/pressly/goose/v3"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Environment variables read by the package.
const (
	EnvDSN   = "SHOPSAGA_TEST_MYSQL_DSN"
	EnvImage = "SHOPSAGA_TEST_MYSQL_IMAGE"
)

// DefaultImage is the image started when EnvImage is not set.
const DefaultImage = "shopsaga/mariadb:10.11"

const howToGetOne = "set " + EnvDSN + " to a root DSN of a running MariaDB/MySQL " +
	`(e.g. "root:pw@tcp(127.0.0.1:3306)/"), or build the image with deploy/mariadb/build.sh ` +
	"and make the Docker daemon reachable"

// server is the database server of this test binary. All fields are set once by start.
type server struct {
	once    sync.Once
	rootDSN string                   // a DSN of a user that can create databases, no database
	skip    string                   // why tests must be skipped, if there is no server
	err     error                    // why the server failed
	ctr     testcontainers.Container // the container started, if any

	mu          sync.Mutex // guards mainRunning
	mainRunning bool       // Main is running the tests and will remove the container
}

// shared is the one server of the test binary: Main and New must agree on it.
var shared server

// Main runs the tests of a package and then removes the container New started, if any. Call it
// from TestMain; it does not return.
func Main(m *testing.M) {
	shared.mu.Lock()
	shared.mainRunning = true
	shared.mu.Unlock()
	code := m.Run()
	if shared.ctr != nil {
		if err := testcontainers.TerminateContainer(shared.ctr); err != nil {
			fmt.Fprintf(os.Stderr, "mysqltest: remove the MariaDB container: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// New creates an empty database with a random name, applies the goose SQL migrations of fsys to
// it (none if fsys is nil) and returns its DSN (with parseTime=true). The database is dropped
// when t ends.
func New(t testing.TB, fsys fs.FS) string {
	t.Helper()
	if testing.Short() {
		t.Skip("mysqltest: needs MariaDB; skipped in -short mode")
	}
	shared.once.Do(func() { shared.start(t) })
	switch {
	case shared.skip != "":
		t.Skip(shared.skip)
	case shared.err != nil:
		t.Fatal(shared.err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rootCfg, err := mysqldriver.ParseDSN(shared.rootDSN)
	if err != nil {
		t.Fatalf("mysqltest: parse %s: %v", EnvDSN, err)
	}
	root, err := sql.Open("mysql", rootCfg.FormatDSN())
	if err != nil {
		t.Fatalf("mysqltest: %v", err)
	}
	defer root.Close()

	name := databaseName(t.Name())
	if _, err := root.ExecContext(ctx,
		"CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("mysqltest: create database: %v", err)
	}
	t.Cleanup(func() { drop(t, rootCfg, name) })

	cfg := rootCfg.Clone()
	cfg.DBName = name
	cfg.ParseTime = true
	dsn := cfg.FormatDSN()
	if fsys != nil {
		if err := migrate(ctx, dsn, fsys); err != nil {
			t.Fatalf("mysqltest: %v", err)
		}
	}
	return dsn
}

// Migrator returns a goose provider of the migrations in fsys for the database of dsn, for tests
// of the migrations themselves (down and up again). The connection is closed when t ends.
func Migrator(t testing.TB, dsn string, fsys fs.FS) *goose.Provider {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("mysqltest: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	p, err := goose.NewProvider(goose.DialectMySQL, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatalf("mysqltest: migrations: %v", err)
	}
	return p
}

func migrate(ctx context.Context, dsn string, fsys fs.FS) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectMySQL, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

func drop(t testing.TB, rootCfg *mysqldriver.Config, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root, err := sql.Open("mysql", rootCfg.FormatDSN())
	if err != nil {
		t.Errorf("mysqltest: drop database %s: %v", name, err)
		return
	}
	defer root.Close()
	if _, err := root.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
		t.Errorf("mysqltest: drop database %s: %v", name, err)
	}
}

var notNameChars = regexp.MustCompile(`[^a-z0-9]+`)

// databaseName is "t_<test name, shortened>_<random>", at most 64 characters (MySQL's limit).
func databaseName(testName string) string {
	base := strings.Trim(notNameChars.ReplaceAllString(strings.ToLower(testName), "_"), "_")
	if len(base) > 40 {
		base = base[:40]
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "t_" + base + "_" + hex.EncodeToString(b)
}

// start finds or starts the server; it sets exactly one of rootDSN, skip and err.
func (s *server) start(t testing.TB) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		if _, err := mysqldriver.ParseDSN(dsn); err != nil {
			s.err = fmt.Errorf("mysqltest: %s: %w", EnvDSN, err)
			return
		}
		s.rootDSN = dsn
		return
	}
	s.mu.Lock()
	mainRunning := s.mainRunning
	s.mu.Unlock()
	if !mainRunning {
		s.err = fmt.Errorf("mysqltest: %s is not set, so a container is needed, and only Main removes it: "+
			"add func TestMain(m *testing.M) { mysqltest.Main(m) } to the package's tests", EnvDSN)
		return
	}
	image := os.Getenv(EnvImage)
	if image == "" {
		image = DefaultImage
	}
	s.rootDSN, s.ctr, s.skip, s.err = startContainer(t, image)
}

// startContainer runs image and waits until MariaDB answers SQL.
func startContainer(t testing.TB, image string) (rootDSN string, ctr testcontainers.Container, skip string, err error) {
	configureTestcontainers()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if skip := checkImage(ctx, image); skip != "" {
		return "", nil, skip, nil
	}

	const password = "mysqltest"
	dsnAt := func(host, port string) string {
		return fmt.Sprintf("root:%s@tcp(%s)/", password, net.JoinHostPort(host, port))
	}
	t.Logf("mysqltest: starting %s", image)
	started := time.Now()
	ctr, err = testcontainers.Run(ctx, image,
		testcontainers.WithExposedPorts("3306/tcp"),
		testcontainers.WithEnv(map[string]string{"MARIADB_ROOT_PASSWORD": password}),
		testcontainers.WithLabels(map[string]string{"org.shopsaga.mysqltest": "true"}),
		// Not a log wait: the log lines differ between images and a restarted container prints
		// old ones again; SQL answering is the condition we need.
		testcontainers.WithWaitStrategy(wait.ForSQL("3306/tcp", "mysql", func(host string, port network.Port) string {
			return dsnAt(host, port.Port())
		}).WithStartupTimeout(2*time.Minute)),
	)
	if err != nil {
		if ctr != nil {
			_ = testcontainers.TerminateContainer(ctr)
		}
		return "", nil, "", fmt.Errorf("mysqltest: start %s: %w", image, err)
	}
	host, err := ctr.Host(ctx)
	if err == nil {
		var port network.Port
		port, err = ctr.MappedPort(ctx, "3306/tcp")
		rootDSN = dsnAt(host, port.Port())
	}
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return "", nil, "", fmt.Errorf("mysqltest: address of %s: %w", image, err)
	}
	t.Logf("mysqltest: %s ready at %s in %v", image, rootDSN, time.Since(started).Round(time.Millisecond))
	return rootDSN, ctr, "", nil
}

// checkImage returns a reason to skip if there is no Docker daemon or it lacks image (nothing is
// ever pulled: the machines this runs on have no registry).
func checkImage(ctx context.Context, image string) (skip string) {
	defer func() {
		if r := recover(); r != nil { // testcontainers panics when it finds no Docker at all
			skip = fmt.Sprintf("mysqltest: no Docker (%v); %s", r, howToGetOne)
		}
	}()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Sprintf("mysqltest: no Docker (%v); %s", err, howToGetOne)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, image); err != nil {
		if errdefs.IsNotFound(err) {
			return fmt.Sprintf("mysqltest: image %s is missing; %s", image, howToGetOne)
		}
		return fmt.Sprintf("mysqltest: Docker unusable (%v); %s", err, howToGetOne)
	}
	return ""
}

// configureTestcontainers sets the two testcontainers settings this project's machines need,
// unless the environment already says otherwise: no Ryuk reaper (its image cannot be pulled;
// Main removes the container instead), and, inside a container (/.dockerenv) talking to the local
// daemon, published ports reached on localhost rather than on the gateway address.
func configureTestcontainers() {
	if _, ok := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !ok {
		_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	_, overridden := os.LookupEnv("TESTCONTAINERS_HOST_OVERRIDE")
	host := os.Getenv("DOCKER_HOST")
	localDaemon := host == "" || strings.HasPrefix(host, "unix://")
	if _, err := os.Stat("/.dockerenv"); err == nil && !overridden && localDaemon {
		_ = os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "localhost")
	}
}
