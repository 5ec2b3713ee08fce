// Shared definitions of the ternary kernel library: block formats, fp16 conversion, the kernel table.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace magnet {

constexpr int QK = 256;            // weights per ternary block (TQ2_0/TQ1_0 QK_K)
constexpr int QK_BYTES = QK / 4;   // packed 2-bit bytes per block in our kernel layout

// Software prefetch of the rows a GEMV reads next. A row group jumps between short row streams (K/4 bytes each),
// which the hardware prefetchers do not follow well: without this, one core reads weights at about a quarter of
// its streaming bandwidth. `ahead` rows past `r`, `count` rows, never past `nrows`.
inline void prefetch_rows(const uint8_t* w, size_t row_bytes, int r, int nrows, int ahead, int count) {
  const int r0 = r + ahead;
  if (r0 >= nrows) return;
  const int r1 = r0 + count < nrows ? r0 + count : nrows;
  for (const uint8_t* p = w + (size_t)r0 * row_bytes; p < w + (size_t)r1 * row_bytes; p += 64) __builtin_prefetch(p);
}
constexpr int PREFETCH_AHEAD_ROWS = 16;

// llama.cpp TQ2_0 block (GGUF type 35): qs then an fp16 scale.
struct block_tq2_0 {
  uint8_t qs[QK / 4];
  uint16_t d;
};
static_assert(sizeof(block_tq2_0) == 66, "TQ2_0 block must be 66 bytes");

// llama.cpp TQ1_0 block (GGUF type 34): 5 trits per byte in qs, 4 per byte in qh, then fp16 d.
struct block_tq1_0 {
  uint8_t qs[48];
  uint8_t qh[4];
  uint16_t d;
};
static_assert(sizeof(block_tq1_0) == 54, "TQ1_0 block must be 54 bytes");

// IEEE half <-> float, exact, without F16C so the scalar reference runs anywhere.
inline float fp16_to_fp32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      do { man <<= 1; e++; } while (!(man & 0x400));
      bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round-to-nearest-even float -> half (matches numpy / torch float16 casts).
inline uint16_t fp32_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t ax = x & 0x7fffffff;
  if (ax >= 0x7f800000) return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000 ? 0x200 : 0));
  if (ax >= 0x477ff000) return (uint16_t)(sign | 0x7c00);  // overflow -> inf
  if (ax < 0x38800000) {                                   // subnormal or zero
    float af;
    std::memcpy(&af, &ax, 4);
    uint32_t m = (uint32_t)std::nearbyint(af * 16777216.0f);  // units of 2^-24
    return (uint16_t)(sign | m);
  }
  uint32_t r = ax + 0x0fff + ((ax >> 13) & 1) - ((127 - 15) << 23);
  return (uint16_t)(sign | (r >> 13));
}

// Function table filled once at load for the chosen instruction set (ggml pattern).
// Ternary rows are in our kernel layout: per 256-weight block 64 bytes, byte 32h+m holds in bit pair l the
// code (w+1) of weight 128h+32l+m (the TQ2_0 qs order, without the per-block scale).
struct KernelTable {
  const char* name;
  // Per-token absmax int8 quantization: q = clamp(round(x*s)), s = 127/max(max|x|,1e-5). Returns s; *sum = sum q.
  float (*quantize_i8)(const float* x, int n, int8_t* q, int32_t* sum);
  // out[t*out_stride + r] = sum_i q_t[i] * w_r[i] (exact int32) for rows r in [0,nrows), tokens t in [0,ntok).
  // w rows are `row_bytes` apart; q_t = xq + t*K; xsum[t] = sum_i q_t[i].
  void (*ternary_gemm)(const uint8_t* w, size_t row_bytes, int nrows, int K, const int8_t* xq, const int32_t* xsum,
                       int ntok, int32_t* out, int out_stride);
  // Float dot of an fp16 row with an f32 vector (LM head / tied embeddings).
  float (*dot_f16)(const uint16_t* w, const float* x, int n);
  // Exact int32 dot of two int8 vectors (int8-quantized LM head).
  int32_t (*dot_i8)(const int8_t* a, const int8_t* b, int n);
  // out[i] += a * v[i] for an fp16 vector v (attention over the f16 V cache).
  void (*axpy_f16)(float a, const uint16_t* v, float* out, int n);
};

const KernelTable& kernels_generic();
const KernelTable* kernels_avx2();     // nullptr when not compiled in
const KernelTable* kernels_avx512();   // AVX-512 F/BW/VL + VNNI

}  // namespace magnet
