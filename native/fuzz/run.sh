#!/usr/bin/env bash
# Fuzzes the GGUF reader and model loader (fuzz_gguf.cpp) with libFuzzer for a set time:
#   bash native/fuzz/run.sh [SECONDS]        (npm run fuzz:gguf -- SECONDS; default 60)
# Installs clang when it is missing (Debian packages, apt-get), builds native/build/fuzz with
# -fsanitize=fuzzer,address,undefined, writes the seed corpus (seeds.h, regenerated every run) into
# native/fuzz/corpus/, where the fuzzer also keeps the inputs it finds, and runs one fuzzing process. Prints
# executions per second, total executions and crashes. A crashing input is saved in native/fuzz/artifacts/:
# fix the bug, then copy the input into native/fuzz/regressions/, which test_gguf_corpus replays on every
# `npm run test:native`, as it replays native/fuzz/found/ (small inputs a run found, committed: refresh it with
# -merge=1 and keep the files under 4 KB). Exits non-zero when a crash (or leak, timeout, out-of-memory) was found.
set -euo pipefail
SECS=${1:-60}
[[ "$SECS" =~ ^[0-9]+$ ]] || { echo "usage: run.sh [SECONDS]" >&2; exit 2; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
F=native/fuzz
B=native/build/fuzz

if ! command -v clang++ >/dev/null; then
  echo "== installing clang (libFuzzer) with apt-get"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang >/dev/null
fi

echo "== building $B/fuzz_gguf (clang $(clang++ -dumpversion), fuzzer + ASan + UBSan)"
cmake -S native -B "$B" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ -DMAGNET_FUZZ=ON >/dev/null
cmake --build "$B" -j "${JOBS:-2}" --target fuzz_gguf make_seeds >/dev/null

mkdir -p "$F/corpus" "$F/artifacts" "$F/regressions"
"$B/make_seeds" "$F/corpus"
before=$(ls "$F/artifacts" | wc -l)
log="$B/fuzz.log"
echo "== fuzzing for ${SECS}s (log: $log)"
set +e
# One process (the machine may be shared). -malloc_limit_mb: one allocation over 512 MB is a finding (a size
# taken from the file unchecked), not a slow run. Regressions and found inputs are read-only extra corpora.
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  "$B/fuzz_gguf" -max_total_time="$SECS" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
  -dict="$F/gguf.dict" -artifact_prefix="$F/artifacts/" "$F/corpus" "$F/regressions" "$F/found" >"$log" 2>&1
rc=$?
set -e
stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
execs=$(stat number_of_executed_units)
rate=$(stat average_exec_per_sec)
crashes=$(( $(ls "$F/artifacts" | wc -l) - before ))
echo "gguf fuzz: ${SECS}s, ${execs:-?} executions, ${rate:-?} execs/s, $(stat new_units_added) new inputs," \
  "corpus $(ls "$F/corpus" | wc -l) files, peak RSS $(stat peak_rss_mb) MB, crashes $crashes"
if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
  grep -E "ERROR|SUMMARY|runtime error|deadly signal" "$log" | head -n 20 || true
  echo "gguf fuzz: FAILED (exit $rc); inputs in $F/artifacts/:" && ls -t "$F/artifacts" | head -n 5
  exit 1
fi
