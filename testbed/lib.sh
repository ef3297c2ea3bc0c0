# Shared helpers for testbed/up and testbed/down. Sourced, not executed.
RUN_DIR="$TESTBED_DIR/run"
CACHE="${STOWAGE_CACHE:-$HOME/.cache/stowage}"
BIN_CACHE="$CACHE/bin"
ALL_COMPONENTS=(minio miniotls versitygw kube zfs)
mkdir -p "$RUN_DIR/pids" "$RUN_DIR/logs" "$RUN_DIR/env.d" "$BIN_CACHE"

die() { echo "testbed: $*" >&2; exit 1; }
log() { echo "testbed: $*" >&2; }

# is_running NAME: true when NAME's recorded pid is alive.
is_running() {
  local f="$RUN_DIR/pids/$1.pid"
  [ -f "$f" ] && pid_alive "$(cat "$f")"
}

# start_bg NAME CMD...: starts CMD in the background, logs to run/logs/NAME.log,
# records its pid in run/pids/NAME.pid.
start_bg() {
  local name="$1"; shift
  nohup "$@" >"$RUN_DIR/logs/$name.log" 2>&1 &
  echo $! >"$RUN_DIR/pids/$name.pid"
}

# pid_alive PID: true while PID runs. A process that exited but is not yet
# reaped (a zombie) counts as gone: this machine's init reaps the orphans that
# start_bg leaves only every second or two, and kill -0 succeeds on zombies.
pid_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  case "$(ps -o stat= -p "$1" 2>/dev/null)" in Z*) return 1 ;; esac
  return 0
}

# stop_pidfile FILE: SIGTERM, wait up to 20 s for the id to disappear, SIGKILL.
stop_pidfile() {
  local f="$1" pid
  pid="$(cat "$f" 2>/dev/null)" || return 0
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 200); do pid_alive "$pid" || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# wait_for DESCRIPTION SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
  local what="$1" secs="$2"; shift 2
  for _ in $(seq 1 $((secs * 4))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  die "timed out after ${secs}s waiting for $what (see $RUN_DIR/logs/)"
}

# go_build_module NAME VERSION GOMOD_REQUIRE_LINES MAIN_GO BUILD_PKG: builds a
# binary in a throwaway module of our own and caches it as $BIN_CACHE/NAME-VERSION.
# Callers set up the module contents themselves; this only checks the cache.
cached_bin() { echo "$BIN_CACHE/$1-$2"; }

# set_env NAME LINES: records a component's export lines; write_env joins them.
set_env() { printf '%s\n' "$2" >"$RUN_DIR/env.d/$1"; }
write_env() { cat "$RUN_DIR"/env.d/* >"$RUN_DIR/env" 2>/dev/null || : >"$RUN_DIR/env"; }

# go_install_cached NAME VERSION MODULE_PATH: prints the path of the cached
# binary $BIN_CACHE/NAME-VERSION, building it first with
# `go install MODULE_PATH@VERSION` when missing (atomic: a failed or
# interrupted build leaves no cache entry behind).
go_install_cached() {
  local name="$1" version="$2" module="$3" bin tmp start
  bin="$(cached_bin "$name" "$version")"
  if [ -x "$bin" ]; then echo "$bin"; return 0; fi
  tmp="$(mktemp -d "$BIN_CACHE/.build-$name.XXXXXX")"
  start=$(date +%s)
  log "building $name $version (go install $module@$version)"
  if ! GOBIN="$tmp" go install "$module@$version" >&2; then
    rm -rf "$tmp"
    die "building $name $version failed (go install $module@$version); see the go output above"
  fi
  mv "$tmp/$(basename "$module")" "$bin"
  rm -rf "$tmp"
  log "built $name $version in $(( $(date +%s) - start ))s -> $bin"
  echo "$bin"
}

# s3_make_bucket ENDPOINT REGION KEY SECRET BUCKET [CURL_ARGS...]: creates a
# bucket with a SigV4-signed PUT; a bucket that we already own is fine.
s3_make_bucket() {
  local endpoint="$1" region="$2" key="$3" secret="$4" bucket="$5" code body
  shift 5
  body="$(mktemp)"
  code="$(curl -sS -o "$body" -w '%{http_code}' -X PUT \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    --aws-sigv4 "aws:amz:$region:s3" --user "$key:$secret" "$@" \
    "$endpoint/$bucket")" || { rm -f "$body"; die "creating bucket $bucket at $endpoint: curl failed"; }
  if [ "$code" = 200 ] || grep -q 'BucketAlreadyOwnedByYou' "$body"; then
    rm -f "$body"; return 0
  fi
  local text; text="$(cat "$body")"; rm -f "$body"
  die "creating bucket $bucket at $endpoint failed with HTTP $code: $text"
}

# stop_bg NAME: stops the process recorded as NAME (see stop_pidfile).
stop_bg() { stop_pidfile "$RUN_DIR/pids/$1.pid"; }

# port_in_use PORT: true when something listens on TCP PORT (any address).
port_in_use() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# wait_proc NAME WHAT SECONDS CMD...: like wait_for, for a process started with
# start_bg NAME: fails at once if that process exits, and names its log file.
wait_proc() {
  local name="$1" what="$2" secs="$3" logf="$RUN_DIR/logs/$1.log"; shift 3
  for _ in $(seq 1 $((secs * 4))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [ -f "$RUN_DIR/pids/$name.pid" ] && ! is_running "$name"; then
      tail -n 20 "$logf" >&2 2>/dev/null
      die "$name exited while waiting for $what; log: $logf"
    fi
    sleep 0.25
  done
  tail -n 20 "$logf" >&2 2>/dev/null
  die "timed out after ${secs}s waiting for $what; log: $logf"
}
