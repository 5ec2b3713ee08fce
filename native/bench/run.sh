#!/usr/bin/env bash
# `npm run bench:native`: every figure of one run on this machine, as JSON lines, then the ratios (summary.mjs):
# kernels, the erasure codec (K=4 M=2 per path vs memcpy), models, the HTTP API and concurrent streams.
#   BENCH_MODELS="tiny small 2b4t 2b4t-bitnet" (random ternary models; 2b4t = the BitNet b1.58 2B4T shape as a llama
#   TQ2_0 file with a tied F16 head, about 1.2 GB written to BENCH_DIR; 2b4t-bitnet = the same shape as bitnet-b1.58,
#   I2_S weights, tied Q6_K head)   BENCH_TOKENS=64 (decode tokens per measurement)
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
"$B/magnet_bench" erasure | tee -a "$RES"
for p in ${BENCH_MODELS:-tiny small 2b4t 2b4t-bitnet}; do
  f="$DIR/$p.gguf"
  preset=$p
  extra=()
  [ "$p" = 2b4t ] && extra=(--tied)
  # The shape Microsoft publishes 2B4T in: BitNet b1.58 layers, I2_S weights, a tied Q6_K embedding and head
  # (repacked to int8 rows at load, so it is measured with the int8 head).
  [ "$p" = 2b4t-bitnet ] && preset=2b4t && extra=(--tied --arch bitnet-b1.58 --type i2_s --embd-type q6_k)
  "$B/gen_model" --out "$f" --preset "$preset" "${extra[@]}" >&2
  "$B/magnet_bench" model "$f" --tokens "${BENCH_TOKENS:-64}" | tee -a "$RES"
  if [ "$p" = 2b4t ]; then
    "$B/magnet_bench" model "$f" --tokens "${BENCH_TOKENS:-64}" --head-int8 | tee -a "$RES"
  fi
  node native/bench/api-overhead.mjs "$f" 32 3 | tee -a "$RES"
  node native/bench/streams.mjs "$f" 32 2 | tee -a "$RES"
  rm -f "$f"
done
echo "== summary"
node native/bench/summary.mjs "$RES"
