#include "llm/sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace a4ps::llm {
namespace {

TEST(LogitSampler, TemperatureZeroIsArgmax) {
  std::vector<float> l = {0.5f, 3.0f, -1.0f, 2.9f};
  LogitSampler s({.temperature = 0});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.sample(l.data(), 4), 1);
}

// Draws follow softmax(l / T): frequencies within a few standard errors of the exact values.
TEST(LogitSampler, DrawsFollowTheSoftmaxAtTheTemperature) {
  std::vector<float> l = {2.0f, 1.0f, 0.0f, -1.0f, -40.0f};
  for (float t : {1.0f, 0.5f}) {
    LogitSampler s({.temperature = t, .seed = 3});
    const int n = 200000;
    std::map<int, int> seen;
    for (int i = 0; i < n; ++i) seen[s.sample(l.data(), 5)]++;
    double z = 0;
    for (float x : l) z += std::exp(x / t);
    for (int k = 0; k < 4; ++k) {
      double p = std::exp(l[k] / t) / z, got = double(seen[k]) / n;
      EXPECT_NEAR(got, p, 5 * std::sqrt(p * (1 - p) / n) + 1e-4) << "token " << k << " at T=" << t;
    }
    EXPECT_EQ(seen[4], 0);  // e^-42 of the best: outside the window
  }
}

TEST(LogitSampler, TopKKeepsTheKBest) {
  std::vector<float> l = {0.1f, 0.4f, 0.3f, 0.2f, 0.0f};
  LogitSampler s({.temperature = 1, .top_k = 2, .seed = 1});
  std::map<int, int> seen;
  for (int i = 0; i < 5000; ++i) seen[s.sample(l.data(), 5)]++;
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_GT(seen[1], 0);
  EXPECT_GT(seen[2], 0);
}

TEST(LogitSampler, ASeedGivesTheSameDrawsAndAnotherSeedOthers) {
  std::vector<float> l(151936);
  for (size_t i = 0; i < l.size(); ++i) l[i] = std::sin(float(i)) * 0.05f;  // flat: a wide window
  auto draws = [&](uint32_t seed) {
    LogitSampler s({.temperature = 0.2f, .seed = seed});
    std::vector<int> v;
    for (int i = 0; i < 20; ++i) v.push_back(s.sample(l.data(), static_cast<int32_t>(l.size())));
    return v;
  };
  EXPECT_EQ(draws(7), draws(7));
  EXPECT_NE(draws(7), draws(8));
}

// A real vocabulary's size: top-k draws only among the k best logits, and the draw without
// top-k follows the softmax in the mass of the few large logits planted among many small.
TEST(LogitSampler, AWideVocabularyKeepsTopKAndTheSoftmax) {
  std::vector<float> l(151936);
  std::mt19937 g(5);
  std::normal_distribution<float> noise(0, 1);
  for (auto& x : l) x = noise(g);
  std::vector<int> order(l.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::partial_sort(order.begin(), order.begin() + 40, order.end(), [&](int a, int b) { return l[a] > l[b]; });
  std::set<int> best40(order.begin(), order.begin() + 40);
  LogitSampler k40({.temperature = 1.0f, .top_k = 40, .seed = 2});
  std::set<int> seen;
  for (int i = 0; i < 3000; ++i) seen.insert(k40.sample(l.data(), static_cast<int32_t>(l.size())));
  for (int t : seen) EXPECT_TRUE(best40.count(t)) << "token " << t << " is not among the 40 best";
  EXPECT_GT(seen.size(), 20u);
  // Three planted tokens far above the rest at T = 0.5: (12, 11.5, 11) carry all but ~1e-6 of the mass.
  l[100] = 12.0f, l[70000] = 11.5f, l[151935] = 11.0f;
  LogitSampler full({.temperature = 0.5f, .seed = 4});
  std::map<int, int> hits;
  const int n = 20000;
  for (int i = 0; i < n; ++i) hits[full.sample(l.data(), static_cast<int32_t>(l.size()))]++;
  double z = std::exp(24.0) + std::exp(23.0) + std::exp(22.0);
  for (auto [tok, logit] : {std::pair{100, 12.0}, {70000, 11.5}, {151935, 11.0}}) {
    double p = std::exp(logit / 0.5) / z, got = double(hits[tok]) / n;
    EXPECT_NEAR(got, p, 5 * std::sqrt(p * (1 - p) / n)) << "token " << tok;
  }
}

TEST(LogitSampler, TopPStaysWithLlamaCppsChain) {
  EXPECT_TRUE(LogitSampler::supports({.temperature = 0.2f}));
  EXPECT_FALSE(LogitSampler::supports({.temperature = 0.2f, .top_p = 0.9f}));
}

}  // namespace
}  // namespace a4ps::llm
