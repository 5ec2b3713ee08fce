// GF(2^8) with polynomial 0x11D and generator 2 (the field of klauspost/reedsolomon and the Rust
// reed-solomon-erasure crate), and the small matrix algebra the Reed-Solomon codec needs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace magnet::gf {

uint8_t mul(uint8_t a, uint8_t b);
uint8_t inv(uint8_t a);  // a != 0
// a^n, with 0^0 = 1 as the Vandermonde construction of klauspost/reedsolomon has it.
uint8_t exp(uint8_t a, int n);
// The 256-byte row of products c * x for x = 0..255.
const uint8_t* mul_row(uint8_t c);

// A dense row-major matrix over the field.
struct Matrix {
  int rows = 0, cols = 0;
  std::vector<uint8_t> v;
  Matrix() = default;
  Matrix(int r, int c) : rows(r), cols(c), v((size_t)r * c, 0) {}
  uint8_t& at(int r, int c) { return v[(size_t)r * cols + c]; }
  uint8_t at(int r, int c) const { return v[(size_t)r * cols + c]; }
  const uint8_t* row(int r) const { return &v[(size_t)r * cols]; }
};

Matrix multiply(const Matrix& a, const Matrix& b);
// Gauss-Jordan inverse of a square matrix; returns false when it is singular.
bool invert(const Matrix& a, Matrix* out);
// The systematic (k+m) x k encoding matrix: a Vandermonde matrix times the inverse of its top k x k square, so the top
// is the identity and any k rows are invertible (klauspost/reedsolomon's default buildMatrix).
Matrix encoding_matrix(int k, int m);

}  // namespace magnet::gf
