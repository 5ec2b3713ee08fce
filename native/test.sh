#!/usr/bin/env bash
# Native tests (`npm run test:native`): builds the C++ tests with CMake (native/build/cmake), runs them with the
# best kernel path and again with MAGNET_KERNEL=scalar (the GGUF fuzz corpus replay also under ASan + UBSan),
# then runs the daemon's serve tests (real addon, trainer parity golden file, openai client) the same two ways, and the
# erasure codec's tests (every SIMD path against scalar, the NEON one under qemu, the daemon's golden vectors over the
# addon).
# test_golden and the parity test read the golden vectors in test/golden/trainer (shared with python/tests).
# Here a missing addon, generator or venv is a failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
B=native/build/cmake

[ -f native/build/Release/magnet_native.node ] || bash native/build.sh
cmake -S native -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j "${JOBS:-2}" >/dev/null
[ -f dist/daemon/src/serve/serve.test.js ] || npm run --silent build

best=$(MAGNET_KERNEL= "$B/test_kernels" | sed -n "s/^chosen path: //p")
for kernel in "" scalar; do
  label=${kernel:-best ($best)}
  echo "== native tests, kernel: $label"
  for t in test_kernels test_gguf test_model test_gguf_corpus test_golden; do
    MAGNET_KERNEL=$kernel "$B/$t" | tail -n 1
  done
  # The GGUF fuzz corpus again under ASan + UBSan (built where gcc has them; see native/fuzz/run.sh).
  if [ -x "$B/test_gguf_corpus_asan" ]; then
    MAGNET_KERNEL=$kernel "$B/test_gguf_corpus_asan" | tail -n 4 | sed 's/^test_gguf_corpus/test_gguf_corpus (asan)/'
  fi
  echo "== serve tests (addon), kernel: $label"
  MAGNET_KERNEL=$kernel MAGNET_REQUIRE_NATIVE=1 node --test --test-concurrency=1 --test-reporter=dot dist/daemon/src/serve/
done
# The erasure codec checks every path it can run here itself (scalar, avx2, gfni-avx512, neon), then the daemon's
# codec tests run over the addon's codec (goldens from klauspost/reedsolomon).
echo "== erasure codec"
"$B/test_erasure"
# The NEON path, cross-built for aarch64 and run under qemu's user-mode emulation (test/setup/arm-emulation.sh).
if [ "$(uname -m)" = x86_64 ] && command -v aarch64-linux-gnu-g++ >/dev/null && command -v qemu-aarch64-static >/dev/null; then
  S=native/src
  aarch64-linux-gnu-g++ -std=c++17 -O2 -static -o "$B/test_erasure_aarch64" native/tests/test_erasure.cpp \
    $S/erasure/gf256.cpp $S/erasure/reed_solomon.cpp $S/erasure/rs_scalar.cpp $S/erasure/rs_neon.cpp \
    $S/kernels/dispatch.cpp $S/kernels/generic.cpp $S/kernels/avx2.cpp $S/kernels/avx512.cpp
  qemu-aarch64-static "$B/test_erasure_aarch64" | sed 's/^/  aarch64 (qemu): /'
else
  echo "  aarch64 (qemu): skipped, no cross compiler or qemu (bash test/setup/arm-emulation.sh installs them)"
fi
MAGNET_REQUIRE_NATIVE=1 node --test --test-reporter=dot dist/daemon/src/storage/erasure/
