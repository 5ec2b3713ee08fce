#include "reed_solomon.h"

#include <cstdlib>
#include <mutex>
#include <random>
#include <stdexcept>

#include "../kernels/dispatch.h"

namespace magnet::rs {

Codec::Codec(int k, int m, const RsKernel& kernel) : k_(k), m_(m), kernel_(kernel) {
  if (k < 1 || m < 1 || k + m > kMaxShards)
    throw std::invalid_argument("bad Reed-Solomon parameters K=" + std::to_string(k) + ", M=" + std::to_string(m) +
                                ": K and M must be >= 1 with K+M <= " + std::to_string(kMaxShards));
  enc_ = gf::encoding_matrix(k, m);
}

void Codec::encode(const uint8_t* const* data, uint8_t* const* parity, size_t len) const {
  if (len == 0) return;
  kernel_.mul_rows(enc_.row(k_), m_, k_, data, parity, len);
}

void Codec::reconstruct(uint8_t* const* shards, const bool* present, size_t len) const {
  std::vector<int> rows;  // the first k present shards
  std::vector<int> missing;
  for (int i = 0; i < k_ + m_; i++) {
    if (present[i] && (int)rows.size() < k_) rows.push_back(i);
    if (!present[i]) missing.push_back(i);
  }
  if ((int)rows.size() < k_)
    throw std::invalid_argument("only " + std::to_string(rows.size()) + " of " + std::to_string(k_ + m_) +
                                " shards present; at least " + std::to_string(k_) + " are needed to rebuild");
  if (missing.empty() || len == 0) return;
  // data = S^-1 * (present shards), S the encoding rows of the present shards; a missing shard i is then
  // enc[i] * data = (enc[i] * S^-1) * present: one pass over the inputs whatever mix of data and parity is lost.
  gf::Matrix sub(k_, k_);
  for (int r = 0; r < k_; r++)
    for (int c = 0; c < k_; c++) sub.at(r, c) = enc_.at(rows[r], c);
  gf::Matrix sub_inv;
  if (!gf::invert(sub, &sub_inv)) throw std::logic_error("Reed-Solomon: a k x k submatrix is singular");
  gf::Matrix want((int)missing.size(), k_);
  for (size_t j = 0; j < missing.size(); j++)
    for (int c = 0; c < k_; c++) want.at((int)j, c) = enc_.at(missing[j], c);
  const gf::Matrix coeffs = gf::multiply(want, sub_inv);
  std::vector<const uint8_t*> in(k_);
  for (int r = 0; r < k_; r++) in[r] = shards[rows[r]];
  std::vector<uint8_t*> out(missing.size());
  for (size_t j = 0; j < missing.size(); j++) out[j] = shards[missing[j]];
  kernel_.mul_rows(coeffs.v.data(), (int)missing.size(), k_, in.data(), out.data(), len);
}

const RsKernel* kernel_by_name(const std::string& name) {
  const CpuFeatures f = detect_cpu();
  if (name == "scalar") return &kernel_scalar();
  if (name == "avx2" && f.os_avx && f.avx2) return kernel_avx2();
  if (name == "gfni-avx512" && f.os_avx512 && f.avx512f && f.avx512bw && f.gfni) return kernel_gfni();
  if (name == "neon" && f.neon) return kernel_neon();
  return nullptr;
}

std::string available_kernels() {
  std::string out;
  for (const char* n : {"gfni-avx512", "avx2", "neon"})
    if (kernel_by_name(n)) out += std::string(n) + ",";
  return out + "scalar";
}

std::string self_test(const RsKernel& kern) {
  std::mt19937 rng(20261205);
  const RsKernel& ref = kernel_scalar();
  // Row counts below, at and past a row group; input counts with and without a fixed-size path; lengths around the
  // vector widths, a cache block and its tails.
  const int shapes[][2] = {{1, 1}, {2, 3}, {4, 2}, {3, 5}, {6, 5}, {8, 4}, {10, 4}, {17, 9}};
  for (const auto& s : shapes) {
    const int k = s[0], rows = s[1];
    for (size_t len : {1ul, 31ul, 64ul, 200ul, 16384ul + 97ul, 40000ul}) {
      std::vector<uint8_t> coeffs((size_t)rows * k);
      for (auto& c : coeffs) c = (uint8_t)rng();
      std::vector<std::vector<uint8_t>> in(k, std::vector<uint8_t>(len));
      for (auto& v : in)
        for (auto& b : v) b = (uint8_t)rng();
      std::vector<std::vector<uint8_t>> a(rows, std::vector<uint8_t>(len)), b(rows, std::vector<uint8_t>(len, 0xAA));
      std::vector<const uint8_t*> ip(k);
      std::vector<uint8_t*> ap(rows), bp(rows);
      for (int i = 0; i < k; i++) ip[i] = in[i].data();
      for (int r = 0; r < rows; r++) ap[r] = a[r].data(), bp[r] = b[r].data();
      ref.mul_rows(coeffs.data(), rows, k, ip.data(), ap.data(), len);
      kern.mul_rows(coeffs.data(), rows, k, ip.data(), bp.data(), len);
      if (a != b)
        return std::string(kern.name) + ": differs from scalar at k=" + std::to_string(k) + " rows=" + std::to_string(rows) +
               " len=" + std::to_string(len);
    }
  }
  return "";
}

const RsKernel& kernel() {
  static std::once_flag once;
  static const RsKernel* chosen = nullptr;
  static std::string error;
  std::call_once(once, [] {
    const char* forced = std::getenv("MAGNET_RS_KERNEL");
    if (forced && *forced) {
      chosen = kernel_by_name(forced);
      if (!chosen) {
        error = std::string("MAGNET_RS_KERNEL=") + forced + " is not available here (available: " + available_kernels() + ")";
        return;
      }
    } else {
      for (const char* n : {"gfni-avx512", "avx2", "neon", "scalar"})
        if ((chosen = kernel_by_name(n))) break;
    }
    const std::string bad = self_test(*chosen);
    if (!bad.empty()) {
      error = "erasure kernel self-test failed: " + bad;
      chosen = nullptr;
    }
  });
  if (!chosen) throw std::runtime_error(error);
  return *chosen;
}

}  // namespace magnet::rs
