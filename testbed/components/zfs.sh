# testbed component "zfs": zfs-fuse (Debian's package) and a pool "stowagetest"
# on a 1 GiB sparse file, testbed/run/zfs/stowagetest.img, mounted under
# testbed/run/zfs/mnt/ (not at /stowagetest). Sourced by testbed/up and
# testbed/down.
#
# - Installs zfs-fuse with apt-get when zpool/zfs-fuse are missing.
# - Starts `zfs-fuse --no-daemon` with start_bg, unless a zfs-fuse is already
#   running that we did not start: then that one is used and not recorded, so
#   testbed/down leaves it running.
# - Creates the pool only when it is not already imported; the file
#   run/zfs/created marks a pool that this testbed created, and only such a pool
#   is destroyed by down_zfs (before testbed/down stops the daemon).
# - zfs-fuse has datasets, snapshots and send/recv, but no volumes: `zfs create
#   -V` fails with "Function not implemented" (TESTBED.md). Tests use datasets.
#
# Env: STOWAGE_TEST_ZPOOL=stowagetest.

ZFS_POOL=stowagetest
ZFS_RUN="$RUN_DIR/zfs"
ZFS_IMG="$ZFS_RUN/$ZFS_POOL.img"

# zfs_foreign_daemon: prints the pid of a zfs-fuse that testbed/up did not start.
# (pgrep is used only to look, never to stop anything.)
zfs_foreign_daemon() {
  local p ours=""
  ours="$(cat "$RUN_DIR/pids/zfs-fuse.pid" 2>/dev/null || true)"
  for p in $(pgrep -x zfs-fuse 2>/dev/null); do
    [ "$p" = "$ours" ] || { echo "$p"; return 0; }
  done
  return 1
}

# zfs_pool_files: the file vdevs of $ZFS_POOL, one per line.
zfs_pool_files() {
  zpool status "$ZFS_POOL" 2>/dev/null | awk '$1 ~ /^\// { print $1 }'
}

# zfs_stale_testbed_pool: true when every vdev of $ZFS_POOL is a testbed's pool
# file (any clone's testbed/run/zfs/$ZFS_POOL.img) that no longer exists.
zfs_stale_testbed_pool() {
  local f n=0
  while read -r f; do
    case "$f" in */testbed/run/zfs/"$ZFS_POOL".img) ;; *) return 1 ;; esac
    [ -e "$f" ] && return 1
    n=$((n + 1))
  done < <(zfs_pool_files)
  [ "$n" -gt 0 ]
}

zfs_daemon_ok() { zpool list -H -o name >/dev/null 2>&1; }
zfs_pool_ok() { zpool list -H -o health "$ZFS_POOL" 2>/dev/null | grep -q ONLINE; }

up_zfs() {
  local t0=$SECONDS
  if ! command -v zfs-fuse >/dev/null || ! command -v zpool >/dev/null; then
    log "installing zfs-fuse (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y zfs-fuse >"$RUN_DIR/logs/zfs-apt.log" 2>&1 || {
      DEBIAN_FRONTEND=noninteractive apt-get update >>"$RUN_DIR/logs/zfs-apt.log" 2>&1
      DEBIAN_FRONTEND=noninteractive apt-get install -y zfs-fuse >>"$RUN_DIR/logs/zfs-apt.log" 2>&1
    } || die "apt-get install zfs-fuse failed; log: $RUN_DIR/logs/zfs-apt.log"
  fi
  [ -e /dev/fuse ] || die "zfs-fuse needs /dev/fuse, which this machine does not have"
  mkdir -p "$ZFS_RUN/mnt"

  local foreign
  if is_running zfs-fuse; then
    :
  elif foreign="$(zfs_foreign_daemon)"; then
    log "zfs: using the zfs-fuse already running (pid $foreign, not started by testbed: left running by down)"
  else
    log "starting zfs-fuse (log: $RUN_DIR/logs/zfs-fuse.log)"
    start_bg zfs-fuse zfs-fuse --no-daemon
  fi
  if is_running zfs-fuse; then
    wait_proc zfs-fuse "zfs-fuse to answer zpool list" 30 zfs_daemon_ok
  else
    wait_for "zfs-fuse to answer zpool list" 30 zfs_daemon_ok
  fi

  if ! zfs_pool_ok; then
    # A pool on our file that the daemon does not have imported (e.g. after it
    # was restarted): import it rather than overwrite it.
    if [ -f "$ZFS_IMG" ] && zpool import -d "$ZFS_RUN" "$ZFS_POOL" >/dev/null 2>&1; then
      log "zfs: imported pool $ZFS_POOL from $ZFS_IMG"
    else
      if zpool list -H -o name "$ZFS_POOL" >/dev/null 2>&1; then
        # The daemon remembers a pool whose file is gone (UNAVAIL), e.g. from
        # a testbed in a clone that was deleted without testbed/down: forget
        # it when it was a testbed's pool, refuse otherwise.
        zfs_stale_testbed_pool ||
          die "zpool $ZFS_POOL exists, is not ONLINE and is not a testbed pool whose file is gone: not touching it (zpool status $ZFS_POOL; zpool destroy -f $ZFS_POOL if it is not needed)"
        log "zfs: dropping stale pool $ZFS_POOL (its file $(zfs_pool_files | tr '\n' ' ')is gone)"
        zpool destroy -f "$ZFS_POOL" || die "zpool destroy -f $ZFS_POOL (stale) failed"
      fi
      rm -f "$ZFS_IMG"
      truncate -s 1G "$ZFS_IMG"
      zpool create -m "$ZFS_RUN/mnt/$ZFS_POOL" "$ZFS_POOL" "$ZFS_IMG" ||
        die "zpool create $ZFS_POOL $ZFS_IMG failed (zfs-fuse log: $RUN_DIR/logs/zfs-fuse.log)"
      log "zfs: created pool $ZFS_POOL on $ZFS_IMG"
    fi
    echo "$ZFS_POOL" >"$ZFS_RUN/created"
  fi
  zfs_pool_ok || die "zpool $ZFS_POOL is not ONLINE"
  set_env zfs "export STOWAGE_TEST_ZPOOL=$ZFS_POOL"
  log "zfs: up in $((SECONDS - t0)) s (pool $ZFS_POOL, mounted at $(zfs get -H -o value mountpoint "$ZFS_POOL"))"
}

down_zfs() {
  [ -f "$ZFS_RUN/created" ] || return 0
  # zfs-fuse answers the first destroy of a mounted pool with "pool is busy"
  # after unmounting it; a second try succeeds. Retry for a while.
  local i
  for i in $(seq 1 20); do
    zpool list -H -o name "$ZFS_POOL" >/dev/null 2>&1 || break
    zpool destroy -f "$ZFS_POOL" 2>/dev/null && break
    sleep 0.5
  done
  if zpool list -H -o name "$ZFS_POOL" >/dev/null 2>&1; then
    log "zpool destroy $ZFS_POOL failed: $(zpool destroy -f "$ZFS_POOL" 2>&1); keeping $ZFS_IMG"
    return 1
  fi
  rm -f "$ZFS_RUN/created" "$ZFS_IMG"
  # The daemon is stopped by its recorded pid after this (testbed/down).
}
