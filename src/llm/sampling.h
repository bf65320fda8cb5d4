// Sampling the next token from a model's logits without sorting the vocabulary.
//
// llama.cpp's sampler chain copies every logit into a candidate array (150k entries for
// Qwen) and softmaxes all of them for each token: a few percent of decode time. At the
// temperatures personas use, every token whose logit is more than 30·T below the best has
// a probability under e^-30 of the best's; all of them together carry less than 1e-8 of
// the mass for a 150k vocabulary, below float rounding. So the sampler keeps only that
// window, then applies top-k and the temperature to it: the same distribution to within
// 1e-8 (the exponentials by a polynomial good to ~2e-7 relative), in vectorised passes
// over the logits. Top-p is computed at temperature 1, where the tail is
// not negligible: it stays with llama.cpp's chain (supports() says which).
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "llm/backend.h"

namespace a4ps::llm {

class LogitSampler {
 public:
  explicit LogitSampler(const Sampling& s) : s_(s), rng_(s.seed) {}
  static bool supports(const Sampling& s) { return s.top_p >= 1; }
  // The next token: argmax at temperature 0, else a draw from the window.
  int32_t sample(const float* logits, int32_t n_vocab);

 private:
  Sampling s_;
  std::mt19937 rng_;
  std::vector<std::pair<float, int32_t>> window_;  // top-k: (logit, token), reused between tokens
  std::vector<float> weights_, blocks_;            // no top-k: every token's weight, per-block sums
};

}  // namespace a4ps::llm
