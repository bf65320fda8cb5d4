#include "llm/sampling.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <queue>

// The passes over the whole vocabulary are written as plain lane-wise loops so that the
// compiler vectorises them, and cloned for AVX-512 and AVX2 where the CPU has them: at a
// 150k vocabulary a scalar pass with a libm exp per logit cost ~4% of a 0.5B model's decode.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define A4PS_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3")))
#else
#define A4PS_VECTOR_CLONES
#endif

namespace a4ps::llm {
namespace {

constexpr int kLanes = 16;

A4PS_VECTOR_CLONES float max_of(const float* x, int32_t n) {
  float m[kLanes];
  for (float& v : m) v = -INFINITY;
  int32_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) m[k] = x[i + k] > m[k] ? x[i + k] : m[k];
  float r = -INFINITY;
  for (float v : m) r = v > r ? v : r;
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

// e^x for x in [-30, 0] (the window), to ~2e-7 relative: 2^(x·log2 e) split into an integer
// power (built in the exponent bits) and a degree-6 polynomial for the fraction. Branch-free.
inline float exp_window(float x) {
  float t = x * 1.44269504f;
  float n = (t + 12582912.0f) - 12582912.0f;  // round to nearest (1.5·2^23), no libm call
  float f = (t - n) * 0.69314718f;          // e^f with |f| <= ln2 / 2
  float p = 1.0f + f * (1.0f + f * (0.5f + f * (1.0f / 6 + f * (1.0f / 24 + f * (1.0f / 120 + f * (1.0f / 720))))));
  return p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}

// Weights of x[0, n): e^((x - top) / T) inside the window, 0 below it. Returns their sum.
A4PS_VECTOR_CLONES float weigh(const float* x, float* w, int32_t n, float top, float floor, float inv_t) {
  float s[kLanes] = {};
  int32_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) {
      float l = x[i + k], v = exp_window((std::max(l, floor) - top) * inv_t);
      v = l >= floor ? v : 0.0f;
      w[i + k] = v;
      s[k] += v;
    }
  float sum = 0;
  for (float v : s) sum += v;
  for (; i < n; ++i) sum += w[i] = x[i] >= floor ? exp_window((x[i] - top) * inv_t) : 0.0f;
  return sum;
}

}  // namespace

int32_t LogitSampler::sample(const float* logits, int32_t n_vocab) {
  const float top = max_of(logits, n_vocab);
  const int32_t best = static_cast<int32_t>(std::find(logits, logits + n_vocab, top) - logits);  // first of ties
  if (s_.temperature <= 0 || s_.top_k == 1 || best == n_vocab) return best == n_vocab ? 0 : best;
  const float floor = top - 30.0f * s_.temperature, inv_t = 1.0f / s_.temperature;

  if (s_.top_k > 0 && s_.top_k < n_vocab) {
    // The k best inside the window, by a bounded min-heap: after the first few thousand
    // logits almost none beats the heap's smallest, so this is one predictable pass.
    auto worse = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);  // heap top: the worst kept
    };
    window_.clear();
    const size_t k = static_cast<size_t>(s_.top_k);
    float bar = floor;
    for (int32_t i = 0; i < n_vocab; ++i) {
      if (logits[i] < bar) continue;
      if (window_.size() < k) {
        window_.push_back({logits[i], i});
        std::push_heap(window_.begin(), window_.end(), worse);
      } else if (logits[i] > window_.front().first) {  // ties keep the lower id, as before
        std::pop_heap(window_.begin(), window_.end(), worse);
        window_.back() = {logits[i], i};
        std::push_heap(window_.begin(), window_.end(), worse);
      }
      if (window_.size() == k) bar = std::max(floor, window_.front().first);
    }
    std::sort(window_.begin(), window_.end(), [](auto& a, auto& b) { return a.second < b.second; });
    double sum = 0;
    for (auto& w : window_) sum += w.first = exp_window((w.first - top) * inv_t);
    double r = std::uniform_real_distribution<double>(0, sum)(rng_);
    for (auto& w : window_) {
      if (r < w.first) return w.second;
      r -= w.first;
    }
    return window_.back().second;
  }

  // The whole vocabulary, in blocks: weights and block sums in one vectorised pass, then the
  // draw finds its block by the sums and its token inside the block (summed in double).
  constexpr int32_t kBlock = 1024;
  weights_.resize(static_cast<size_t>(n_vocab));
  blocks_.clear();
  double sum = 0;
  for (int32_t b = 0; b < n_vocab; b += kBlock) {
    float s = weigh(logits + b, weights_.data() + b, std::min(kBlock, n_vocab - b), top, floor, inv_t);
    blocks_.push_back(s);
    sum += s;
  }
  double r = std::uniform_real_distribution<double>(0, sum)(rng_);
  for (size_t b = 0; b < blocks_.size(); ++b) {
    if (r >= blocks_[b] && b + 1 < blocks_.size()) {
      r -= blocks_[b];
      continue;
    }
    // This block (or the last: what float rounding left over lands there).
    const int32_t begin = static_cast<int32_t>(b) * kBlock, end = std::min(begin + kBlock, n_vocab);
    int32_t last = best;
    for (int32_t i = begin; i < end; ++i) {
      if (weights_[static_cast<size_t>(i)] <= 0) continue;
      if (r < weights_[static_cast<size_t>(i)]) return i;
      r -= weights_[static_cast<size_t>(i)];
      last = i;
    }
    return last;
  }
  return best;
}

}  // namespace a4ps::llm
