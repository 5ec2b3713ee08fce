#include "sampler.h"

#include <algorithm>
#include <cmath>

namespace magnet {

Sampler::Sampler(const SamplingParams& p) : p_(p), state_(p.seed ^ 0x9e3779b97f4a7c15ull) {}

double Sampler::uniform() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

int Sampler::sample(const float* logits, int n) {
  if (p_.temperature <= 0.0f) {  // greedy; ties go to the lowest id
    int best = 0;
    for (int i = 1; i < n; i++)
      if (logits[i] > logits[best]) best = i;
    return best;
  }
  cand_.clear();
  for (int i = 0; i < n; i++) cand_.emplace_back(logits[i] / p_.temperature, i);
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

}  // namespace magnet
