# Shared helpers for testbed/up and testbed/down. Sourced, not executed.
RUN_DIR="$TESTBED_DIR/run"
CACHE="${STOWAGE_CACHE:-$HOME/.cache/stowage}"
BIN_CACHE="$CACHE/bin"
ALL_COMPONENTS=(minio versitygw kube zfs)
mkdir -p "$RUN_DIR/pids" "$RUN_DIR/logs" "$RUN_DIR/env.d" "$BIN_CACHE"

die() { echo "testbed: $*" >&2; exit 1; }
log() { echo "testbed: $*" >&2; }

# is_running NAME: true when NAME's recorded pid is alive.
is_running() {
  local f="$RUN_DIR/pids/$1.pid"
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# start_bg NAME CMD...: starts CMD in the background, logs to run/logs/NAME.log,
# records its pid in run/pids/NAME.pid.
start_bg() {
  local name="$1"; shift
  nohup "$@" >"$RUN_DIR/logs/$name.log" 2>&1 &
  echo $! >"$RUN_DIR/pids/$name.pid"
}

# stop_pidfile FILE: SIGTERM, wait up to 20 s for the id to disappear, SIGKILL.
stop_pidfile() {
  local f="$1" pid
  pid="$(cat "$f" 2>/dev/null)" || return 0
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
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
