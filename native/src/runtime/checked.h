// Overflow-checked size arithmetic and range-checked conversions for numbers that come from a model file.
// A file is untrusted input: a product that wraps or a double cast out of range would otherwise turn into an
// out-of-bounds read or undefined behaviour, so every such step throws GgufError naming what it was computing.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "gguf.h"

namespace magnet {

// %g, so that 1e-30 and 1e+300 print as themselves (std::to_string prints "0.000000" and 300 digits).
inline std::string num_str(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

// a * b, or GgufError "<what>: size overflows" when it does not fit in uint64.
inline uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& what) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw GgufError(what + ": size overflows (" + std::to_string(a) + " x " + std::to_string(b) + ")");
  return r;
}

inline uint64_t checked_add(uint64_t a, uint64_t b, const std::string& what) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw GgufError(what + ": size overflows (" + std::to_string(a) + " + " + std::to_string(b) + ")");
  return r;
}

// A file number that must be a whole number in [lo, hi] before it is cast to an integer type. NaN and the
// infinities fail the comparison, so they are refused too. lo and hi must be exact doubles (|x| <= 2^53).
inline int64_t whole_in_range(double v, int64_t lo, int64_t hi, const std::string& what) {
  if (!(v >= (double)lo && v <= (double)hi) || v != std::floor(v))
    throw GgufError(what + " has value " + num_str(v) + ", expected a whole number in [" + std::to_string(lo) + ", " +
                    std::to_string(hi) + "]");
  return (int64_t)v;
}

// A file number that must be finite and in [lo, hi] (a float parameter such as an epsilon or a RoPE base).
inline double finite_in_range(double v, double lo, double hi, const std::string& what) {
  if (!(v >= lo && v <= hi))
    throw GgufError(what + " has value " + num_str(v) + ", expected a finite number in [" + num_str(lo) + ", " + num_str(hi) + "]");
  return v;
}

}  // namespace magnet
