#!/bin/sh
# Entrypoint of the offline shopsaga/mariadb image (see build.sh).
#
# It honours the environment of the official mariadb/mysql images without a temporary server:
# - an empty data directory is initialised with mariadb-install-db, then `mariadbd --bootstrap`
#   (no network, no socket) runs the accounts and /docker-entrypoint-initdb.d/*.sql{,.gz} once;
#   a failing statement stops the container with the server's error;
# - on every start an idempotent init SQL file (root, database, user, grants) is written and
#   mariadbd is exec'ed with --init-file, which it runs before it accepts connections: the
#   "ready for connections" line means the accounts exist. A password changed in the environment
#   is therefore applied on the next start.
#
# Variables (MARIADB_* wins over MYSQL_*; *_FILE variants are read too):
#   ROOT_PASSWORD, ALLOW_EMPTY_ROOT_PASSWORD (or MYSQL_ALLOW_EMPTY_PASSWORD), RANDOM_ROOT_PASSWORD,
#   ROOT_HOST (default %), DATABASE, USER, PASSWORD.
# Arguments starting with "-" (after an optional "mariadbd") are passed to the server.
set -eu

DATADIR=/var/lib/mysql
RUNDIR=/run/mysqld
INIT_SQL="$RUNDIR/docker-entrypoint-init.sql"
INITDB_DIR=/docker-entrypoint-initdb.d

log() { printf '%s [Entrypoint]: %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S')" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# setting NAME prints MARIADB_NAME, else MYSQL_NAME, else the contents of MARIADB_NAME_FILE or
# MYSQL_NAME_FILE, else nothing.
setting() {
	for prefix in MARIADB MYSQL; do
		eval "value=\${${prefix}_$1:-}"
		if [ -n "$value" ]; then
			printf '%s' "$value"
			return 0
		fi
	done
	for prefix in MARIADB MYSQL; do
		eval "file=\${${prefix}_$1_FILE:-}"
		if [ -n "$file" ]; then
			[ -r "$file" ] || die "${prefix}_$1_FILE=$file is not readable"
			cat "$file"
			return 0
		fi
	done
}

# is_true accepts the spellings the official images accept for a yes.
is_true() {
	case "$1" in
	1 | yes | YES | Yes | true | TRUE | True | on | ON | On) return 0 ;;
	*) return 1 ;;
	esac
}

# sql prints one line of the init file (dash's echo would interpret backslashes).
sql() { printf '%s\n' "$*"; }

# sql_string prints $1 as a single-quoted SQL string literal.
sql_string() {
	printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"
}

# sql_ident prints $1 as a back-quoted SQL identifier.
sql_ident() {
	printf '`%s`' "$(printf '%s' "$1" | sed -e 's/`/``/g')"
}

# Arguments: none, "mariadbd"/"mysqld" with options, or bare options are server options;
# anything else (a shell, mariadb-admin ...) runs as given.
if [ "$#" -gt 0 ]; then
	case "$1" in
	mariadbd | mysqld)
		shift
		case " $* " in
		*" --help "* | *" --version "* | *" -V "*) exec mariadbd "$@" ;;
		esac
		;;
	-*) ;;
	*) exec "$@" ;;
	esac
fi

root_password=$(setting ROOT_PASSWORD)
allow_empty=$(setting ALLOW_EMPTY_ROOT_PASSWORD)
[ -n "$allow_empty" ] || allow_empty=${MYSQL_ALLOW_EMPTY_PASSWORD:-}
random_root=$(setting RANDOM_ROOT_PASSWORD)
root_host=$(setting ROOT_HOST)
[ -n "$root_host" ] || root_host=%
database=$(setting DATABASE)
user=$(setting USER)
password=$(setting PASSWORD)

if [ -z "$root_password" ] && ! is_true "$allow_empty" && ! is_true "$random_root"; then
	die "no root password option is set.
    Set one of MARIADB_ROOT_PASSWORD (or MYSQL_ROOT_PASSWORD), MARIADB_ALLOW_EMPTY_ROOT_PASSWORD
    (or MYSQL_ALLOW_EMPTY_PASSWORD) or MARIADB_RANDOM_ROOT_PASSWORD."
fi
if [ "$user" = root ]; then
	die "MARIADB_USER/MYSQL_USER must not be root; set MARIADB_ROOT_PASSWORD for root"
fi
if [ -n "$user" ] && [ -z "$password" ]; then
	die "MARIADB_USER/MYSQL_USER=$user is set but MARIADB_PASSWORD/MYSQL_PASSWORD is empty"
fi
if [ -n "$password" ] && [ -z "$user" ]; then
	log "warning: MARIADB_PASSWORD/MYSQL_PASSWORD is set without MARIADB_USER/MYSQL_USER; ignored"
fi

# As root the server drops to the mysql user; run with --user <uid> it keeps that uid.
if [ "$(id -u)" = 0 ]; then
	user_opt=--user=mysql
	mkdir -p "$DATADIR" "$RUNDIR"
	chown mysql:mysql "$DATADIR" "$RUNDIR"
	chmod 0755 "$RUNDIR"
else
	user_opt=
	mkdir -p "$RUNDIR" 2>/dev/null || true
fi

