// Learning progress and the choice of a family (see lp.h).
#include "live/lp.h"

#include <cmath>
#include <cstdio>

namespace a4ps::live {
namespace {

double corrected(double raw, double alpha, int64_t n) {
  if (n <= 0) return 0;
  double denom = 1 - std::pow(1 - alpha, static_cast<double>(n));
  return denom > 0 ? raw / denom : raw;
}

template <class... A>
std::string fmt(const char* f, A... a) {
  char buf[200];
  std::snprintf(buf, sizeof buf, f, a...);
  return buf;
}

}  // namespace

double fast_ema(const FamilyStats& f, const LpParams& p) { return corrected(f.fast_raw, p.fast, f.attempts); }
double slow_ema(const FamilyStats& f, const LpParams& p) { return corrected(f.slow_raw, p.slow, f.attempts); }
double learning_progress(const FamilyStats& f, const LpParams& p) { return std::fabs(fast_ema(f, p) - slow_ema(f, p)); }

void record(FamilyStats& f, double success, const LpParams& p) {
  f.fast_raw = (1 - p.fast) * f.fast_raw + p.fast * success;
  f.slow_raw = (1 - p.slow) * f.slow_raw + p.slow * success;
  ++f.attempts;
  if (success >= 0.5) ++f.successes;
}

Choice choose(const std::vector<FamilyStats>& fs, const LpParams& p, std::mt19937_64& rng) {
  std::vector<int> open;
  for (int i = 0; i < static_cast<int>(fs.size()); ++i)
    if (!fs[i].paused) open.push_back(i);
  Choice c;
  if (open.empty()) {
    c.reason = "no family can be chosen (none, or all paused)";
    return c;
  }
  auto pick = [&](int i, const std::string& rule, double prob, const std::string& reason) {
    c.index = i;
    c.family = fs[i].family;
    c.lp = learning_progress(fs[i], p);
    c.rule = rule;
    c.probability = prob;
    c.reason = reason;
    return c;
  };
  // Warm-up: progress needs a few outcomes to mean anything.
  int least = -1;
  for (int i : open)
    if (fs[i].attempts < p.min_attempts && (least < 0 || fs[i].attempts < fs[least].attempts)) least = i;
  if (least >= 0)
    return pick(least, "warm-up", 1.0,
                "warm-up: tried " + std::to_string(fs[least].attempts) + " of " + std::to_string(p.min_attempts) +
                    " times before its progress counts");
  std::uniform_real_distribution<double> u(0, 1);
  const double n = static_cast<double>(open.size());
  double total = 0;
  for (int i : open) total += learning_progress(fs[i], p);
  if (u(rng) < p.epsilon || total <= 1e-12) {
    std::uniform_int_distribution<size_t> d(0, open.size() - 1);
    int i = open[d(rng)];
    bool explore = total > 1e-12;
    return pick(i, explore ? "explore" : "uniform", explore ? p.epsilon / n : 1 / n,
                explore ? fmt("exploration (epsilon %.2f): any family, uniformly; its progress is %.3f", p.epsilon,
                              learning_progress(fs[i], p))
                        : std::string("no family shows learning progress yet: uniformly"));
  }
  double r = u(rng) * total, acc = 0;
  int chosen = open.back();
  for (int i : open) {
    acc += learning_progress(fs[i], p);
    if (r < acc) {
      chosen = i;
      break;
    }
  }
  double lp = learning_progress(fs[chosen], p);
  double prob = (1 - p.epsilon) * lp / total + p.epsilon / n;
  return pick(chosen, "progress", prob,
              fmt("learning progress %.3f (fast %.2f, slow %.2f; %.3f over all families): chance %.2f", lp,
                  fast_ema(fs[chosen], p), slow_ema(fs[chosen], p), total, prob));
}

Choice choose_uniform(const std::vector<FamilyStats>& fs, std::mt19937_64& rng) {
  Choice c;
  if (fs.empty()) return c;
  std::uniform_int_distribution<size_t> d(0, fs.size() - 1);
  c.index = static_cast<int>(d(rng));
  c.family = fs[c.index].family;
  c.rule = "uniform";
  c.probability = 1.0 / static_cast<double>(fs.size());
  c.reason = "uniform baseline";
  return c;
}

}  // namespace a4ps::live
