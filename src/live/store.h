// The live module's tables and every SQL statement over them: the agent's own goals, each
// attempt at one with its reward, the learning record of each goal family, every decision
// the live loop took (a choice, a veto, a schedule step, a pre-emption) and what it spent
// per day. Registered with the image as the "live" module (image/schema.h). Each write
// appends its event in the same transaction (the codex sees it).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "image/image.h"
#include "image/schema.h"
#include "live/lp.h"

namespace a4ps::live::store {

const image::ModuleSchema& schema();  // "live"

struct GoalRow {
  int64_t id = 0;
  std::string family, title, task, test;
  std::string plan = "{}";    // JSON: needs, effects, forge (what the veto reads)
  std::string source;         // what in the image suggested it (failed thread, tool without tests, ...)
  std::string status = "open";  // open, achieved, vetoed, paused
  std::string veto;           // why it was vetoed ("" otherwise)
  int64_t attempts = 0, successes = 0;
  std::string thread;         // the thread its attempts run on
  std::string created_at, updated_at;
};
struct AttemptRow {
  int64_t id = 0, goal = 0;
  std::string family;
  std::string status = "running";  // running, done, preempted, error
  bool passed = false;
  double lp = 0, grace = 0, justice = 0, codex = 0, reward = 0;
  std::string detail = "{}";  // JSON: the reward's parts, the test's output, the reason of the choice
  std::string started_at, finished_at;
};
struct DecisionRow {
  int64_t id = 0;
  std::string ts, kind;  // choose, veto, schedule, budget, preempt, resume, generate
  int64_t goal = 0;
  std::string family, reason;
  std::string detail = "{}";
};
struct Usage {
  std::string day;  // YYYY-MM-DD (UTC)
  double wall_s = 0, sandbox_s = 0;
  int64_t tokens = 0, forges = 0;
};

int64_t add_goal(image::Image& img, GoalRow g);  // returns its id
void update_goal(image::Image& img, const GoalRow& g);  // status, veto, counts, thread
std::optional<GoalRow> goal(const image::Image& img, int64_t id);
std::vector<GoalRow> goals(const image::Image& img, const std::string& status = "");  // oldest first

int64_t start_attempt(image::Image& img, const AttemptRow& a);
void finish_attempt(image::Image& img, const AttemptRow& a);
std::vector<AttemptRow> attempts(const image::Image& img, int64_t goal = 0, const std::string& family = "");  // oldest first
// Attempts left running by a process that stopped: the goals they belong to resume later.
std::vector<AttemptRow> unfinished(const image::Image& img);

std::vector<FamilyStats> families(const image::Image& img);  // in name order
void put_family(image::Image& img, const FamilyStats& f);

int64_t add_decision(image::Image& img, const DecisionRow& d);
std::vector<DecisionRow> decisions(const image::Image& img, int64_t goal = 0, int limit = 0);  // newest `limit` (0 all), oldest first

Usage usage(const image::Image& img, const std::string& day);
void add_usage(image::Image& img, const Usage& delta);

}  // namespace a4ps::live::store