# account_sql prints the statements run on every start: root, database, user, grants.
account_sql() {
	if [ -n "$root_password" ] || is_true "$allow_empty"; then
		pw=$(sql_string "$root_password")
		sql "CREATE USER IF NOT EXISTS 'root'@'localhost';"
		sql "ALTER USER 'root'@'localhost' IDENTIFIED BY $pw;"
		sql "GRANT ALL ON *.* TO 'root'@'localhost' WITH GRANT OPTION;"
		if [ "$root_host" != localhost ]; then
			host=$(sql_string "$root_host")
			sql "CREATE USER IF NOT EXISTS 'root'@$host;"
			sql "ALTER USER 'root'@$host IDENTIFIED BY $pw;"
			sql "GRANT ALL ON *.* TO 'root'@$host WITH GRANT OPTION;"
		fi
	fi
	if [ -n "$database" ]; then
		sql "CREATE DATABASE IF NOT EXISTS $(sql_ident "$database");"
	fi
	if [ -n "$user" ]; then
		u=$(sql_string "$user")
		sql "CREATE USER IF NOT EXISTS $u@'%';"
		sql "ALTER USER $u@'%' IDENTIFIED BY $(sql_string "$password");"
		if [ -n "$database" ]; then
			sql "GRANT ALL ON $(sql_ident "$database").* TO $u@'%';"
		fi
	fi
}

# initialisation_sql prints what runs once, on the start that initialises the data directory.
initialisation_sql() {
	# Loads the grant tables, which --bootstrap skips. Only once: after a second FLUSH PRIVILEGES
	# MariaDB 10.11's bootstrap no longer prints the error of a failing statement.
	sql "FLUSH PRIVILEGES;"
	# mariadb-install-db also creates password-less root@127.0.0.1, root@::1 and root@<host>.
	h=$(sql_string "$(hostname)")
	sql "DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1', 'root'@$h, ''@'localhost', ''@$h;"
	account_sql
	if [ -z "$root_password" ] && ! is_true "$allow_empty"; then
		generated=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)
		log "GENERATED ROOT PASSWORD: $generated"
		pw=$(sql_string "$generated")
		host=$(sql_string "$root_host")
		sql "ALTER USER 'root'@'localhost' IDENTIFIED BY $pw;"
		sql "CREATE USER IF NOT EXISTS 'root'@$host IDENTIFIED BY $pw;"
		sql "GRANT ALL ON *.* TO 'root'@$host WITH GRANT OPTION;"
	fi
	[ -d "$INITDB_DIR" ] || return 0
	for f in "$INITDB_DIR"/*; do
		[ -f "$f" ] || continue
		case "$f" in
		*.sql | *.sql.gz) log "running $f" ;;
		*) log "ignoring $f (only *.sql and *.sql.gz are run)"; continue ;;
		esac
		# As in the official image, scripts run with MARIADB_DATABASE selected.
		if [ -n "$database" ]; then
			sql "USE $(sql_ident "$database");"
		fi
		case "$f" in
		*.gz) gzip -dc "$f" ;;
		*) cat "$f" ;;
		esac
		echo
	done
}

# A failed initialisation leaves a marker: starting on such a data directory would hide the
# failure, so the entrypoint refuses until the directory is emptied.
marker="$DATADIR/.docker-entrypoint-initialising"
if [ -e "$marker" ]; then
	die "a previous initialisation of $DATADIR failed (see its log); empty the directory or volume and start again"
fi
if [ ! -d "$DATADIR/mysql" ]; then
	log "initialising the data directory $DATADIR"
	: >"$marker"
	# --skip-name-resolve: the install script otherwise insists on resolving the host name.
	mariadb-install-db $user_opt --datadir="$DATADIR" --auth-root-authentication-method=normal \
		--skip-test-db --skip-name-resolve "$@" >/dev/null 2>"$RUNDIR/install-db.log" ||
		{ cat "$RUNDIR/install-db.log" >&2; die "mariadb-install-db failed"; }
	# Users, grants and /docker-entrypoint-initdb.d run in bootstrap mode: no network, no socket,
	# and unlike --init-file (which stops silently at the first error) a failing statement fails
	# the start with the server's error message.
	initialisation_sql | mariadbd --bootstrap $user_opt --datadir="$DATADIR" --skip-name-resolve \
		"$@" >"$RUNDIR/bootstrap.log" 2>&1 ||
		{ grep -v '\[Note\]\|\[Warning\]' "$RUNDIR/bootstrap.log" >&2; die "initialisation SQL failed"; }
	rm -f "$marker" "$RUNDIR/install-db.log" "$RUNDIR/bootstrap.log"
	log "data directory initialised"
fi

# The init file holds passwords: readable by the server only.
umask 077
{
	sql "-- written by docker-entrypoint.sh; run by mariadbd --init-file before it accepts connections"
	sql "SET @@SESSION.SQL_LOG_BIN = 0;"
	account_sql
	sql "FLUSH PRIVILEGES;"
} >"$INIT_SQL"
if [ -n "$user_opt" ]; then
	chown mysql:mysql "$INIT_SQL"
fi

log "starting mariadbd"
# --bind-address on the command line: Debian's mariadb.conf.d/50-server.cnf binds 127.0.0.1 and
# is read after any conf.d/ file a user mounts.
exec mariadbd $user_opt --datadir="$DATADIR" --bind-address=0.0.0.0 --port=3306 \
	--skip-name-resolve --init-file="$INIT_SQL" "$@"
