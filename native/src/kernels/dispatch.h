// Run-time kernel selection: CPU features detected once, a table chosen, checked against the scalar reference.
#pragma once
#include <string>
#include "common.h"

namespace magnet {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false;
  bool gfni = false;  // Galois-field instructions (the erasure codec's fastest path)
  bool os_avx = false, os_avx512 = false;  // XCR0: the OS saves the YMM / ZMM state
  bool neon = false;
};

CpuFeatures detect_cpu();
// Paths this CPU and this build can run, best first (always ends with "scalar").
std::string available_kernels();
// Compares `k` with the scalar reference on random awkward sizes; returns "" or a description of the mismatch.
std::string self_test(const KernelTable& k);
// The table in use: the best available, or MAGNET_KERNEL=scalar|avx2|avx512vnni. Chosen and self-tested once;
// throws std::runtime_error when the forced path is unknown/unsupported or the self-test fails.
const KernelTable& kernels();
// Looks a path up by name (nullptr when unknown or not supported here); used by tests and benchmarks.
const KernelTable* kernel_by_name(const std::string& name);

}  // namespace magnet
