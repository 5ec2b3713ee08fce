// GFNI with AVX-512: multiplication by a constant is a linear map of GF(2)^8, one vgf2p8affineqb per 64 bytes.
// (vgf2p8mulb multiplies modulo the AES polynomial 0x11B, not ours, so it cannot be used.)
#include <immintrin.h>

#include <vector>

#include "gf256.h"
#include "rs_kernels.h"

namespace magnet::rs {
namespace {

// The 8x8 bit matrix of x -> c * x in gf2p8affineqb's layout: byte 7-i holds the input bits that feed output bit i.
uint64_t affine_matrix(uint8_t c) {
  uint64_t q = 0;
  for (int i = 0; i < 8; i++) {
    uint8_t row = 0;
    for (int j = 0; j < 8; j++)
      if ((gf::mul(c, (uint8_t)(1u << j)) >> i) & 1) row |= (uint8_t)(1u << j);
    q |= (uint64_t)row << (8 * (7 - i));
  }
  return q;
}

// Few inputs (the common layouts: K=4, 8): the input count is a constant, so the matrices stay in registers and the
// input loop unrolls.
template <int NR, int K>
void group_fixed(const uint64_t* mats, const uint8_t* const* in, uint8_t* const* out, size_t from, size_t to) {
  __m512i mat[NR][K];
  for (int r = 0; r < NR; r++)
    for (int i = 0; i < K; i++) mat[r][i] = _mm512_set1_epi64((long long)mats[(size_t)r * K + i]);
  for (size_t x = from; x < to; x += 64) {
    __m512i acc[NR];
    for (int i = 0; i < K; i++) {
      const __m512i v = _mm512_loadu_si512((const void*)(in[i] + x));
      for (int r = 0; r < NR; r++) {
        const __m512i p = _mm512_gf2p8affine_epi64_epi8(v, mat[r][i], 0);
        acc[r] = i == 0 ? p : _mm512_xor_si512(acc[r], p);
      }
    }
    for (int r = 0; r < NR; r++) _mm512_storeu_si512((void*)(out[r] + x), acc[r]);
  }
}

template <int NR>
void group(const uint64_t* mats, int k, const uint8_t* const* in, uint8_t* const* out, size_t from, size_t to) {
  switch (k) {
    case 2: return group_fixed<NR, 2>(mats, in, out, from, to);
    case 3: return group_fixed<NR, 3>(mats, in, out, from, to);
    case 4: return group_fixed<NR, 4>(mats, in, out, from, to);
    case 6: return group_fixed<NR, 6>(mats, in, out, from, to);
    case 8: return group_fixed<NR, 8>(mats, in, out, from, to);
    default: break;
  }
  for (size_t x = from; x < to; x += 64) {
    __m512i acc[NR];
    for (int r = 0; r < NR; r++) acc[r] = _mm512_setzero_si512();
    for (int i = 0; i < k; i++) {
      const __m512i v = _mm512_loadu_si512((const void*)(in[i] + x));
      for (int r = 0; r < NR; r++)
        acc[r] = _mm512_xor_si512(acc[r], _mm512_gf2p8affine_epi64_epi8(v, _mm512_set1_epi64((long long)mats[(size_t)r * k + i]), 0));
    }
    for (int r = 0; r < NR; r++) _mm512_storeu_si512((void*)(out[r] + x), acc[r]);
  }
}

void mul_rows_gfni(const uint8_t* coeffs, int rows, int k, const uint8_t* const* in, uint8_t* const* out, size_t len) {
  std::vector<uint64_t> mats((size_t)rows * k);
  for (size_t j = 0; j < mats.size(); j++) mats[j] = affine_matrix(coeffs[j]);
  const size_t vec_len = len & ~(size_t)63;
  for_each_block(rows, vec_len, [&](int r0, int nr, size_t b, size_t e) {
    const uint64_t* t = mats.data() + (size_t)r0 * k;
    switch (nr) {
      case 1: group<1>(t, k, in, out + r0, b, e); break;
      case 2: group<2>(t, k, in, out + r0, b, e); break;
      case 3: group<3>(t, k, in, out + r0, b, e); break;
      default: group<4>(t, k, in, out + r0, b, e); break;
    }
  });
  mul_rows_tail(coeffs, rows, k, in, out, vec_len, len);
}

const RsKernel kGfni{"gfni-avx512", mul_rows_gfni};

}  // namespace

const RsKernel* kernel_gfni() { return &kGfni; }

}  // namespace magnet::rs
