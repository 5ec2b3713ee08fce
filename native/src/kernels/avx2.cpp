// AVX2 (+FMA, F16C) kernels. Compiled with -mavx2 -mfma -mf16c; only called after the CPU/OS check.
#include "common.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

namespace magnet {
namespace {

inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

float quantize_i8_avx2(const float* x, int n, int8_t* q, int32_t* sum) {
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 vmax = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(x + i), absmask));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  float amax = _mm_cvtss_f32(m4);
  for (; i < n; i++) amax = std::fmax(amax, std::fabs(x[i]));
  const float s = 127.0f / std::fmax(amax, 1e-5f);
  const __m256 vs = _mm256_set1_ps(s);
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  __m256i vsum = _mm256_setzero_si256();
  i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i v[4];
    for (int k = 0; k < 4; k++) {
      __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      v[k] = _mm256_cvtps_epi32(r);
      vsum = _mm256_add_epi32(vsum, v[k]);
    }
    // Saturating packs clamp to [-128,127] exactly like the reference.
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    _mm256_storeu_si256((__m256i*)(q + i), _mm256_permutevar8x32_epi32(p, perm));
  }
  int32_t acc = hsum_epi32(vsum);
  for (; i < n; i++) {
    float v = std::fmin(127.0f, std::fmax(-128.0f, std::nearbyint(x[i] * s)));
    q[i] = (int8_t)v;
    acc += q[i];
  }
  // vsum counted unclamped values; x*s never exceeds 127 in magnitude, so this is exact (tested).
  *sum = acc;
  return s;
}

// NR rows x one token. Per block: 8 maddubs (codes 0..2 x int8: |pair| <= 512) summed in int16 (<= 4096).
template <int NR>
inline void rows_dot(const uint8_t* w, size_t rb, int K, const int8_t* x, int32_t* res) {
  const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
  __m256i acc[NR];
  for (int r = 0; r < NR; r++) acc[r] = _mm256_setzero_si256();
  for (int b = 0; b < K / QK; b++) {
    __m256i a16[NR];
    for (int r = 0; r < NR; r++) a16[r] = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
      const int8_t* xb = x + b * QK + 128 * h;
      __m256i wv[NR];
      for (int r = 0; r < NR; r++) wv[r] = _mm256_loadu_si256((const __m256i*)(w + r * rb + b * QK_BYTES + 32 * h));
      const __m256i x0 = _mm256_loadu_si256((const __m256i*)(xb)), x1 = _mm256_loadu_si256((const __m256i*)(xb + 32));
      const __m256i x2 = _mm256_loadu_si256((const __m256i*)(xb + 64)), x3 = _mm256_loadu_si256((const __m256i*)(xb + 96));
      for (int r = 0; r < NR; r++) {
        __m256i s = _mm256_maddubs_epi16(_mm256_and_si256(wv[r], m3), x0);
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(wv[r], 2), m3), x1));
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(wv[r], 4), m3), x2));
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(wv[r], 6), m3), x3));
        a16[r] = _mm256_add_epi16(a16[r], s);
      }
    }
    for (int r = 0; r < NR; r++) acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(a16[r], ones));
  }
  for (int r = 0; r < NR; r++) res[r] = hsum_epi32(acc[r]);
}

void ternary_gemm_avx2(const uint8_t* w, size_t rb, int nrows, int K, const int8_t* xq, const int32_t* xsum, int ntok,
                       int32_t* out, int os) {
  int r = 0;
  for (; r + 4 <= nrows; r += 4) {
    prefetch_rows(w, rb, r, nrows, PREFETCH_AHEAD_ROWS, 4);
    for (int t = 0; t < ntok; t++) {
      int32_t res[4];
      rows_dot<4>(w + r * rb, rb, K, xq + (size_t)t * K, res);
      for (int k = 0; k < 4; k++) out[(size_t)t * os + r + k] = res[k] - xsum[t];
    }
  }
  for (; r < nrows; r++)
    for (int t = 0; t < ntok; t++) {
      int32_t res;
      rows_dot<1>(w + r * rb, rb, K, xq + (size_t)t * K, &res);
      out[(size_t)t * os + r] = res - xsum[t];
    }
}

float dot_f16_avx2(const uint16_t* w, const float* x, int n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(w + i))), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(w + i + 8))), _mm256_loadu_ps(x + i + 8), a1);
  }
  float acc = hsum_ps(_mm256_add_ps(a0, a1));
  for (; i < n; i++) acc += fp16_to_fp32(w[i]) * x[i];
  return acc;
}

int32_t dot_i8_avx2(const int8_t* a, const int8_t* b, int n) {
  __m256i acc = _mm256_setzero_si256();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i va = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)(a + i)));
    __m256i vb = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)(b + i)));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(va, vb));
  }
  int32_t s = hsum_epi32(acc);
  for (; i < n; i++) s += (int32_t)a[i] * b[i];
  return s;
}

void axpy_f16_avx2(float a, const uint16_t* v, float* out, int n) {
  const __m256 va = _mm256_set1_ps(a);
  int i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_fmadd_ps(va, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(v + i))), _mm256_loadu_ps(out + i)));
  for (; i < n; i++) out[i] += a * fp16_to_fp32(v[i]);
}

}  // namespace

const KernelTable* kernels_avx2() {
  static const KernelTable t = {"avx2", quantize_i8_avx2, ternary_gemm_avx2, dot_f16_avx2, dot_i8_avx2, axpy_f16_avx2};
  return &t;
}

}  // namespace magnet
#else
namespace magnet {
const KernelTable* kernels_avx2() { return nullptr; }
}  // namespace magnet
#endif
