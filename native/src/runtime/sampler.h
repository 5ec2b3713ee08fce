// Token sampling: greedy (temperature 0), temperature, top-k, top-p, with a seeded generator so a request
// with a seed is reproducible on every node.
#pragma once
#include <cstdint>
#include <vector>

namespace magnet {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  int sample(const float* logits, int n);
  double uniform();  // [0, 1), splitmix64: the same stream on every platform

 private:
  SamplingParams p_;
  uint64_t state_;
  std::vector<std::pair<float, int>> cand_;
};

}  // namespace magnet
