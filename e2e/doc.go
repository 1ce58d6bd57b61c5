// Package e2e holds shopsaga's end-to-end tests: MariaDB (or MySQL), mqbroker, inventory_srv and
// order_srv run as containers on one Docker network per test, started with testcontainers-go
// from locally built images, and the tests drive and observe them only through the public HTTP
// APIs (the services', and the broker's admin API to know when the system is quiescent).
//
// Run them with:
//
//	sh deploy/build-images.sh --with-mariadb && go test ./e2e/ -v
//
// (--with-mariadb needs root once, to build shopsaga/mariadb:10.11; `go test ./...` runs them
// too.) Without a Docker daemon, or with -short, the tests skip; with Docker but without the
// images they fail with the command that builds them: nothing is ever pulled. Images:
//
//	E2E_MYSQL_IMAGE      default shopsaga/mariadb:10.11 if present, else mysql:8.4
//	E2E_MQBROKER_IMAGE   default shopsaga/mqbroker:dev
//	E2E_INVENTORY_IMAGE  default shopsaga/inventory_srv:dev
//	E2E_ORDER_IMAGE      default shopsaga/order_srv:dev
//
// TESTCONTAINERS_RYUK_DISABLED=true and, inside a container, TESTCONTAINERS_HOST_OVERRIDE=localhost
// are set unless the environment says otherwise: every test removes its own containers and
// network, and prints the logs of all its containers when it fails. The scenarios are
// independent and run in parallel (at least 8 at a time unless -parallel says otherwise); each
// checks at its end that every saga settled with sold + remaining = initial for each of its goods.
//
// The broker runs with ACL on, as in deploy/docker-compose.yml: the same policy file
// (deploy/plain_acl.yml, one account per service), its secret keys generated per stack and passed
// through the environment, the services signing with MQ_ACCESS_KEY / MQ_SECRET_KEY, and the
// admin HTTP API behind a bearer token (acl_stack_test.go). acl_test.go checks the policy from
// outside with the official Go client: order_srv's account publishes order_reback and
// order_timeout; inventory_srv's account, a wrong secret and an unsigned client get
// NO_PERMISSION naming what was refused.
//
// The package has no non-test code.
package e2e
