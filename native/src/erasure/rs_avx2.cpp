// AVX2: multiplication by a constant as two 16-entry table lookups (low and high nibble, nibble_tables) with vpshufb,
// 32 bytes at a time.
#include <immintrin.h>

#include <vector>

#include "rs_kernels.h"

namespace magnet::rs {
namespace {

// tables: per coefficient 32 bytes, [c * low nibble] then [c * (high nibble << 4)], each broadcast to both lanes.
template <int NR>
void group(const uint8_t* tables, int k, const uint8_t* const* in, uint8_t* const* out, size_t from, size_t to) {
  const __m256i mask = _mm256_set1_epi8(0x0f);
  for (size_t x = from; x < to; x += 32) {
    __m256i acc[NR];
    for (int r = 0; r < NR; r++) acc[r] = _mm256_setzero_si256();
    for (int i = 0; i < k; i++) {
      const __m256i v = _mm256_loadu_si256((const __m256i*)(in[i] + x));
      const __m256i lo = _mm256_and_si256(v, mask);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi64(v, 4), mask);
      for (int r = 0; r < NR; r++) {
        const uint8_t* t = tables + 32 * ((size_t)r * k + i);
        const __m256i tlo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)t));
        const __m256i thi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)(t + 16)));
        acc[r] = _mm256_xor_si256(acc[r], _mm256_xor_si256(_mm256_shuffle_epi8(tlo, lo), _mm256_shuffle_epi8(thi, hi)));
      }
    }
    for (int r = 0; r < NR; r++) _mm256_storeu_si256((__m256i*)(out[r] + x), acc[r]);
  }
}

void mul_rows_avx2(const uint8_t* coeffs, int rows, int k, const uint8_t* const* in, uint8_t* const* out, size_t len) {
  const std::vector<uint8_t> tables = nibble_tables(coeffs, (size_t)rows * k);
  const size_t vec_len = len & ~(size_t)31;
  for_each_block(rows, vec_len, [&](int r0, int nr, size_t b, size_t e) {
    const uint8_t* t = tables.data() + 32 * (size_t)r0 * k;
    switch (nr) {
      case 1: group<1>(t, k, in, out + r0, b, e); break;
      case 2: group<2>(t, k, in, out + r0, b, e); break;
      case 3: group<3>(t, k, in, out + r0, b, e); break;
      default: group<4>(t, k, in, out + r0, b, e); break;
    }
  });
  mul_rows_tail(coeffs, rows, k, in, out, vec_len, len);
}

const RsKernel kAvx2{"avx2", mul_rows_avx2};

}  // namespace

const RsKernel* kernel_avx2() { return &kAvx2; }

}  // namespace magnet::rs
