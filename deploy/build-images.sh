#!/bin/sh
# build-images.sh builds shopsaga's images without a registry: each Go program is compiled on
# this machine (static, CGO_ENABLED=0) into a temporary context and put in a FROM-scratch image
# by the classic builder, which pulls nothing.
#
#   deploy/build-images.sh [--with-mariadb] [--force-mariadb] [--tag TAG] [PROGRAM...]
#
# PROGRAM: mqbroker, inventory_srv, order_srv (default: all three). A program whose folder has
# no main package yet is skipped with a warning; one that does not compile fails the script
# after the others are built. Image names (the same variables docker-compose.yml reads):
#   MQBROKER_IMAGE       default shopsaga/mqbroker:TAG
#   INVENTORY_SRV_IMAGE  default shopsaga/inventory_srv:TAG
#   ORDER_SRV_IMAGE      default shopsaga/order_srv:TAG
#   MARIADB_IMAGE        default shopsaga/mariadb:10.11 (--with-mariadb; built by mariadb/build.sh,
#                        as root, skipped if present unless --force-mariadb)
# TAG defaults to dev.
set -eu

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
	exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
tag=dev
with_mariadb=false
mariadb_force=
programs=
while [ "$#" -gt 0 ]; do
	case "$1" in
	--with-mariadb) with_mariadb=true ;;
	--force-mariadb) with_mariadb=true mariadb_force=--force ;;
	--tag)
		[ "$#" -ge 2 ] || usage
		tag=$2
		shift
		;;
	--tag=*) tag=${1#--tag=} ;;
	-h | --help) usage ;;
	mqbroker | inventory_srv | order_srv) programs="$programs $1" ;;
	*) echo "unknown argument $1" >&2; usage ;;
	esac
	shift
done
[ -n "$programs" ] || programs="mqbroker inventory_srv order_srv"

log() { printf '%s build-images.sh: %s\n' "$(date '+%H:%M:%S')" "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

image_of() {
	case "$1" in
	mqbroker) echo "${MQBROKER_IMAGE:-shopsaga/mqbroker:$tag}" ;;
	inventory_srv) echo "${INVENTORY_SRV_IMAGE:-shopsaga/inventory_srv:$tag}" ;;
	order_srv) echo "${ORDER_SRV_IMAGE:-shopsaga/order_srv:$tag}" ;;
	esac
}

command -v docker >/dev/null || { log "error: docker is not installed"; exit 1; }
command -v go >/dev/null || { log "error: go is not installed (the binaries are built on this machine)"; exit 1; }

failed=
if $with_mariadb; then
	"$here/mariadb/build.sh" $mariadb_force || failed="$failed mariadb"
fi

# Binaries for the daemon's platform, whatever this machine is.
goarch=$(docker version -f '{{.Server.Arch}}' 2>/dev/null || go env GOARCH)
work=$(mktemp -d "${TMPDIR:-/tmp}/shopsaga-images.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
revision=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)

for p in $programs; do
	image=$(image_of "$p")
	if ! grep -qs '^package main' "$repo/$p"/*.go; then
		log "warning: $p has no main package yet; skipping $image"
		continue
	fi
	ctx=$work/$p
	mkdir -p "$ctx/data" "$ctx/tmp"
	t=$(now)
	if ! (cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=$goarch \
		go build -trimpath -ldflags='-s -w' -o "$ctx/$p" "./$p"); then
		log "error: $p does not compile; $image not built"
		failed="$failed $p"
		continue
	fi
	built=$(elapsed "$t")
	t=$(now)
	cp "$here/Dockerfile.$p" "$ctx/Dockerfile"
	# DOCKER_BUILDKIT=0: the classic builder, said explicitly; newer CLIs otherwise spend seconds
	# looking for buildx before falling back.
	if ! DOCKER_BUILDKIT=0 docker build -q --label "org.opencontainers.image.revision=$revision" \
		-t "$image" "$ctx" >/dev/null 2>"$work/build.log"; then
		cat "$work/build.log" >&2
		log "error: docker build of $image failed"
		failed="$failed $p"
		continue
	fi
	log "built $image (go build $built, docker build $(elapsed "$t"), $(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%.1f MB", $1 / 1e6 }'))"
done

if [ -n "$failed" ]; then
	log "failed:$failed"
	exit 1
fi
