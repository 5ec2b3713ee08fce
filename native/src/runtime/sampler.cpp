#include "sampler.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <stdexcept>

namespace magnet {

Sampler::Sampler(const SamplingParams& p) : p_(p), state_(p.seed ^ 0x9e3779b97f4a7c15ull) {
  // NaN fails every comparison, so it would slip past the `<= 0` and `< 1` tests below: NaN temperature means
  // greedy, NaN top_p means off. An infinite temperature is the largest finite one (uniform over finite logits).
  if (!(p_.temperature > 0.0f)) p_.temperature = 0.0f;
  if (p_.temperature > FLT_MAX) p_.temperature = FLT_MAX;
  if (std::isnan(p_.top_p)) p_.top_p = 1.0f;
}

double Sampler::uniform() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

namespace {

// A logit as the sort key: NaN sorts last (as -inf), +inf as the largest finite float, so that the comparator
// below is a strict weak ordering (std::sort on NaN keys is undefined) and exp(x - max) is never inf - inf.
float key_of(float x) {
  if (std::isnan(x)) return -INFINITY;
  return std::fmin(x, FLT_MAX);
}

}  // namespace

int Sampler::sample(const float* logits, int n) {
  if (n <= 0) throw std::invalid_argument("sampler: no logits");
  if (p_.temperature <= 0.0f) {  // greedy; ties go to the lowest id; NaN never wins (all NaN: token 0)
    int best = 0;
    for (int i = 1; i < n; i++)
      if (key_of(logits[i]) > key_of(logits[best])) best = i;
    return best;
  }
  cand_.clear();
  for (int i = 0; i < n; i++) cand_.emplace_back(key_of(key_of(logits[i]) / p_.temperature), i);
  auto by_logit = [](const std::pair<float, int>& a, const std::pair<float, int>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t keep = cand_.size();
  if (p_.top_k > 0 && (size_t)p_.top_k < keep) {
    keep = p_.top_k;
    std::partial_sort(cand_.begin(), cand_.begin() + keep, cand_.end(), by_logit);
    cand_.resize(keep);
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  const float mx = cand_[0].first;
  if (mx == -INFINITY) return cand_[0].second;  // nothing finite to weigh: the lowest id, like greedy
  double sum = 0;
  std::vector<double> prob(cand_.size());
  for (size_t i = 0; i < cand_.size(); i++) sum += (prob[i] = std::exp((double)cand_[i].first - mx));
  if (p_.top_p < 1.0f) {  // smallest prefix (sorted by probability) whose mass reaches top_p
    double cum = 0;
    size_t k = 0;
    while (k < prob.size()) {
      cum += prob[k++] / sum;
      if (cum >= p_.top_p) break;
    }
    prob.resize(k);
    sum = 0;
    for (double v : prob) sum += v;
  }
  double r = uniform() * sum;
  for (size_t i = 0; i < prob.size(); i++) {
    r -= prob[i];
    if (r < 0) return cand_[i].second;
  }
  return cand_[prob.size() - 1].second;
}

TokenLogprobs logprobs_of(const float* logits, int n, int token, int k) {
  TokenLogprobs out;
  out.token = token;
  float mx = -INFINITY;
  for (int i = 0; i < n; i++) mx = std::fmax(mx, key_of(logits[i]));
  double sum = 0;
  for (int i = 0; i < n; i++) sum += std::exp((double)key_of(logits[i]) - mx);
  const double lse = mx + std::log(sum);
  auto lp = [&](int i) { return (float)((double)key_of(logits[i]) - lse); };
  out.logprob = lp(token);
  if (k > 0) {
    std::vector<int> ids(n);
    for (int i = 0; i < n; i++) ids[i] = i;
    const int m = std::min(k, n);
    std::partial_sort(ids.begin(), ids.begin() + m, ids.end(), [&](int a, int b) {
      return key_of(logits[a]) > key_of(logits[b]) || (key_of(logits[a]) == key_of(logits[b]) && a < b);
    });
    for (int i = 0; i < m; i++) out.top.emplace_back(ids[i], lp(ids[i]));
  }
  return out;
}

}  // namespace magnet
