// Command dtmvs runs shopsaga's order saga and DTM's 2-phase message side by side, in one run,
// on one MariaDB/MySQL server, with the same closed-loop load, and prints orders/s and latency
// quantiles for both (see ../README.md).
//
//	cd bench && go run ./dtmvs -dsn 'root:pw@tcp(127.0.0.1:3306)/'
//
// It builds shopsaga's programs from the enclosing repository (-repo, default ..), starts
// mqbroker, inventory_srv and order_srv on fresh databases, and DTM's server (linked from
// github.com/dtm-labs/dtm, with its MySQL store) plus the DTM side of the order (dtm-app: the
// same rows as shopsaga's order, with DTM's barrier) as processes of this binary. The sub-commands
// dtm-server and dtm-app are those processes.
package main

import (
	"fmt"
	"os"
)

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "dtm-server":
		err = runDTMServer(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "dtm-app":
		err = runDTMApp(os.Args[2:])
	default:
		err = runBench(os.Args[1:], os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dtmvs:", err)
		os.Exit(1)
	}
}
