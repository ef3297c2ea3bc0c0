#!/usr/bin/env bash
# Builds the libFuzzer targets (CMake preset "fuzz": clang-14, ASan) and runs
# each for SECONDS (default 30) on a scratch copy of its seed corpus
# fuzz/corpus/<name>/, with the dictionary fuzz/dict/<name>.dict when present.
# Exits non-zero when any target crashed, hung, ran out of memory or failed to
# run, and prints the reproducer's path (kept under the scratch directory).
#
#   fuzz/run.sh [SECONDS]        build and fuzz every target
#   fuzz/run.sh --write-seeds    regenerate fuzz/corpus/ from the targets
#                                (each target's LLVMFuzzerInitialize writes its
#                                seeds when STOWAGE_FUZZ_WRITE_SEEDS is set)
# Environment: FUZZ_TARGETS="config tree ..." runs only those targets;
# FUZZ_KEEP=1 keeps the scratch directory even when every target passed;
# FUZZ_SOURCE_DIR=<dir> configures and builds that source tree (a copy or
# worktree with this fuzz/ directory) instead of this checkout.
#
# Reproduce a finding:  build/fuzz/<name>_fuzzer <reproducer file>
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${FUZZ_SOURCE_DIR:-$(dirname "$here")}"
build="$root/build/fuzz"

write_seeds=0
seconds=30
case "${1:-}" in
  --write-seeds) write_seeds=1 ;;
  "") ;;
  *[!0-9]*) echo "usage: $0 [SECONDS] | --write-seeds" >&2; exit 2 ;;
  *) seconds="$1" ;;
esac

# Longest input per target (bytes): enough for a few valid structures, small
# enough to keep every execution fast.
max_len_of() {
  case "$1" in
    location) echo 1024 ;;
    extents) echo 2048 ;;
    config | key_slot | aead) echo 4096 ;;
    snapshot | pack_trailer | chunk_list | zfs_stream) echo 8192 ;;
    index | tree | archive) echo 16384 ;;
    decompress) echo 65536 ;;
    *) echo 4096 ;;
  esac
}

echo "== configuring and building the fuzz preset"
if ! (cd "$root" && cmake --preset fuzz >/tmp/stowage-fuzz-configure.log 2>&1); then
  cat /tmp/stowage-fuzz-configure.log >&2
  echo "FAILED: cmake --preset fuzz" >&2
  exit 2
fi
if ! cmake --build "$build" -j"${FUZZ_JOBS:-2}"; then
  echo "FAILED: cmake --build $build" >&2
  exit 2
fi

targets=()
if [[ -n "${FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  for f in "$here"/*_fuzzer.cpp; do
    n="$(basename "$f" .cpp)"
    targets+=("${n%_fuzzer}")
  done
fi

if ((write_seeds)); then
  for t in "${targets[@]}"; do
    rm -rf "${here:?}/corpus/$t"
    STOWAGE_FUZZ_WRITE_SEEDS="$here/corpus" "$build/${t}_fuzzer" || exit 1
  done
  du -sh "$here/corpus"
  exit 0
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}"
if command -v llvm-symbolizer-14 >/dev/null; then
  export ASAN_SYMBOLIZER_PATH="$(command -v llvm-symbolizer-14)"
fi

scratch="$(mktemp -d /tmp/stowage-fuzz.XXXXXX)"
failed=()
summary=()
for t in "${targets[@]}"; do
  exe="$build/${t}_fuzzer"
  dir="$scratch/$t"
  mkdir -p "$dir/corpus"
  if [[ -d "$here/corpus/$t" ]]; then cp -r "$here/corpus/$t/." "$dir/corpus/"; fi
  # Past findings (fixed) are replayed first, as part of the corpus.
  if [[ -d "$here/regressions/$t" ]]; then cp -r "$here/regressions/$t/." "$dir/corpus/"; fi
  args=(-max_total_time="$seconds" -max_len="$(max_len_of "$t")" -timeout=25 -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$dir/")
  if [[ -f "$here/dict/$t.dict" ]]; then args+=(-dict="$here/dict/$t.dict"); fi
  echo "== $t: ${seconds}s"
  (cd "$dir" && "$exe" "${args[@]}" "$dir/corpus" >"$dir/log" 2>&1)
  rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)"
  if ((rc == 0)); then
    summary+=("$(printf '%-14s ok      %12s execs  corpus %s files' "$t" "${execs:-?}" "$(ls "$dir/corpus" | wc -l)")")
  else
    failed+=("$t")
    repro="$(ls -1 "$dir"/crash-* "$dir"/timeout-* "$dir"/oom-* "$dir"/leak-* "$dir"/slow-unit-* 2>/dev/null | head -1)"
    summary+=("$(printf '%-14s FAILED  %12s execs  exit %d  reproducer: %s' "$t" "${execs:-?}" "$rc" "${repro:-none}")")
    echo "---- $t failed (exit $rc); last lines of $dir/log:"
    grep -v '^#[0-9]' "$dir/log" | tail -60
    echo "---- reproducer: ${repro:-none}   (run: $exe ${repro:-})"
  fi
done

echo
echo "== summary (${seconds}s per target; logs in $scratch/<target>/log)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "FAILED targets: ${failed[*]}   (scratch kept: $scratch)"
  exit 1
fi
if [[ -z "${FUZZ_KEEP:-}" ]]; then rm -rf "$scratch"; fi
echo "all targets passed"
