#include "gf256.h"
#include "rs_kernels.h"

#include <cstring>

namespace magnet::rs {

void mul_rows_tail(const uint8_t* coeffs, int rows, int k, const uint8_t* const* in, uint8_t* const* out, size_t from,
                   size_t len) {
  for (int r = 0; r < rows; r++) {
    uint8_t* o = out[r];
    const uint8_t* t0 = gf::mul_row(coeffs[(size_t)r * k]);
    for (size_t x = from; x < len; x++) o[x] = t0[in[0][x]];
    for (int i = 1; i < k; i++) {
      const uint8_t* t = gf::mul_row(coeffs[(size_t)r * k + i]);
      const uint8_t* s = in[i];
      for (size_t x = from; x < len; x++) o[x] ^= t[s[x]];
    }
  }
}

std::vector<uint8_t> nibble_tables(const uint8_t* coeffs, size_t n) {
  std::vector<uint8_t> t(n * 32);
  for (size_t j = 0; j < n; j++) {
    const uint8_t* row = gf::mul_row(coeffs[j]);
    for (int x = 0; x < 16; x++) t[32 * j + x] = row[x], t[32 * j + 16 + x] = row[x << 4];
  }
  return t;
}

namespace {
void mul_rows_scalar(const uint8_t* coeffs, int rows, int k, const uint8_t* const* in, uint8_t* const* out, size_t len) {
  mul_rows_tail(coeffs, rows, k, in, out, 0, len);
}
const RsKernel kScalar{"scalar", mul_rows_scalar};
}  // namespace

const RsKernel& kernel_scalar() { return kScalar; }

#if !(defined(__x86_64__) || defined(_M_X64))
const RsKernel* kernel_avx2() { return nullptr; }
const RsKernel* kernel_gfni() { return nullptr; }
#endif
#if !defined(__aarch64__)
const RsKernel* kernel_neon() { return nullptr; }
#endif

}  // namespace magnet::rs
