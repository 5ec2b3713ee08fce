#include "float_formats.h"

#include <cmath>
#include <cstring>

#include "../kernels/common.h"
#include "gguf.h"

namespace magnet {

namespace {

uint16_t u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

float bf16_to_fp32(uint16_t h) {
  const uint32_t bits = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Q8_0: 32 values = fp16 d, 32 x int8.
void q8_0(const uint8_t* b, float* y) {
  const float d = fp16_to_fp32(u16(b));
  for (int j = 0; j < 32; j++) y[j] = d * (float)(int8_t)b[2 + j];
}

// Q4_0: 32 values = fp16 d, 16 bytes; low nibbles are values 0..15, high nibbles 16..31, both offset by 8.
void q4_0(const uint8_t* b, float* y) {
  const float d = fp16_to_fp32(u16(b));
  for (int j = 0; j < 16; j++) {
    y[j] = d * (float)((b[2 + j] & 0x0f) - 8);
    y[j + 16] = d * (float)((b[2 + j] >> 4) - 8);
  }
}

// Q6_K: 256 values = ql[128] (low 4 bits), qh[64] (high 2 bits), 16 int8 sub-block scales, fp16 d; each value
// is d * scale * (q - 32), in two halves of 128.
void q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = (const int8_t*)(b + 192);
  const float d = fp16_to_fp32(u16(b + 208));
  for (int half = 0; half < 2; half++) {
    for (int l = 0; l < 32; l++) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
    y += 128, ql += 64, qh += 32, sc += 8;
  }
}

struct Block {
  int values, bytes;
};

Block block_of(uint32_t type) {
  switch (type) {
    case GGML_F32: return {1, 4};
    case GGML_F16: return {1, 2};
    case GGML_BF16: return {1, 2};
    case GGML_Q8_0: return {32, 34};
    case GGML_Q4_0: return {32, 18};
    case GGML_Q6_K: return {256, 210};
    default: return {0, 0};
  }
}

}  // namespace

bool is_float_format(uint32_t type) { return block_of(type).values > 0; }

size_t float_row_bytes(uint32_t type, uint64_t cols) {
  const Block b = block_of(type);
  if (b.values == 0 || cols % b.values) return 0;
  return (size_t)(cols / b.values) * b.bytes;
}

void decode_float_row(uint32_t type, const uint8_t* row, int cols, float* out) {
  switch (type) {
    case GGML_F32:
      std::memcpy(out, row, (size_t)cols * 4);
      return;
    case GGML_F16:
      for (int i = 0; i < cols; i++) out[i] = fp16_to_fp32(u16(row + 2 * i));
      return;
    case GGML_BF16:
      for (int i = 0; i < cols; i++) out[i] = bf16_to_fp32(u16(row + 2 * i));
      return;
    case GGML_Q8_0:
      for (int b = 0; b < cols / 32; b++) q8_0(row + b * 34, out + b * 32);
      return;
    case GGML_Q4_0:
      for (int b = 0; b < cols / 32; b++) q4_0(row + b * 18, out + b * 32);
      return;
    case GGML_Q6_K:
      for (int b = 0; b < cols / 256; b++) q6_k(row + b * 210, out + b * 256);
      return;
    default:
      return;
  }
}

namespace {

void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

float absmax(const float* x, int n) {
  float m = 0;
  for (int i = 0; i < n; i++) m = std::fmax(m, std::fabs(x[i]));
  return m;
}

int clampi(float v, int lo, int hi) { return (int)std::fmin((float)hi, std::fmax((float)lo, std::nearbyint(v))); }

}  // namespace

void encode_float_row(uint32_t type, const float* x, int cols, uint8_t* row) {
  switch (type) {
    case GGML_F32:
      std::memcpy(row, x, (size_t)cols * 4);
      return;
    case GGML_F16:
      for (int i = 0; i < cols; i++) put16(row + 2 * i, fp32_to_fp16(x[i]));
      return;
    case GGML_BF16:
      for (int i = 0; i < cols; i++) {
        uint32_t bits;
        std::memcpy(&bits, &x[i], 4);
        put16(row + 2 * i, (uint16_t)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16));  // round to nearest even
      }
      return;
    case GGML_Q8_0:
      for (int b = 0; b < cols / 32; b++) {
        const float* v = x + b * 32;
        uint8_t* o = row + b * 34;
        const float d = absmax(v, 32) / 127.0f;
        put16(o, fp32_to_fp16(d));
        for (int j = 0; j < 32; j++) o[2 + j] = (uint8_t)(int8_t)(d > 0 ? clampi(v[j] / d, -127, 127) : 0);
      }
      return;
    case GGML_Q4_0:
      for (int b = 0; b < cols / 32; b++) {
        const float* v = x + b * 32;
        uint8_t* o = row + b * 18;
        const float d = absmax(v, 32) / 7.0f;
        put16(o, fp32_to_fp16(d));
        for (int j = 0; j < 16; j++) {
          const int lo = d > 0 ? clampi(v[j] / d + 8, 0, 15) : 8, hi = d > 0 ? clampi(v[j + 16] / d + 8, 0, 15) : 8;
          o[2 + j] = (uint8_t)(lo | (hi << 4));
        }
      }
      return;
    case GGML_Q6_K:
      for (int b = 0; b < cols / 256; b++) {
        const float* v = x + b * 256;
        uint8_t* o = row + b * 210;
        std::memset(o, 0, 210);
        float sub[16], top = 0;
        for (int i = 0; i < 16; i++) top = std::fmax(top, sub[i] = absmax(v + 16 * i, 16) / 31.0f);
        const float d = top / 127.0f;
        put16(o + 208, fp32_to_fp16(d));
        const float dd = fp16_to_fp32(fp32_to_fp16(d));
        int8_t* sc = (int8_t*)(o + 192);
        for (int i = 0; i < 16; i++) sc[i] = (int8_t)(dd > 0 ? clampi(sub[i] / dd, -127, 127) : 0);
        // Value i of the block: half h = i / 128, then l = i % 32 and quarter q = (i % 128) / 32 pick its bits.
        for (int i = 0; i < 256; i++) {
          const float step = dd * sc[i / 16];
          const int q = step != 0 ? clampi(v[i] / step + 32, 0, 63) : 32;
          const int h = i / 128, l = i % 32, quarter = (i % 128) / 32;
          uint8_t* ql = o + 64 * h;
          uint8_t* qh = o + 128 + 32 * h;
          const int li = l + (quarter & 1) * 32;
          ql[li] |= (uint8_t)((q & 0xf) << (quarter >= 2 ? 4 : 0));
          qh[l] |= (uint8_t)(((q >> 4) & 3) << (2 * quarter));
        }
      }
      return;
    default:
      return;
  }
}

}  // namespace magnet
