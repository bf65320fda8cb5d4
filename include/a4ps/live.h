// Live mode: when no person is using it, the agent sets its own goals and practises. ALFRED
// proposes goals from what the image holds (tasks that failed, tools without tests, the
// codex's principles ...), each with a Python test the sandbox runs and a family label;
// goals too like earlier ones are dropped, goals whose plan breaks the codex are vetoed
// (the reason kept). A family is chosen by learning progress (|fast − slow| moving average
// of success, OMNI) with some exploration; each attempt is scored: competence (the test),
// grace (ROBIN), justice (BRICK) and codex adherence. A schedule runs the learning cycle
// (judge, golden sets, train, evaluate) and only *proposes* an adapter that is better (on
// held-out loss and on the goal tests it touches, against the active adapter);
// forged tools wait in approvals too. Everything is in the image, within a daily budget
// the image keeps.
//
//   a4ps::Image img = a4ps::Image::open("agent.a4ps");
//   a4ps::LiveReport r = a4ps::run_live(img, {.model = "model.gguf", .max_attempts = 10});
//
// Contract: the live loop changes the agent itself only through proposals (the image
// refuses anything else); a user's run pre-empts it within one graph step (the goal's
// thread keeps its checkpoints and the attempt resumes later); each record lands in one
// transaction with its event.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "a4ps/image.h"

namespace a4ps {

// What the live loop may spend per day (UTC), kept in the image ("live.budget" setting).
struct LiveBudget {
  // Wall time, tokens and sandbox time are checked before every graph step, so each holds
  // to within one step.
  double wall_s_per_day = 3600;     // wall time of live work
  int64_t tokens_per_day = 200000;  // model tokens (generated, as the transcript counts them, and the judgements')
  double sandbox_s_per_day = 600;   // time agent code and tests ran in the sandbox
  int64_t forges_per_day = 3;       // tools the forge may write (checked before each forge the loop asks for)
};
LiveBudget live_budget(const Image& image);             // the image's, defaults where unset
void set_live_budget(Image& image, const LiveBudget& b);  // Error for a negative figure
struct LiveUsage {
  std::string day;  // YYYY-MM-DD
  double wall_s = 0, sandbox_s = 0;
  int64_t tokens = 0, forges = 0;
};
LiveUsage live_usage(const Image& image, const std::string& day = "");  // "" today

struct GoalInfo {
  int64_t id = 0;
  std::string family, title, task, test;
  std::string plan_json = "{}";  // needs, effects, forge
  std::string source;            // what in the image suggested it
  std::string status;            // open, achieved, vetoed, paused
  std::string veto;              // why it was vetoed
  int64_t attempts = 0, successes = 0;
  std::string thread;            // where its attempts ran
  std::string created_at, updated_at;
};
struct GoalAttempt {
  int64_t id = 0, goal = 0;
  std::string family, status;  // running, done, preempted, error
  bool passed = false;
  double lp = 0, grace = 0, justice = 0, codex = 0, reward = 0;  // reward's parts in [0, 1]
  std::string detail_json = "{}";
  std::string started_at, finished_at;
};
struct LiveDecision {
  int64_t id = 0;
  std::string ts, kind;  // generate, similar, veto, choose, attempt, preempt, resume, schedule, budget, stop
  int64_t goal = 0;
  std::string family, reason;
  std::string detail_json = "{}";
};
struct GoalFamily {
  std::string family;
  int64_t attempts = 0, successes = 0, goals = 0, open = 0;
  double fast = 0, slow = 0, lp = 0;  // moving averages of success and their difference
  bool paused = false;
};

std::vector<GoalInfo> list_goals(const Image& image, const std::string& status = "");  // oldest first; Error for an unknown status
struct GoalDetail {
  GoalInfo goal;
  std::vector<GoalAttempt> attempts;
  std::vector<LiveDecision> decisions;
};
GoalDetail show_goal(const Image& image, int64_t id);  // Error (naming `a4ps goals ls`) when there is none
std::vector<GoalFamily> goal_families(const Image& image);
std::vector<LiveDecision> live_decisions(const Image& image, int limit = 50);  // the newest, oldest first
// Pauses or resumes a goal (by id) or a whole family (by name): a paused one is never
// chosen. Returns how many goals changed. Error when nothing has that id or family.
int pause_goals(Image& image, const std::string& goal_or_family, bool pause);
// Success over the attempts of each family (a rolling rate), as a standalone SVG; only
// `family` when given. Error when there are no attempts.
std::string competence_svg(const Image& image, const std::string& family = "");

struct GenerateGoalsOptions {
  std::string model;            // ALFRED's model, as SessionOptions::model
  int max_goals = 5;            // asked for
  double max_similarity = 0.8;  // a goal this like an earlier one (0..1) is dropped
  std::string embed_model;      // compares embeddings when it can embed; else text similarity
};
struct GeneratedGoals {
  std::vector<GoalInfo> added;         // open or vetoed (with the reason)
  std::vector<std::string> skipped;    // malformed or too like an earlier goal, with why
  std::string similarity;              // "embeddings (MODEL)" or "text"
};
// ALFRED proposes goals from the image. Throws Error when the model fails or its reply
// holds no goals at all.
GeneratedGoals generate_goals(Image& image, const GenerateGoalsOptions& options = {});

struct LiveOptions {
  std::string model;          // every persona's model, as SessionOptions::model
  std::string sandbox;        // gvisor or bwrap; "" = the strongest that works here
  bool allow_unsafe = false;  // forge with sandbox "none" (development only)
  int max_tokens = 0;         // cap on every persona turn (0: each persona's own)
  int max_attempts = 0;       // stop after this many attempts (0: until the budget or nothing is left)
  uint64_t seed = 0;          // exploration's randomness (0: from the clock)
  int goals_per_round = 5;    // asked of ALFRED when no open goal is left
  std::string embed_model;    // compares new goals with earlier ones by embeddings ("" = text similarity)
  // The learning cycle, every `learn_every` attempts and when the loop ends (0: never).
  int learn_every = 4;
  std::string train_model;    // the base GGUF to train on; "" = the image's base model (no local GGUF: no training)
  int train_min_new = 4;      // new golden examples of a persona that start a training run
  int train_epochs = 12;
  int train_rank = 4;
  float train_lr = 1e-2f;
  // A new adapter better on held-out loss is also tried on the goals its persona took part
  // in (the newest attempted, at most this many; 0: none): each goal's task in a fresh
  // session on the training base, with the new adapter and with the active one (or none),
  // and the goal's test run on both answers. It is proposed only when it passes at least as
  // many. These trials are no attempts, but count in the day's budget.
  int compare_goals = 3;
  // Prompts the persona answers alone with both adapters, kept for the person deciding
  // (not scored); empty: the tasks of the goals tried above.
  std::vector<std::string> probes;
  // Asked before each graph step and between steps: true while a user's run is active; the
  // live loop then stops its attempt where it is and waits.
  std::function<bool()> user_active;
  std::function<bool()> stop;                       // true: finish the current step and end (SIGINT)
  std::function<void(const LiveDecision&)> on_decision;  // each decision as it is recorded
};
struct LiveReport {
  int attempts = 0, passed = 0, preempted = 0, resumed = 0;
  int generated = 0, vetoed = 0;
  int trained = 0;
  std::vector<int64_t> proposals;  // filed (adapters, tools): each waits for a human
  std::string stopped;             // why it ended: budget, attempts, nothing to do, stopped
  LiveUsage usage;                 // today's, at the end
};
LiveReport run_live(Image& image, const LiveOptions& options = {});

}  // namespace a4ps
