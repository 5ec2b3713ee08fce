// Per-ISA kernels of the Reed-Solomon codec: one operation, out[r] = sum_i coeffs[r][i] * in[i] over GF(2^8),
// byte by byte. The codec chooses one at run time; each is checked against the scalar reference.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace magnet::rs {

struct RsKernel {
  const char* name;
  // coeffs: rows x k, row-major. in: k pointers, out: rows pointers, each `len` bytes; out must not alias in.
  void (*mul_rows)(const uint8_t* coeffs, int rows, int k, const uint8_t* const* in, uint8_t* const* out, size_t len);
};

const RsKernel& kernel_scalar();
// nullptr when this build has no such path (the CPU check is the dispatcher's).
const RsKernel* kernel_avx2();
const RsKernel* kernel_gfni();
const RsKernel* kernel_neon();

// The scalar loop over bytes [from, len), for the tails the vector paths leave.
void mul_rows_tail(const uint8_t* coeffs, int rows, int k, const uint8_t* const* in, uint8_t* const* out, size_t from,
                   size_t len);

// Per coefficient, 32 bytes for the shuffle-based paths (AVX2, NEON): c * x for the 16 low nibbles x, then c * (x << 4)
// for the 16 high ones; a product is the XOR of one lookup in each.
std::vector<uint8_t> nibble_tables(const uint8_t* coeffs, size_t n);

// Output rows kept in registers at once by the vector paths; more rows are done in groups, re-reading inputs from cache.
constexpr int kRowGroup = 4;
// Columns per cache block: the k inputs of one block stay in L1/L2 while every row group passes over them.
constexpr size_t kColumnBlock = 16384;

// The vector paths' common driver: calls group(r0, nr, from, to) for each cache block of the first `vec_len` columns
// and each group of at most kRowGroup output rows. Each path instantiates it in its own file, with its own ISA flags.
template <typename GroupFn>
inline void for_each_block(int rows, size_t vec_len, GroupFn group) {
  for (size_t b = 0; b < vec_len; b += kColumnBlock) {
    const size_t e = b + kColumnBlock < vec_len ? b + kColumnBlock : vec_len;
    for (int r0 = 0; r0 < rows; r0 += kRowGroup) group(r0, rows - r0 < kRowGroup ? rows - r0 : kRowGroup, b, e);
  }
}

}  // namespace magnet::rs
