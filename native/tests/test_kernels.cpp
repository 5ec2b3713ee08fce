// Every SIMD path against the scalar reference on random inputs of awkward sizes: exact integer results.
#include <atomic>
#include <random>
#include <string>
#include <vector>

#include "../src/kernels/dispatch.h"
#include "../src/runtime/thread_pool.h"
#include "check.h"

using namespace magnet;

static void test_fp16() {
  // Every half value round-trips through float exactly.
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // NaN payloads
    float f = fp16_to_fp32((uint16_t)h);
    CHECK(fp32_to_fp16(f) == h, "half 0x%04x -> %g -> 0x%04x", h, f, fp32_to_fp16(f));
  }
  CHECK(fp32_to_fp16(1.0f + 1.0f / 2048) == 0x3c00, "ties round to even");
  CHECK(fp32_to_fp16(65520.0f) == 0x7c00, "overflow to inf");
}

static void test_path(const KernelTable& k) {
  const KernelTable& ref = kernels_generic();
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uf(-1.0f, 1.0f);
  int cases = 0;
  for (int K : {256, 512, 1280, 2816, 6912}) {
    for (int nrows : {1, 3, 4, 7, 13, 64}) {
      for (int ntok : {1, 2, 3, 5, 9}) {
        const size_t rb = K / 4 + 64 * (nrows % 2);  // padded row stride on odd cases
        std::vector<uint8_t> w(rb * nrows);
        for (auto& b : w) {
          uint8_t v = 0;
          for (int l = 0; l < 4; l++) v |= (uint8_t)(rng() % 3) << (2 * l);
          b = v;
        }
        std::vector<float> x((size_t)K * ntok);
        const float amp = (ntok == 3) ? 1e-7f : 10.0f;  // tiny inputs hit the 1e-5 clamp
        for (auto& v : x) v = uf(rng) * amp;
        if (ntok == 5) x[3] = 0.5f / (127.0f / 10.0f) * 1.0f;  // arbitrary extra value
        std::vector<int8_t> q1(x.size()), q2(x.size());
        std::vector<int32_t> s1(ntok), s2(ntok);
        for (int t = 0; t < ntok; t++) {
          float a = ref.quantize_i8(&x[(size_t)t * K], K, &q1[(size_t)t * K], &s1[t]);
          float b = k.quantize_i8(&x[(size_t)t * K], K, &q2[(size_t)t * K], &s2[t]);
          CHECK(a == b && s1[t] == s2[t], "%s quantize scale/sum K=%d", k.name, K);
        }
        CHECK(q1 == q2, "%s quantize values K=%d", k.name, K);
        std::vector<int32_t> o1((size_t)ntok * (nrows + 2), -7), o2(o1.size(), -7);
        ref.ternary_gemm(w.data(), rb, nrows, K, q1.data(), s1.data(), ntok, o1.data(), nrows + 2);
        k.ternary_gemm(w.data(), rb, nrows, K, q1.data(), s1.data(), ntok, o2.data(), nrows + 2);
        CHECK(o1 == o2, "%s ternary_gemm K=%d rows=%d tok=%d", k.name, K, nrows, ntok);
        cases++;
      }
    }
    for (int n : {1, 15, 31, 33, 100, K}) {
      std::vector<int8_t> a(n), b(n);
      for (int i = 0; i < n; i++) a[i] = (int8_t)(rng() % 256 - 128), b[i] = (int8_t)(rng() % 256 - 128);
      CHECK(ref.dot_i8(a.data(), b.data(), n) == k.dot_i8(a.data(), b.data(), n), "%s dot_i8 n=%d", k.name, n);
      std::vector<uint16_t> h(n);
      std::vector<float> xf(n);
      for (int i = 0; i < n; i++) h[i] = fp32_to_fp16(uf(rng)), xf[i] = uf(rng);
      float d1 = ref.dot_f16(h.data(), xf.data(), n), d2 = k.dot_f16(h.data(), xf.data(), n);
      CHECK(std::fabs(d1 - d2) <= 1e-4f * (1 + std::fabs(d1)) * std::sqrt((float)n), "%s dot_f16 n=%d", k.name, n);
    }
  }
  // Extreme: all codes 2 (+1) against -128 activations stays exact in int32.
  {
    const int K = 6912;
    std::vector<uint8_t> w(K / 4, 0xaa);
    std::vector<int8_t> xq(K, -128);
    int32_t sum = -128 * K, o1 = 0, o2 = 0;
    ref.ternary_gemm(w.data(), K / 4, 1, K, xq.data(), &sum, 1, &o1, 1);
    k.ternary_gemm(w.data(), K / 4, 1, K, xq.data(), &sum, 1, &o2, 1);
    CHECK(o1 == -128 * K && o2 == o1, "%s extreme sum %d %d", k.name, o1, o2);
  }
  std::printf("  %s: %d gemm cases match the scalar reference; self_test: %s\n", k.name, cases,
              self_test(k).empty() ? "ok" : self_test(k).c_str());
  CHECK(self_test(k).empty(), "%s self-test", k.name);
}

static void test_pool() {
  for (int n : {1, 2, 3}) {
    ThreadPool pool(n);
    std::vector<std::atomic<int>> hits(1000);
    for (int round = 0; round < 200; round++)
      pool.run([&](int ith, int nth) {
        int b, e;
        split_range(1000, ith, nth, 4, &b, &e);
        for (int i = b; i < e; i++) hits[i]++;
      });
    bool ok = true;
    for (auto& h : hits) ok = ok && h.load() == 200;
    CHECK(ok, "pool of %d covered every item exactly once per run", n);
  }
}

int main() {
  test_fp16();
  std::printf("available kernel paths: %s\n", available_kernels().c_str());
  int tested = 0;
  for (const char* name : {"scalar", "avx2", "avx512vnni"}) {
    const KernelTable* k = kernel_by_name(name);
    if (!k) {
      std::printf("  %s: not available on this CPU/build, skipped\n", name);
      continue;
    }
    test_path(*k);
    tested++;
  }
  CHECK(tested >= 1, "at least the scalar path ran");
  std::printf("chosen path: %s\n", kernels().name);
  test_pool();
  if (magnet_failures()) std::printf("test_kernels: %d failures\n", magnet_failures());
  else std::printf("test_kernels: ok\n");
  return magnet_failures() ? 1 : 0;
}
