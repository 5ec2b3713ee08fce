// Systematic Reed-Solomon over GF(2^8), byte-compatible with klauspost/reedsolomon: k data shards, m parity shards,
// any k of the k+m rebuild the rest. Shards are caller-owned buffers of one length; nothing is copied.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gf256.h"
#include "rs_kernels.h"

namespace magnet::rs {

constexpr int kMaxShards = 256;

class Codec {
 public:
  // Throws std::invalid_argument unless 1 <= k, 1 <= m, k + m <= kMaxShards.
  Codec(int k, int m, const RsKernel& kernel);
  int k() const { return k_; }
  int m() const { return m_; }
  // Fills parity[0..m) from data[0..k), each `len` bytes.
  void encode(const uint8_t* const* data, uint8_t* const* parity, size_t len) const;
  // shards: k+m buffers of `len` bytes; rebuilds every one whose present flag is false from the first k present ones.
  // Throws std::invalid_argument when fewer than k are present.
  void reconstruct(uint8_t* const* shards, const bool* present, size_t len) const;

 private:
  int k_, m_;
  const RsKernel& kernel_;
  gf::Matrix enc_;  // (k+m) x k, top k rows the identity
};

// The kernel in use: the best this CPU and build allow, or MAGNET_RS_KERNEL=scalar|avx2|gfni-avx512|neon. Chosen and
// self-tested against the scalar path once; throws std::runtime_error when a forced path is unknown or unsupported,
// or when the self-test fails.
const RsKernel& kernel();
// A path by name (nullptr when unknown or unsupported on this CPU / build).
const RsKernel* kernel_by_name(const std::string& name);
// Paths this CPU and build can run, best first, comma-separated (always ends with "scalar").
std::string available_kernels();
// Compares `k` with the scalar path on awkward shapes and lengths; "" or what differs.
std::string self_test(const RsKernel& k);

}  // namespace magnet::rs
