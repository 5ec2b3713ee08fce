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
  // OpenAI's penalties: a token's logit drops by count * frequency + (count > 0) * presence, counting the
  // tokens this request has generated so far.
  float presence_penalty = 0.0f, frequency_penalty = 0.0f;
  std::vector<std::pair<int, float>> logit_bias;  // (token id, added to its logit)
  // -1: none. k >= 0: report each generated token's log-probability and the k most likely alternatives.
  int logprobs = -1;
};

// Log-probabilities of one generated token: log-softmax of the logits it was sampled from (after bias and
// penalties, before temperature, top-k and top-p), and the `k` most likely tokens at that step.
struct TokenLogprobs {
  int token = -1;
  float logprob = 0.0f;
  std::vector<std::pair<int, float>> top;
};

TokenLogprobs logprobs_of(const float* logits, int n, int token, int k);

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
