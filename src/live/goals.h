// The pieces of the live loop that are plain logic: reading the goals ALFRED proposes,
// how alike two goals are, the hybrid reward of an attempt, and the veto (a dry run of
// the codex over what a goal's plan would do). Tested beside the code (live_test.cpp).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace a4ps::image {
class Image;
}

namespace a4ps::live {

using json = nlohmann::json;

// A goal as ALFRED writes it:
//   {"family": "arithmetic", "title": "...", "task": "what to do, for the agent",
//    "test": "assert ... (Python, run in the sandbox; `answer` and `outputs` are defined)",
//    "needs": ["network"]?, "effects": [{"kind": "tool.version_added", "name": "x"}]?,
//    "forge": {"name": "f", "params": ["a"], "doc": "...", "tests": "assert f(1) == 2"}?,
//    "source": "what suggested it"?}
struct ProposedGoal {
  std::string family, title, task, test, source;
  json plan = json::object();  // needs, effects, forge
};
// Reads the goals out of a model's reply: a JSON array or {"goals": [...]}, possibly in a
// ```json fence. Malformed entries are skipped with their reason in `skipped`.
std::vector<ProposedGoal> parse_goals(const std::string& reply, std::vector<std::string>* skipped = nullptr);

// How alike two texts are, 0..1: the cosine of their character-trigram counts (lower
// case, whitespace folded). Used when no embedder exists.
double text_similarity(const std::string& a, const std::string& b);
double cosine(const std::vector<float>& a, const std::vector<float>& b);

// The hybrid reward of one attempt. Every part is in [0, 1]; the total is their weighted mean.
struct RewardWeights {
  double competence = 0.4;  // the test passed
  double progress = 0.1;    // the family's learning progress (worth practising)
  double grace = 0.2;       // ROBIN's judgement of care and fit
  double justice = 0.2;     // BRICK's judgement of correctness
  double codex = 0.1;       // no codex rule refused anything the attempt did
};
struct RewardParts {
  bool passed = false;
  double lp = 0;        // the family's learning progress, 0..1
  int grace = 0;        // 1..5 (0: no judgement; counts as the middle, 3)
  int justice = 0;      // 1..5 (as grace)
  int violations = 0;   // codex.violation events during the attempt
};
struct Reward {
  double competence = 0, progress = 0, grace = 0, justice = 0, codex = 0, total = 0;
  json to_json() const;
};
Reward reward(const RewardParts& p, const RewardWeights& w = {});

// Reads a judgement reply {"score": 1..5, "why": "..."} (possibly fenced); 0 when unreadable.
int parse_score(const std::string& reply, std::string* why = nullptr);

// Why the goal must not run ("" when it may): what its plan needs and would do, stepped
// through the image's codex after everything the image logged so far, as hypothetical
// events (needs "network": agent code with the network on; effects: the events named).
// Nothing is written.
std::string veto(const image::Image& img, const json& plan);

}  // namespace a4ps::live
