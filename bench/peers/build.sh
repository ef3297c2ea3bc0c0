#!/usr/bin/env bash
# bench/peers/build.sh: installs what bench/compare needs besides stowage.
#
#   - restic and kopia, built from the Go module proxy through a throwaway
#     module of our own (`go install …@vX` is refused for both: the proxy will
#     not serve the version list that `go install` reads for deprecations), and
#     cached as ${STOWAGE_CACHE:-$HOME/.cache/stowage}/bin/{restic,kopia}-vX;
#   - GNU time (/usr/bin/time) and linux-source-6.1 (the kernel tree used as a
#     real source tree), from Debian, when missing.
#
# Prints `restic=PATH` and `kopia=PATH` lines on stdout (logs go to stderr), and
# the build time of each peer it had to build, so bench/compare can report it.
# Idempotent: a second run only checks the cache.
set -euo pipefail

RESTIC_VERSION="${RESTIC_VERSION:-v0.18.1}"
KOPIA_VERSION="${KOPIA_VERSION:-v0.21.1}"
CACHE="${STOWAGE_CACHE:-$HOME/.cache/stowage}"
BIN_CACHE="$CACHE/bin"
mkdir -p "$BIN_CACHE"

log() { echo "peers: $*" >&2; }
die() { echo "peers: $*" >&2; exit 1; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 || die "apt-get install $* failed"
}

# Debian packages: GNU time and the kernel source tarball (skipped with
# --no-apt, e.g. when only the peers are wanted).
if [ "${1:-}" != "--no-apt" ]; then
  [ -x /usr/bin/time ] || apt_install time
  [ -f /usr/src/linux-source-6.1.tar.xz ] || apt_install linux-source-6.1
fi

command -v go >/dev/null || die "go is not installed (needed to build restic and kopia from the Go module proxy)"

# build_peer NAME VERSION MODULE PACKAGE: builds PACKAGE (a main package of
# MODULE@VERSION) in a module of our own and caches it as $BIN_CACHE/NAME-VERSION.
# Atomic: a failed or interrupted build leaves no cache entry behind.
build_peer() {
  local name="$1" version="$2" module="$3" package="$4"
  local bin="$BIN_CACHE/$name-$version"
  if [ -x "$bin" ]; then
    echo "$name=$bin"
    return 0
  fi
  local work start secs
  work="$(mktemp -d "${TMPDIR:-/tmp}/stowage-peer-$name.XXXXXX")"
  start=$(date +%s)
  log "building $name $version (own module requiring $module $version)"
  cat >"$work/go.mod" <<EOF
module stowage.local/peer-$name

go 1.24

require $module $version
EOF
  # `go get PACKAGE@VERSION` records the sums of that package's imports only
  # (`go mod tidy` would also fetch the test dependencies of every module).
  if ! (cd "$work" && go get "$package@$version" >&2 && \
        CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/$name" "$package" >&2); then
    rm -rf "$work"
    die "building $name $version failed (module $module $version, package $package); see the go output above"
  fi
  mv "$work/$name" "$bin.tmp.$$" && mv "$bin.tmp.$$" "$bin"
  rm -rf "$work"
  secs=$(( $(date +%s) - start ))
  log "built $name $version in ${secs}s -> $bin"
  echo "$name-build-seconds=$secs"
  echo "$name=$bin"
}

build_peer restic "$RESTIC_VERSION" github.com/restic/restic github.com/restic/restic/cmd/restic
build_peer kopia "$KOPIA_VERSION" github.com/kopia/kopia github.com/kopia/kopia
