#!/bin/sh
# build.sh builds a MariaDB image without an image registry: debootstrap a minimal Debian with
# mariadb-server from the machine's own apt mirror, add entrypoint.sh, and docker import it.
#
#   deploy/mariadb/build.sh [--force] [IMAGE]
#
# IMAGE defaults to $MARIADB_IMAGE, else shopsaga/mariadb:10.11. An existing image is kept unless
# --force is given. Runs as root (debootstrap needs it). Environment:
#   MARIADB_SUITE   Debian suite (default bookworm, which ships MariaDB 10.11)
#   MARIADB_MIRROR  Debian mirror URL (default: taken from this machine's apt sources)
set -eu

usage() {
	echo "usage: $0 [--force] [IMAGE]  (IMAGE defaults to \$MARIADB_IMAGE or shopsaga/mariadb:10.11)" >&2
	exit 2
}

force=false
image=${MARIADB_IMAGE:-shopsaga/mariadb:10.11}
while [ "$#" -gt 0 ]; do
	case "$1" in
	--force) force=true ;;
	-h | --help) usage ;;
	-*) echo "unknown option $1" >&2; usage ;;
	*) image=$1 ;;
	esac
	shift
done
suite=${MARIADB_SUITE:-bookworm}
here=$(cd "$(dirname "$0")" && pwd)

log() { printf '%s build.sh: %s\n' "$(date '+%H:%M:%S')" "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

command -v docker >/dev/null || die "docker is not installed"
if ! $force && docker image inspect "$image" >/dev/null 2>&1; then
	log "$image exists; nothing to do (--force rebuilds it)"
	exit 0
fi
[ "$(id -u)" = 0 ] || die "run as root: debootstrap needs it"

# apt_mirror prints the first Debian mirror in this machine's apt sources that serves $suite
# itself (not -security or -updates). deb822 files first, then the one-line format.
apt_mirror() {
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v suite="$suite" '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " suite " ") && uris != "") {
					split(uris, u, " "); print u[1]; exit
				}
				types = suites = uris = enabled = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			{
				i = index($0, ":"); if (i == 0) next
				key = tolower(substr($0, 1, i - 1)); val = substr($0, i + 1)
				gsub(/^[ \t]+|[ \t]+$/, "", val)
				if (key == "types") types = val
				else if (key == "suites") suites = val
				else if (key == "uris") uris = val
				else if (key == "enabled") enabled = tolower(val)
			}
			END { flush() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk -v suite="$suite" '
			$1 != "deb" { next }
			{
				i = 2
				if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
				if ($(i + 1) == suite) { print $i; exit }
			}' "$f"
	done
}

mirror=${MARIADB_MIRROR:-$(apt_mirror | head -n 1)}
[ -n "$mirror" ] || die "no apt source for suite $suite in /etc/apt; set MARIADB_MIRROR=<Debian mirror URL>"

if ! command -v debootstrap >/dev/null; then
	log "installing debootstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null; } ||
		die "cannot install debootstrap"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mariadb-rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
rootfs=$work/rootfs
start=$(now)

log "debootstrap $suite from $mirror into $rootfs"
t=$(now)
debootstrap --variant=minbase --include=mariadb-server "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
log "debootstrap took $(elapsed "$t")"

t=$(now)
# The image starts from an empty data directory: the entrypoint initialises it with the
# environment's settings (the package's postinst may have created one with socket-only root).
rm -rf "$rootfs"/var/lib/mysql
mkdir -p "$rootfs"/var/lib/mysql "$rootfs"/run/mysqld "$rootfs"/docker-entrypoint-initdb.d
chroot "$rootfs" chown mysql:mysql /var/lib/mysql /run/mysqld
install -m 0755 "$here/entrypoint.sh" "$rootfs/usr/local/bin/docker-entrypoint.sh"
# Clients and healthchecks written for the mysql image call the old names.
for pair in mariadb:mysql mariadb-admin:mysqladmin mariadb-dump:mysqldump; do
	new=${pair%%:*} old=${pair#*:}
	if [ -x "$rootfs/usr/bin/$new" ] && [ ! -e "$rootfs/usr/bin/$old" ]; then
		ln -s "$new" "$rootfs/usr/bin/$old"
	fi
done
# Size: documentation, translations, package lists and caches are not needed at run time.
rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
	"$rootfs"/usr/share/locale/* "$rootfs"/usr/share/lintian "$rootfs"/usr/share/linda \
	"$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
	"$rootfs"/var/lib/dpkg/*-old "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/var/tmp/* \
	"$rootfs"/debootstrap
# Docker supplies these at run time.
: >"$rootfs/etc/hostname"
: >"$rootfs/etc/resolv.conf"
log "rootfs prepared in $(elapsed "$t"): $(du -sh "$rootfs" | cut -f1)"

t=$(now)
previous=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
version=$(chroot "$rootfs" dpkg-query -W -f '${Version}' mariadb-server 2>/dev/null || echo unknown)
tar --numeric-owner -C "$rootfs" -c . | docker import \
	--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
	--change 'CMD ["mariadbd"]' \
	--change 'EXPOSE 3306' \
	--change 'VOLUME /var/lib/mysql' \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'ENV LANG=C.UTF-8' \
	--change "LABEL org.opencontainers.image.title=mariadb org.opencontainers.image.version=$version org.opencontainers.image.description=\"MariaDB from Debian $suite, built offline by shopsaga deploy/mariadb/build.sh\"" \
	--message "debootstrap $suite mariadb-server $version" \
	- "$image" >/dev/null
log "docker import took $(elapsed "$t")"
# The image replaced by --force is left untagged: remove it unless a container still uses it.
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$image")" ]; then
	docker rmi "$previous" >/dev/null 2>&1 || true
fi
log "built $image (mariadb-server $version, $(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%d MB", $1 / 1e6 }')) in $(elapsed "$start")"
