// AVX-512 (F, BW, VL) + VNNI kernels: one 64-byte load holds a whole 256-weight block; vpdpbusd multiplies
// the unsigned 2-bit codes with the int8 activations and accumulates in int32 without saturation.
#include "common.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__)
#include <immintrin.h>

namespace magnet {
namespace {

float quantize_i8_avx512(const float* x, int n, int8_t* q, int32_t* sum) {
  __m512 vmax = _mm512_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
  float amax = _mm512_reduce_max_ps(vmax);
  for (; i < n; i++) amax = std::fmax(amax, std::fabs(x[i]));
  const float s = 127.0f / std::fmax(amax, 1e-5f);
  const __m512 vs = _mm512_set1_ps(s);
  __m512i vsum = _mm512_setzero_si512();
  i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512i v = _mm512_cvtps_epi32(r);
    vsum = _mm512_add_epi32(vsum, v);
    _mm_storeu_si128((__m128i*)(q + i), _mm512_cvtsepi32_epi8(v));  // saturating = clamp to [-128,127]
  }
  int32_t acc = _mm512_reduce_add_epi32(vsum);
  for (; i < n; i++) {
    float v = std::fmin(127.0f, std::fmax(-128.0f, std::nearbyint(x[i] * s)));
    q[i] = (int8_t)v;
    acc += q[i];
  }
  *sum = acc;
  return s;
}

// The activations that meet bit pair l of a 64-byte block: weights 32l..32l+31 and 128+32l..128+32l+31.
inline __m512i act(const int8_t* xb, int l) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)(xb + 32 * l))),
                            _mm256_loadu_si256((const __m256i*)(xb + 128 + 32 * l)), 1);
}

// NR rows x NT tokens: the codes are unpacked once and used for NT tokens.
template <int NR, int NT>
inline void tile(const uint8_t* w, size_t rb, int K, const int8_t* x, int32_t* res /* [NT][NR] */) {
  const __m512i m3 = _mm512_set1_epi8(3);
  __m512i acc[NR][NT];
  for (int r = 0; r < NR; r++)
    for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_si512();
  for (int b = 0; b < K / QK; b++) {
    __m512i wv[NR];
    for (int r = 0; r < NR; r++) wv[r] = _mm512_loadu_si512((const void*)(w + r * rb + b * QK_BYTES));
#define MAGNET_STEP(L)                                                                          \
  {                                                                                             \
    __m512i a[NT];                                                                              \
    for (int t = 0; t < NT; t++) a[t] = act(x + (size_t)t * K + b * QK, L);                    \
    for (int r = 0; r < NR; r++) {                                                              \
      const __m512i c = _mm512_and_si512(_mm512_srli_epi16(wv[r], 2 * L), m3);                 \
      for (int t = 0; t < NT; t++) acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], c, a[t]);        \
    }                                                                                           \
  }
    MAGNET_STEP(0) MAGNET_STEP(1) MAGNET_STEP(2) MAGNET_STEP(3)
#undef MAGNET_STEP
  }
  for (int r = 0; r < NR; r++)
    for (int t = 0; t < NT; t++) res[t * NR + r] = _mm512_reduce_add_epi32(acc[r][t]);
}

template <int NR, int NT>
inline void run_tile(const uint8_t* w, size_t rb, int r, int K, const int8_t* xq, const int32_t* xsum, int t,
                     int32_t* out, int os) {
  int32_t res[NT * NR];
  tile<NR, NT>(w + r * rb, rb, K, xq + (size_t)t * K, res);
  for (int j = 0; j < NT; j++)
    for (int k = 0; k < NR; k++) out[(size_t)(t + j) * os + r + k] = res[j * NR + k] - xsum[t + j];
}

template <int NR>
inline void row_group(const uint8_t* w, size_t rb, int r, int K, const int8_t* xq, const int32_t* xsum, int ntok,
                      int32_t* out, int os) {
  int t = 0;
  for (; t + 4 <= ntok; t += 4) run_tile<NR, 4>(w, rb, r, K, xq, xsum, t, out, os);
  for (; t < ntok; t++) run_tile<NR, 1>(w, rb, r, K, xq, xsum, t, out, os);
}

void ternary_gemm_avx512(const uint8_t* w, size_t rb, int nrows, int K, const int8_t* xq, const int32_t* xsum,
                         int ntok, int32_t* out, int os) {
  int r = 0;
  for (; r + 4 <= nrows; r += 4) {
    prefetch_rows(w, rb, r, nrows, PREFETCH_AHEAD_ROWS, 4);
    row_group<4>(w, rb, r, K, xq, xsum, ntok, out, os);
  }
  for (; r < nrows; r++) row_group<1>(w, rb, r, K, xq, xsum, ntok, out, os);
}

float dot_f16_avx512(const uint16_t* w, const float* x, int n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(w + i))), _mm512_loadu_ps(x + i), a0);
    a1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(w + i + 16))), _mm512_loadu_ps(x + i + 16), a1);
  }
  float acc = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
  for (; i < n; i++) acc += fp16_to_fp32(w[i]) * x[i];
  return acc;
}

int32_t dot_i8_avx512(const int8_t* a, const int8_t* b, int n) {
  __m512i acc = _mm512_setzero_si512();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512i va = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i*)(a + i)));
    __m512i vb = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i*)(b + i)));
    acc = _mm512_add_epi32(acc, _mm512_madd_epi16(va, vb));
  }
  int32_t s = _mm512_reduce_add_epi32(acc);
  for (; i < n; i++) s += (int32_t)a[i] * b[i];
  return s;
}

void axpy_f16_avx512(float a, const uint16_t* v, float* out, int n) {
  const __m512 va = _mm512_set1_ps(a);
  int i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, _mm512_fmadd_ps(va, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(v + i))), _mm512_loadu_ps(out + i)));
  for (; i < n; i++) out[i] += a * fp16_to_fp32(v[i]);
}

}  // namespace

const KernelTable* kernels_avx512() {
  static const KernelTable t = {"avx512vnni", quantize_i8_avx512, ternary_gemm_avx512, dot_f16_avx512, dot_i8_avx512,
                                axpy_f16_avx512};
  return &t;
}

}  // namespace magnet
#else
namespace magnet {
const KernelTable* kernels_avx512() { return nullptr; }
}  // namespace magnet
#endif
