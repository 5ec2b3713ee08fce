// The Reed-Solomon codec: the klauspost/reedsolomon matrix, every kernel path against the scalar reference, and
// rebuilds from every loss pattern of RS(4,2) and from random patterns of wider layouts on every path.
#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "../src/erasure/reed_solomon.h"
#include "check.h"

using namespace magnet;

static void test_field() {
  CHECK(gf::mul(2, 128) == 0x1D, "2 * 0x80 reduces by 0x11D: got %d", gf::mul(2, 128));
  for (int a = 1; a < 256; a++) CHECK(gf::mul((uint8_t)a, gf::inv((uint8_t)a)) == 1, "a * a^-1 = 1 for a=%d", a);
  CHECK(gf::exp(0, 0) == 1 && gf::exp(0, 3) == 0 && gf::exp(3, 2) == gf::mul(3, 3), "exp");
}

// The parity rows of RS(4,2) as klauspost/reedsolomon builds them (also checked by the daemon's golden test).
static void test_matrix() {
  const gf::Matrix e = gf::encoding_matrix(4, 2);
  const uint8_t want[2][4] = {{27, 28, 18, 20}, {28, 27, 20, 18}};
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++) CHECK(e.at(r, c) == (r == c), "top is the identity at %d,%d", r, c);
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < 4; c++) CHECK(e.at(4 + r, c) == want[r][c], "parity row %d col %d: %d", r, c, e.at(4 + r, c));
}

static std::vector<std::vector<uint8_t>> encoded(const rs::Codec& codec, size_t len, std::mt19937& rng) {
  const int k = codec.k(), m = codec.m();
  std::vector<std::vector<uint8_t>> s(k + m, std::vector<uint8_t>(len));
  for (int i = 0; i < k; i++)
    for (auto& b : s[i]) b = (uint8_t)rng();
  std::vector<const uint8_t*> d(k);
  std::vector<uint8_t*> p(m);
  for (int i = 0; i < k; i++) d[i] = s[i].data();
  for (int j = 0; j < m; j++) p[j] = s[k + j].data();
  codec.encode(d.data(), p.data(), len);
  return s;
}

// Loses the shards not in `keep`, rebuilds them, and checks every byte came back.
static bool rebuilds(const rs::Codec& codec, const std::vector<std::vector<uint8_t>>& full, const std::vector<bool>& keep) {
  auto s = full;
  std::vector<uint8_t*> ptrs(s.size());
  bool flags[rs::kMaxShards];
  for (size_t i = 0; i < s.size(); i++) {
    if (!keep[i]) std::fill(s[i].begin(), s[i].end(), 0x5A);
    ptrs[i] = s[i].data();
    flags[i] = keep[i];
  }
  codec.reconstruct(ptrs.data(), flags, full[0].size());
  return s == full;
}

static void test_path(const rs::RsKernel& kern) {
  CHECK(rs::self_test(kern).empty(), "%s", rs::self_test(kern).c_str());
  std::mt19937 rng(4242);
  // Every pattern of up to 2 losses of RS(4,2), on a length with a vector tail.
  const rs::Codec c42(4, 2, kern);
  const auto full = encoded(c42, 70000 + 13, rng);
  int patterns = 0;
  for (int mask = 0; mask < 64; mask++) {
    if (__builtin_popcount(mask) > 2) continue;
    std::vector<bool> keep(6);
    for (int i = 0; i < 6; i++) keep[i] = !(mask & (1 << i));
    CHECK(rebuilds(c42, full, keep), "%s: RS(4,2) loss mask 0x%x", kern.name, mask);
    patterns++;
  }
  CHECK(patterns == 22, "22 patterns of at most 2 losses, ran %d", patterns);
  // Wider layouts: m random losses (data, parity or both).
  for (auto km : {std::pair{10, 4}, {17, 3}, {3, 9}, {200, 56}}) {
    const rs::Codec c(km.first, km.second, kern);
    const auto f = encoded(c, 4099, rng);
    for (int t = 0; t < 4; t++) {
      std::vector<int> idx(km.first + km.second);
      for (size_t i = 0; i < idx.size(); i++) idx[i] = (int)i;
      std::shuffle(idx.begin(), idx.end(), rng);
      std::vector<bool> keep(idx.size(), true);
      for (int j = 0; j < km.second; j++) keep[idx[j]] = false;
      CHECK(rebuilds(c, f, keep), "%s: RS(%d,%d) random loss %d", kern.name, km.first, km.second, t);
    }
  }
  // One loss too many is refused with the counts.
  bool threw = false;
  try {
    std::vector<bool> keep = {true, true, true, false, false, false};
    rebuilds(c42, full, keep);
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("only 3 of 6 shards present") != std::string::npos;
  }
  CHECK(threw, "%s: 3 of RS(4,2) is refused", kern.name);
  std::printf("  %s: 22 RS(4,2) loss patterns and 16 wide random losses rebuilt\n", kern.name);
}

int main() {
  test_field();
  test_matrix();
  bool threw = false;
  try {
    rs::Codec bad(200, 57, rs::kernel_scalar());
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw, "K+M > 256 is refused");
  std::printf("erasure paths here: %s (in use: %s)\n", rs::available_kernels().c_str(), rs::kernel().name);
  for (const char* n : {"scalar", "avx2", "gfni-avx512", "neon"})
    if (const rs::RsKernel* k = rs::kernel_by_name(n)) test_path(*k);
  if (magnet_failures()) return 1;
  std::printf("test_erasure: ok\n");
  return 0;
}
