// Scalar reference kernels: the definition every SIMD path is tested against. Portable C++ only.
#include "common.h"

namespace magnet {
namespace {

float quantize_i8_generic(const float* x, int n, int8_t* q, int32_t* sum) {
  float amax = 0.0f;
  for (int i = 0; i < n; i++) amax = std::fmax(amax, std::fabs(x[i]));
  const float s = 127.0f / std::fmax(amax, 1e-5f);
  int32_t acc = 0;
  for (int i = 0; i < n; i++) {
    // nearbyintf: round half to even in the default rounding mode, like torch.round.
    float v = std::nearbyint(x[i] * s);
    v = std::fmin(127.0f, std::fmax(-128.0f, v));
    q[i] = (int8_t)v;
    acc += q[i];
  }
  *sum = acc;
  return s;
}

void ternary_gemm_generic(const uint8_t* w, size_t row_bytes, int nrows, int K, const int8_t* xq,
                          const int32_t* xsum, int ntok, int32_t* out, int out_stride) {
  for (int r = 0; r < nrows; r++) {
    const uint8_t* row = w + (size_t)r * row_bytes;
    for (int t = 0; t < ntok; t++) {
      const int8_t* x = xq + (size_t)t * K;
      int32_t acc = 0;
      for (int b = 0; b < K / QK; b++) {
        const uint8_t* qs = row + b * QK_BYTES;
        const int8_t* xb = x + b * QK;
        for (int h = 0; h < 2; h++)
          for (int l = 0; l < 4; l++)
            for (int m = 0; m < 32; m++) acc += ((qs[32 * h + m] >> (2 * l)) & 3) * xb[128 * h + 32 * l + m];
      }
      out[(size_t)t * out_stride + r] = acc - xsum[t];  // codes are w+1: remove the offset
    }
  }
}

float dot_f16_generic(const uint16_t* w, const float* x, int n) {
  float acc = 0.0f;
  for (int i = 0; i < n; i++) acc += fp16_to_fp32(w[i]) * x[i];
  return acc;
}

int32_t dot_i8_generic(const int8_t* a, const int8_t* b, int n) {
  int32_t acc = 0;
  for (int i = 0; i < n; i++) acc += (int32_t)a[i] * b[i];
  return acc;
}

void axpy_f16_generic(float a, const uint16_t* v, float* out, int n) {
  for (int i = 0; i < n; i++) out[i] += a * fp16_to_fp32(v[i]);
}

}  // namespace

const KernelTable& kernels_generic() {
  static const KernelTable t = {"scalar", quantize_i8_generic, ternary_gemm_generic, dot_f16_generic, dot_i8_generic,
                                axpy_f16_generic};
  return t;
}

}  // namespace magnet
