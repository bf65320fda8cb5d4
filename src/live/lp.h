// Learning progress per goal family (OMNI): the absolute difference between a fast and a
// slow moving average of success. A family the agent is getting better (or worse) at has
// progress; one it always passes (trivial) or always fails (impossible) has none, so the
// selection stops spending attempts on it. Pure arithmetic: no image, no clock.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace a4ps::live {

struct LpParams {
  double fast = 0.2;      // weight of the newest outcome in the fast average
  double slow = 0.05;     // ... in the slow one
  double epsilon = 0.2;   // share of choices made uniformly at random (exploration)
  int min_attempts = 2;   // a family is tried this often before its progress is trusted
};

// One family's record. The averages are bias-corrected (as Adam's moments are): with
// few outcomes both equal the plain mean, so a family that passes from the start shows
// no spurious progress.
struct FamilyStats {
  std::string family;
  double fast_raw = 0, slow_raw = 0;  // the uncorrected averages (what is stored)
  int64_t attempts = 0, successes = 0;
  bool paused = false;  // a person paused it: never chosen
};

double fast_ema(const FamilyStats& f, const LpParams& p);
double slow_ema(const FamilyStats& f, const LpParams& p);
double learning_progress(const FamilyStats& f, const LpParams& p);  // |fast − slow|
// Adds one outcome (success in [0, 1]).
void record(FamilyStats& f, double success, const LpParams& p);

struct Choice {
  int index = -1;          // into the families given; -1: none can be chosen
  std::string family;
  double lp = 0;           // its learning progress at the time
  double probability = 0;  // the chance it had of being chosen
  std::string rule;        // warm-up, progress, explore or uniform
  std::string reason;      // one line a person reads
};

// Picks a family: one tried fewer than min_attempts first (the least tried); else with
// chance epsilon any family uniformly, else one in proportion to its learning progress
// (uniformly when none shows progress). Paused families are never chosen.
Choice choose(const std::vector<FamilyStats>& families, const LpParams& p, std::mt19937_64& rng);

// The baseline the tests compare against: every family equally likely.
Choice choose_uniform(const std::vector<FamilyStats>& families, std::mt19937_64& rng);

}  // namespace a4ps::live
