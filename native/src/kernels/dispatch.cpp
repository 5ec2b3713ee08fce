#include "dispatch.h"

#include <utility>

#include <cstdlib>
#include <mutex>
#include <random>
#include <stdexcept>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

namespace magnet {

CpuFeatures detect_cpu() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(_M_X64)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28);
  f.fma = c & (1u << 12);
  f.f16c = c & (1u << 29);
  if (osxsave && avx) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    f.os_avx = (lo & 0x6) == 0x6;
    f.os_avx512 = f.os_avx && (lo & 0xe0) == 0xe0;
  }
  if (__get_cpuid_max(0, nullptr) >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = b & (1u << 5);
    f.avx512f = b & (1u << 16);
    f.avx512bw = b & (1u << 30);
    f.avx512vl = b & (1u << 31);
    f.avx512vnni = c & (1u << 11);
    f.gfni = c & (1u << 8);
  }
#elif defined(__aarch64__)
  f.neon = true;
#endif
  return f;
}

const KernelTable* kernel_by_name(const std::string& name) {
  const CpuFeatures f = detect_cpu();
  if (name == "scalar") return &kernels_generic();
  if (name == "avx2" && f.os_avx && f.avx2 && f.fma && f.f16c) return kernels_avx2();
  if ((name == "avx512vnni" || name == "avx512") && f.os_avx512 && f.avx512f && f.avx512bw && f.avx512vl &&
      f.avx512vnni && f.f16c)
    return kernels_avx512();
  return nullptr;
}


std::string self_test(const KernelTable& k) {
  const KernelTable& ref = kernels_generic();
  std::mt19937 rng(12345);
  std::uniform_real_distribution<float> uf(-3.0f, 3.0f);
  for (int K : {256, 768, 2560}) {
    for (int nrows : {1, 5, 9}) {
      const int ntok = 1 + (nrows % 6);
      const size_t rb = (size_t)K / 4;
      std::vector<uint8_t> w(rb * nrows);
      for (auto& byte : w) {  // random codes in {0,1,2}
        uint8_t v = 0;
        for (int l = 0; l < 4; l++) v |= (uint8_t)(rng() % 3) << (2 * l);
        byte = v;
      }
      std::vector<float> x((size_t)K * ntok);
      for (auto& v : x) v = uf(rng);
      std::vector<int8_t> q1(x.size()), q2(x.size());
      std::vector<int32_t> s1(ntok), s2(ntok), o1((size_t)nrows * ntok), o2(o1.size());
      for (int t = 0; t < ntok; t++) {
        float a = ref.quantize_i8(&x[(size_t)t * K], K, &q1[(size_t)t * K], &s1[t]);
        float b = k.quantize_i8(&x[(size_t)t * K], K, &q2[(size_t)t * K], &s2[t]);
        if (a != b || s1[t] != s2[t]) return std::string(k.name) + ": quantize_i8 differs at K=" + std::to_string(K);
      }
      if (q1 != q2) return std::string(k.name) + ": quantize_i8 values differ at K=" + std::to_string(K);
      ref.ternary_gemm(w.data(), rb, nrows, K, q1.data(), s1.data(), ntok, o1.data(), nrows);
      k.ternary_gemm(w.data(), rb, nrows, K, q1.data(), s1.data(), ntok, o2.data(), nrows);
      if (o1 != o2) return std::string(k.name) + ": ternary_gemm differs at K=" + std::to_string(K);
      if (ref.dot_i8(q1.data(), q1.data() + K - 100, 100 + nrows) != k.dot_i8(q1.data(), q1.data() + K - 100, 100 + nrows))
        return std::string(k.name) + ": dot_i8 differs";
      std::vector<uint16_t> h(K);
      for (int i = 0; i < K; i++) h[i] = fp32_to_fp16(uf(rng));
      float d1 = ref.dot_f16(h.data(), x.data(), K), d2 = k.dot_f16(h.data(), x.data(), K);
      if (std::fabs(d1 - d2) > 1e-3f * (1.0f + std::fabs(d1))) return std::string(k.name) + ": dot_f16 differs";
    }
  }
  return "";
}

// AMD Zen 4 (family 0x19) executes 512-bit operations as two 256-bit halves: there the AVX2 kernel, with no
// lane-crossing inserts, is faster than the AVX-512 one (ternary GEMV from DRAM on a 2-vCPU EPYC: about 57 vs 47
// Gweights/s per core, `magnet_bench gemv`). A fixed rule rather than a start-up timing, so every node on the
// same CPU takes the same path.
static bool splits_512bit_ops() {
#if defined(__x86_64__) || defined(_M_X64)
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
  const bool amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;  // "AuthenticAMD"
  if (!amd || !__get_cpuid(1, &a, &b, &c, &d)) return false;
  const unsigned family = ((a >> 8) & 0xf) + ((a >> 20) & 0xff);
  return family == 0x19;
#else
  return false;
#endif
}

static const KernelTable* best_simd_path() {
  const char* order[2] = {"avx512vnni", "avx2"};
  if (splits_512bit_ops()) std::swap(order[0], order[1]);
  for (const char* n : order)
    if (const KernelTable* k = kernel_by_name(n)) return k;
  return &kernels_generic();
}

std::string available_kernels() {
  const char* order[2] = {"avx512vnni", "avx2"};
  if (splits_512bit_ops()) std::swap(order[0], order[1]);
  std::string s;
  for (const char* n : order)
    if (kernel_by_name(n)) s += std::string(n) + ",";
  return s + "scalar";
}

const KernelTable& kernels() {
  static const KernelTable* chosen = nullptr;
  static std::string error;
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("MAGNET_KERNEL");
    const KernelTable* k = nullptr;
    if (env && *env) {
      k = kernel_by_name(env);
      if (!k) {
        error = std::string("MAGNET_KERNEL=") + env + " is not available on this CPU/build (available: " +
                available_kernels() + ")";
        return;
      }
    } else {
      k = best_simd_path();
    }
    std::string err = self_test(*k);
    if (!err.empty()) {
      error = "kernel self-test failed, refusing to serve: " + err;
      return;
    }
    chosen = k;
  });
  if (!chosen) throw std::runtime_error(error);
  return *chosen;
}

}  // namespace magnet
