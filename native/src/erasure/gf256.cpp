#include "gf256.h"

#include <stdexcept>

namespace magnet::gf {
namespace {

struct Tables {
  uint8_t exp[512];
  uint8_t log[256];
  uint8_t mul[256][256];
  Tables() {
    int x = 1;
    for (int i = 0; i < 255; i++) {
      exp[i] = (uint8_t)x;
      log[x] = (uint8_t)i;
      x <<= 1;
      if (x & 0x100) x ^= 0x11D;
    }
    for (int i = 255; i < 512; i++) exp[i] = exp[i - 255];
    log[0] = 0;  // never read for 0: mul() and exp() test for it first
    for (int a = 0; a < 256; a++)
      for (int b = 0; b < 256; b++) mul[a][b] = (a == 0 || b == 0) ? 0 : exp[log[a] + log[b]];
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

uint8_t mul(uint8_t a, uint8_t b) { return tables().mul[a][b]; }

uint8_t inv(uint8_t a) {
  if (a == 0) throw std::domain_error("GF(2^8): 0 has no inverse");
  const Tables& t = tables();
  return t.exp[255 - t.log[a]];
}

uint8_t exp(uint8_t a, int n) {
  if (n == 0) return 1;
  if (a == 0) return 0;
  const Tables& t = tables();
  return t.exp[(t.log[a] * n) % 255];
}

const uint8_t* mul_row(uint8_t c) { return tables().mul[c]; }

Matrix multiply(const Matrix& a, const Matrix& b) {
  if (a.cols != b.rows) throw std::invalid_argument("GF(2^8) matrix product: shapes do not match");
  Matrix out(a.rows, b.cols);
  for (int r = 0; r < a.rows; r++)
    for (int c = 0; c < b.cols; c++) {
      uint8_t s = 0;
      for (int i = 0; i < a.cols; i++) s ^= mul(a.at(r, i), b.at(i, c));
      out.at(r, c) = s;
    }
  return out;
}

bool invert(const Matrix& a, Matrix* out) {
  if (a.rows != a.cols) throw std::invalid_argument("GF(2^8) matrix inverse: not square");
  const int n = a.rows;
  Matrix w(n, 2 * n);  // [a | I], reduced to [I | a^-1]
  for (int r = 0; r < n; r++) {
    for (int c = 0; c < n; c++) w.at(r, c) = a.at(r, c);
    w.at(r, n + r) = 1;
  }
  for (int col = 0; col < n; col++) {
    int pivot = col;
    while (pivot < n && w.at(pivot, col) == 0) pivot++;
    if (pivot == n) return false;
    if (pivot != col)
      for (int c = 0; c < 2 * n; c++) std::swap(w.at(pivot, c), w.at(col, c));
    const uint8_t scale = inv(w.at(col, col));
    for (int c = 0; c < 2 * n; c++) w.at(col, c) = mul(w.at(col, c), scale);
    for (int r = 0; r < n; r++) {
      const uint8_t f = w.at(r, col);
      if (r == col || f == 0) continue;
      for (int c = 0; c < 2 * n; c++) w.at(r, c) ^= mul(f, w.at(col, c));
    }
  }
  *out = Matrix(n, n);
  for (int r = 0; r < n; r++)
    for (int c = 0; c < n; c++) out->at(r, c) = w.at(r, n + c);
  return true;
}

Matrix encoding_matrix(int k, int m) {
  Matrix vm(k + m, k);
  for (int r = 0; r < k + m; r++)
    for (int c = 0; c < k; c++) vm.at(r, c) = exp((uint8_t)r, c);
  Matrix top(k, k);
  for (int r = 0; r < k; r++)
    for (int c = 0; c < k; c++) top.at(r, c) = vm.at(r, c);
  Matrix top_inv;
  if (!invert(top, &top_inv)) throw std::logic_error("Vandermonde top square is singular");
  return multiply(vm, top_inv);
}

}  // namespace magnet::gf
