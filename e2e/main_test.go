package e2e

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"strings"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// minParallel is how many scenarios run at once unless -parallel is given. Each scenario mostly
// waits (for containers, check-backs, delayed messages), so more than GOMAXPROCS at a time is
// what keeps the suite short on a 2-core machine.
const minParallel = 8

func TestMain(m *testing.M) {
	flag.Parse()
	configureTestcontainers()
	quietLibraries()
	if err := raiseParallelism(minParallel); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// configureTestcontainers sets what testcontainers needs on machines without a registry, unless
// the environment already says otherwise: no Ryuk reaper (its image cannot be pulled; the tests
// remove their containers themselves), and, when this process runs inside a container
// (/.dockerenv) talking to the local daemon, mapped ports reached on localhost rather than on
// the gateway address testcontainers would otherwise pick.
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

// quietLibraries silences testcontainers' progress lines (the tests log what matters, and print
// the containers' logs when they fail) and the MySQL driver's complaints while wait.ForSQL polls
// a server that is still starting.
func quietLibraries() {
	tclog.SetDefault(tclog.NewNoopLogger())
	_ = mysqldriver.SetLogger(log.New(io.Discard, "", 0))
}

// raiseParallelism sets -test.parallel to at least n unless it was given on the command line.
func raiseParallelism(n int) error {
	f := flag.Lookup("test.parallel")
	if f == nil {
		return nil
	}
	given := false
	flag.Visit(func(v *flag.Flag) { given = given || v.Name == "test.parallel" })
	if cur, err := strconv.Atoi(f.Value.String()); given || err != nil || cur >= n {
		return nil
	}
	return flag.Set("test.parallel", strconv.Itoa(n))
}
