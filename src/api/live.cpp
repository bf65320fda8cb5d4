// The public live-mode API (a4ps/live.h): the budget, goals and their records over
// src/live, and ALFRED's goal generation. The loop itself is in live_loop.cpp.
#include "a4ps/live.h"

#include <algorithm>
#include <map>
#include <set>

#include "a4ps/chat.h"
#include "a4ps/governance.h"
#include "a4ps/learn.h"
#include "a4ps/memory.h"
#include "a4ps/session.h"
#include "a4ps/threads.h"
#include "a4ps/tools.h"
#include "api/internal.h"
#include "api/live_internal.h"
#include "learn/learn.h"
#include "live/curves.h"
#include "live/goals.h"
#include "live/lp.h"
#include "live/store.h"
#include "util/util.h"

namespace a4ps {

namespace live_api {

std::string today() { return now_utc().substr(0, 10); }

}  // namespace live_api

namespace {

using namespace live_api;
namespace store = live::store;

const char* kBudgetKey = "live.budget";

GoalInfo goal_of(const store::GoalRow& g) {
  return {g.id, g.family, g.title, g.task, g.test, g.plan, g.source, g.status, g.veto, g.attempts, g.successes,
          g.thread, g.created_at, g.updated_at};
}
GoalAttempt attempt_of(const store::AttemptRow& a) {
  return {a.id, a.goal, a.family, a.status, a.passed, a.lp, a.grace, a.justice, a.codex, a.reward, a.detail,
          a.started_at, a.finished_at};
}
LiveDecision decision_of(const store::DecisionRow& d) {
  return {d.id, d.ts, d.kind, d.goal, d.family, d.reason, d.detail};
}
LiveUsage usage_of(const store::Usage& u) { return {u.day, u.wall_s, u.sandbox_s, u.tokens, u.forges}; }

}  // namespace

namespace live_api {

LiveDecision note(image::Image& img, const LiveOptions* o, const std::string& kind, int64_t goal, const std::string& family,
                  const std::string& reason, const json& detail) {
  store::DecisionRow d{.kind = kind, .goal = goal, .family = family, .reason = reason, .detail = detail.dump()};
  d.id = store::add_decision(img, d);
  auto rows = store::decisions(img, goal, 1);
  LiveDecision out = rows.empty() ? decision_of(d) : decision_of(rows.back());
  if (o && o->on_decision) o->on_decision(out);
  return out;
}

std::map<std::string, live::FamilyStats> family_map(const image::Image& img) {
  std::map<std::string, live::FamilyStats> m;
  for (auto& f : store::families(img)) m[f.family] = f;
  return m;
}

}  // namespace live_api

namespace {

// What in the image suggests goals, as lines for ALFRED's prompt.
std::string goal_context(const Image& image) {
  std::string c;
  auto section = [&](const std::string& title, const std::vector<std::string>& lines) {
    if (lines.empty()) return;
    c += title + ":\n";
    for (size_t i = 0; i < lines.size() && i < 8; ++i) c += "- " + lines[i] + "\n";
  };
  std::vector<std::string> failed;
  // An adapter's trial runs (learn::kTrialThreadPrefix) are no tasks of the agent's.
  for (auto& t : list_threads(image, {.status = "error", .limit = 8}))
    if (!learn::is_trial_thread(t.id)) failed.push_back(t.title.empty() ? t.id : t.title);
  // Work ROBIN sent back for revision, in the newest conversations.
  for (auto& t : list_threads(image, {.graph = "agent", .limit = 20})) {
    if (learn::is_trial_thread(t.id)) continue;
    json turns;
    try {
      turns = json::parse(thread_transcript_json(image, t.id), nullptr, false);
    } catch (const Error&) {
      continue;  // a thread without a conversation yet
    }
    if (!turns.is_array()) continue;
    for (auto& x : turns)
      if (x.is_object() && x.value("kind", "") == "critique" && x.contains("critique") &&
          x["critique"].is_object() && x["critique"].value("verdict", "") == "revise") {
        failed.push_back("revised before it was right: " + (t.title.empty() ? t.id : t.title));
        break;
      }
  }
  for (auto& g : store::goals(image.impl().img))
    if (g.attempts > 0 && g.successes == 0) failed.push_back("own goal not reached yet: " + g.title);
  section("Tasks that failed", failed);
  std::vector<std::string> dnu, untested;
  for (auto& p : list_proposals(image, ""))
    if (p.kind == "tool.register") dnu.push_back(p.target + " (" + p.status + ")");
  section("Functions the agent missed and the forge wrote (doesNotUnderstand)", dnu);
  // A tool has tests when the forge recorded passing ones with a proposal that landed it.
  std::set<std::string> tested;
  for (auto& p : list_proposals(image, "applied"))
    if (p.kind == "tool.register" && !show_proposal(image, p.id).tests.empty()) tested.insert(p.target);
  for (auto& t : list_tools(image))
    if (!tested.count(t.name)) untested.push_back(t.name);
  section("Tools without tests", untested);
  // Memories no conversation has drawn on yet: something to practise recalling.
  std::vector<std::string> mem;
  for (auto& m : memory_sources(image))
    if (m.uses == 0) mem.push_back(m.source + " (" + std::to_string(m.chunks) + " passages)");
  section("Memories never used", mem);
  std::vector<std::string> principles;
  for (auto& p : image_codex(image).principles) principles.push_back(p.name + ": " + p.text);
  section("The codex's principles", principles);
  std::vector<std::string> earlier;
  for (auto& g : store::goals(image.impl().img)) earlier.push_back("[" + g.family + "] " + g.title + " (" + g.status + ")");
  section("Goals set before (do not repeat them)", earlier);
  return c.empty() ? "The image is new: nothing has happened yet.\n" : c;
}

const char* kGoalFormat =
    "Reply with JSON only: {\"goals\": [{\"family\": a short label grouping similar goals, \"title\": a few words, "
    "\"task\": what to do, as a person would ask it, \"test\": Python assert statements that check the answer "
    "(the variable `answer` holds the final answer as text and `outputs` the printed output of each code run), "
    "\"needs\": [\"network\" or \"self-change\" if the goal needs them], \"forge\": {\"name\", \"params\", \"doc\", "
    "\"tests\"} if the goal is to have a new tool, \"source\": what in the image suggested it}]}.";

}  // namespace

// ---- budget and usage -----------------------------------------------------------------

LiveBudget live_budget(const Image& image) {
  LiveBudget b;
  json j = json::parse(image.setting(kBudgetKey), nullptr, false);
  if (!j.is_object()) return b;
  b.wall_s_per_day = j.value("wall_s_per_day", b.wall_s_per_day);
  b.tokens_per_day = j.value("tokens_per_day", b.tokens_per_day);
  b.sandbox_s_per_day = j.value("sandbox_s_per_day", b.sandbox_s_per_day);
  b.forges_per_day = j.value("forges_per_day", b.forges_per_day);
  return b;
}

void set_live_budget(Image& image, const LiveBudget& b) {
  if (b.wall_s_per_day < 0 || b.tokens_per_day < 0 || b.sandbox_s_per_day < 0 || b.forges_per_day < 0)
    throw Error("a live budget cannot be negative; give each figure as 0 or more");
  writable(image);
  image.set_setting(kBudgetKey, json{{"wall_s_per_day", b.wall_s_per_day}, {"tokens_per_day", b.tokens_per_day},
                                     {"sandbox_s_per_day", b.sandbox_s_per_day}, {"forges_per_day", b.forges_per_day}}
                                    .dump());
}

LiveUsage live_usage(const Image& image, const std::string& day) {
  return usage_of(store::usage(image.impl().img, day.empty() ? today() : day));
}

// ---- goals ------------------------------------------------------------------------------

std::vector<GoalInfo> list_goals(const Image& image, const std::string& status) {
  static const std::set<std::string> kStatuses = {"", "open", "achieved", "vetoed", "paused"};
  if (!kStatuses.count(status)) throw Error("unknown goal status '" + status + "'; use open, achieved, vetoed or paused");
  std::vector<GoalInfo> out;
  for (auto& g : store::goals(image.impl().img, status)) out.push_back(goal_of(g));
  return out;
}

GoalDetail show_goal(const Image& image, int64_t id) {
  auto g = store::goal(image.impl().img, id);
  if (!g) throw Error("no goal " + std::to_string(id) + " in " + image.path() + "; list them with a4ps goals ls");
  GoalDetail d{goal_of(*g), {}, {}};
  for (auto& a : store::attempts(image.impl().img, id)) d.attempts.push_back(attempt_of(a));
  for (auto& x : store::decisions(image.impl().img, id)) d.decisions.push_back(decision_of(x));
  return d;
}

std::vector<GoalFamily> goal_families(const Image& image) {
  const image::Image& img = image.impl().img;
  live::LpParams p;
  std::map<std::string, GoalFamily> m;
  for (auto& f : store::families(img))
    m[f.family] = {f.family, f.attempts, f.successes, 0, 0, live::fast_ema(f, p), live::slow_ema(f, p),
                   live::learning_progress(f, p), f.paused};
  for (auto& g : store::goals(img)) {
    auto& f = m[g.family];
    f.family = g.family;
    ++f.goals;
    f.open += g.status == "open";
  }
  std::vector<GoalFamily> out;
  for (auto& [k, v] : m) out.push_back(v);
  return out;
}

std::vector<LiveDecision> live_decisions(const Image& image, int limit) {
  std::vector<LiveDecision> out;
  for (auto& d : store::decisions(image.impl().img, 0, limit)) out.push_back(decision_of(d));
  return out;
}

int pause_goals(Image& image, const std::string& what, bool pause) {
  image::Image& img = writable(image);
  int changed = 0;
  bool numeric = !what.empty() && what.find_first_not_of("0123456789") == std::string::npos;
  if (numeric) {
    auto g = store::goal(img, std::stoll(what));
    if (!g) throw Error("no goal " + what + " in " + image.path() + "; list them with a4ps goals ls");
    if (pause ? g->status == "open" : g->status == "paused") {
      g->status = pause ? "paused" : "open";
      store::update_goal(img, *g);
      changed = 1;
    }
    return changed;
  }
  auto gs = store::goals(img);
  bool known = false;
  for (auto& g : gs) known |= g.family == what;
  if (!known) throw Error("no goal or family '" + what + "' in " + image.path() + "; list them with a4ps goals ls");
  image::Image::Tx tx(img);  // the family and its goals together
  auto fams = family_map(img);
  live::FamilyStats f = fams.count(what) ? fams[what] : live::FamilyStats{what};
  f.paused = pause;
  store::put_family(img, f);
  for (auto& g : gs)
    if (g.family == what && (pause ? g.status == "open" : g.status == "paused")) {
      g.status = pause ? "paused" : "open";
      store::update_goal(img, g);
      ++changed;
    }
  tx.commit();
  return changed;
}

std::string competence_svg(const Image& image, const std::string& family) {
  std::map<std::string, std::vector<bool>> outcomes;
  for (auto& a : store::attempts(image.impl().img, 0, family))
    if (a.status == "done") outcomes[a.family].push_back(a.passed);
  if (outcomes.empty())
    throw Error(family.empty() ? "no attempts in " + image.path() + " yet; run a4ps live first"
                               : "no attempts of family '" + family + "' in " + image.path());
  std::vector<live::Series> series;
  for (auto& [f, o] : outcomes) series.push_back({f + " (" + std::to_string(o.size()) + ")", live::rolling_rate(o, 5)});
  return live::curves_svg(series, "Competence per goal family (success over the last 5 attempts)");
}

namespace live_api {

GeneratedGoals generate(Image& image, const GenerateGoalsOptions& o, const LiveOptions* lo) {
  image::Image& img = writable(image);
  std::string ask = "Propose " + std::to_string(o.max_goals) +
                    " goals for yourself to practise while nobody needs you, from what the image holds.\n\n" +
                    goal_context(image) + "\n" + kGoalFormat;
  auto reply = persona_chat(image, "ALFRED", {{"user", ask}}, {.model = o.model, .max_tokens = 1024});
  GeneratedGoals out;
  auto proposed = live::parse_goals(reply.text, &out.skipped);
  if (proposed.empty())
    throw Error("ALFRED proposed no usable goal (" + (out.skipped.empty() ? std::string("the reply listed none") : out.skipped[0]) +
                "); try another model");
  // Similarity: embeddings where the model can embed, else character trigrams.
  std::string embedder = o.embed_model;
  std::map<std::string, std::vector<float>> cache;
  bool embeddings = false;
  auto vec = [&](const std::string& t) -> const std::vector<float>& {
    auto it = cache.find(t);
    if (it == cache.end()) it = cache.emplace(t, embed_text(image, t, {.model = embedder})).first;
    return it->second;
  };
  if (!embedder.empty()) try {
      vec("goal");
      embeddings = true;
    } catch (const Error&) {
    }
  out.similarity = embeddings ? "embeddings (" + embedder + ")" : "text";
  for (auto& why : out.skipped) note(img, lo, "generate", 0, "", "skipped: " + why);
  std::vector<std::pair<int64_t, std::string>> earlier;
  for (auto& g : store::goals(img)) earlier.push_back({g.id, g.task});
  for (auto& p : proposed) {
    double best = 0;
    int64_t like = 0;
    for (auto& [id, task] : earlier) {
      double s = embeddings ? live::cosine(vec(p.task), vec(task)) : live::text_similarity(p.task, task);
      if (s > best) best = s, like = id;
    }
    if (best >= o.max_similarity) {
      char b[32];
      std::snprintf(b, sizeof b, "%.2f", best);
      std::string why = "'" + p.title + "' is too like goal " + std::to_string(like) + " (" + out.similarity +
                        " similarity " + b + ")";
      out.skipped.push_back(why);
      note(img, lo, "similar", like, p.family, why);
      continue;
    }
    store::GoalRow g{.family = p.family, .title = p.title, .task = p.task, .test = p.test, .plan = p.plan.dump(),
                     .source = p.source};
    g.veto = live::veto(img, p.plan);
    if (!g.veto.empty()) g.status = "vetoed";
    g.id = store::add_goal(img, g);
    if (!g.veto.empty()) note(img, lo, "veto", g.id, g.family, "vetoed before it ran: " + g.veto);
    else note(img, lo, "generate", g.id, g.family, "proposed by ALFRED" + (p.source.empty() ? "" : " from " + p.source));
    earlier.push_back({g.id, g.task});
    out.added.push_back(goal_of(*store::goal(img, g.id)));
  }
  return out;
}

}  // namespace live_api

GeneratedGoals generate_goals(Image& image, const GenerateGoalsOptions& o) { return generate(image, o, nullptr); }

}  // namespace a4ps
