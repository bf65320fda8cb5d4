#include "llm/sampling.h"

#include <algorithm>
#include <cmath>

namespace a4ps::llm {

int32_t LogitSampler::sample(const float* logits, int32_t n_vocab) {
  int32_t best = 0;
  for (int32_t i = 1; i < n_vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  if (s_.temperature <= 0 || s_.top_k == 1) return best;
  const float top = logits[best], floor = top - 30.0f * s_.temperature, inv_t = 1.0f / s_.temperature;
  window_.clear();
  for (int32_t i = 0; i < n_vocab; ++i)
    if (logits[i] >= floor) window_.push_back({logits[i], i});
  if (s_.top_k > 0 && window_.size() > static_cast<size_t>(s_.top_k)) {  // the k best (ties: lower id)
    auto better = [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
    std::nth_element(window_.begin(), window_.begin() + s_.top_k - 1, window_.end(), better);
    window_.resize(static_cast<size_t>(s_.top_k));
    std::sort(window_.begin(), window_.end(), [](auto& a, auto& b) { return a.second < b.second; });
  }
  // Weights in place of the logits (float exp: its 1e-7 relative error is far below what a
  // draw can tell apart); the total in double.
  double sum = 0;
  for (auto& w : window_) sum += w.first = std::exp((w.first - top) * inv_t);
  double r = std::uniform_real_distribution<double>(0, sum)(rng_);
  for (auto& w : window_) {
    if (r < w.first) return w.second;
    r -= w.first;
  }
  return window_.back().second;
}

}  // namespace a4ps::llm
