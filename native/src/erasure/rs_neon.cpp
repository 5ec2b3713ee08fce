// NEON (aarch64): the nibble-table method of the AVX2 path with vqtbl1q_u8, 16 bytes at a time. Built on ARM only.
#if defined(__aarch64__)
#include <arm_neon.h>

#include <vector>

#include "rs_kernels.h"

namespace magnet::rs {
namespace {

template <int NR>
void group(const uint8_t* tables, int k, const uint8_t* const* in, uint8_t* const* out, size_t from, size_t to) {
  const uint8x16_t mask = vdupq_n_u8(0x0f);
  for (size_t x = from; x < to; x += 16) {
    uint8x16_t acc[NR];
    for (int r = 0; r < NR; r++) acc[r] = vdupq_n_u8(0);
    for (int i = 0; i < k; i++) {
      const uint8x16_t v = vld1q_u8(in[i] + x);
      const uint8x16_t lo = vandq_u8(v, mask), hi = vshrq_n_u8(v, 4);
      for (int r = 0; r < NR; r++) {
        const uint8_t* t = tables + 32 * ((size_t)r * k + i);
        acc[r] = veorq_u8(acc[r], veorq_u8(vqtbl1q_u8(vld1q_u8(t), lo), vqtbl1q_u8(vld1q_u8(t + 16), hi)));
      }
    }
    for (int r = 0; r < NR; r++) vst1q_u8(out[r] + x, acc[r]);
  }
}

void mul_rows_neon(const uint8_t* coeffs, int rows, int k, const uint8_t* const* in, uint8_t* const* out, size_t len) {
  const std::vector<uint8_t> tables = nibble_tables(coeffs, (size_t)rows * k);
  const size_t vec_len = len & ~(size_t)15;
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

const RsKernel kNeon{"neon", mul_rows_neon};

}  // namespace

const RsKernel* kernel_neon() { return &kNeon; }

}  // namespace magnet::rs
#endif
