#!/usr/bin/env bash
# `npm run bench:native`: every figure of one run on this machine, as JSON lines, then the ratios (summary.mjs).
#   BENCH_MODELS="tiny small 2b4t" (presets of random ternary models; 2b4t = BitNet b1.58 2B4T shape, tied head,
#   about 1.2 GB written to BENCH_DIR)   BENCH_TOKENS=64 (decode tokens per measurement)
# Run it alone: on a 2-core machine anything else running skews the figures.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
B=native/build/cmake
cmake -S native -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j 2 >/dev/null
[ -f dist/daemon/src/serve/service.js ] || npm run --silent build
[ -f native/build/Release/magnet_native.node ] || bash native/build.sh >/dev/null
DIR=${BENCH_DIR:-$(mktemp -d /tmp/magnet-bench-XXXXXX)}
RES="$DIR/results.jsonl"
: >"$RES"
echo "# results: $RES" >&2
lscpu | sed -n 's/^Model name: *//p' | sed 's/^/# cpu: /' >&2
"$B/magnet_bench" bandwidth | tee -a "$RES"
"$B/magnet_bench" gemv | tee -a "$RES"
for p in ${BENCH_MODELS:-tiny small 2b4t}; do
  f="$DIR/$p.gguf"
  extra=()
  [ "$p" = 2b4t ] && extra=(--tied)
  "$B/gen_model" --out "$f" --preset "$p" "${extra[@]}" >&2
  "$B/magnet_bench" model "$f" --tokens "${BENCH_TOKENS:-64}" | tee -a "$RES"
  if [ "$p" = 2b4t ]; then
    "$B/magnet_bench" model "$f" --tokens "${BENCH_TOKENS:-64}" --head-int8 | tee -a "$RES"
  fi
  node native/bench/api-overhead.mjs "$f" 32 3 | tee -a "$RES"
  rm -f "$f"
done
echo "== summary"
node native/bench/summary.mjs "$RES"
