// The live loop (a4ps/live.h run_live): a client of the same public calls the CLI makes —
// a session per attempt, run_code for the goal's test, persona_chat for the judgements,
// the learn API for the schedule, forge_tool for tools — so it has no way to change the
// agent but proposals.
#include <chrono>
#include <filesystem>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "a4ps/chat.h"
#include "a4ps/governance.h"
#include "a4ps/learn.h"
#include "a4ps/live.h"
#include "a4ps/session.h"
#include "a4ps/threads.h"
#include "a4ps/tools.h"
#include "api/internal.h"
#include "api/live_internal.h"
#include "codex/codex.h"
#include "learn/cycle.h"
#include "live/goals.h"
#include "live/lp.h"
#include "live/store.h"
#include "persona/persona.h"
#include "util/util.h"

namespace a4ps {
namespace {

using namespace live_api;
namespace store = live::store;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The transcript's token counts (prompt and completion, as each turn recorded them).
int64_t tokens_of(const std::string& answer_json) {
  int64_t n = 0;
  json j = json::parse(answer_json, nullptr, false);
  if (j.is_object())
    for (auto& t : j.value("transcript", json::array()))
      if (t.is_object() && t.contains("tokens") && t["tokens"].is_number()) n += t["tokens"].get<int64_t>();
  return n;
}

// One persona's 1..5 judgement of an attempt (0: none could be had; why says so).
int judged(const Image& image, const LiveOptions& o, const std::shared_ptr<ModelCache>& models, const std::string& persona,
           const std::string& value, const store::GoalRow& g, const std::string& answer, bool passed, std::string& why,
           int64_t& tokens) {
  try {
    std::string ask = "Score the " + value + " of this attempt at a goal the agent set itself, 1 to 5.\nGoal: " +
                      g.title + "\nTask: " + g.task + "\nAnswer: " + answer + "\nThe goal's test " +
                      (passed ? "passed." : "failed.") + "\nReply with JSON: {\"score\": 1..5, \"why\": one sentence}.";
    auto r = persona_chat(image, persona, {{"user", ask}}, {.model = o.model, .max_tokens = o.max_tokens ? o.max_tokens : 128, .models = models});
    tokens += r.prompt_tokens + r.completion_tokens;
    int s = live::parse_score(r.text, &why);
    if (s == 0) why = persona + "'s reply held no score";
    return s;
  } catch (const Error& e) {
    why = persona + " could not judge: " + e.what();
    return 0;
  }
}

bool is_file(const std::string& p) {
  std::error_code ec;
  return !p.empty() && std::filesystem::is_regular_file(p, ec);
}

struct Loop {
  Image& image;
  image::Image& img;
  const LiveOptions& o;
  LiveReport& report;
  std::mt19937_64 rng;
  live::LpParams params;
  // Models loaded once for every session and judgement of the loop.
  std::shared_ptr<ModelCache> models = std::make_shared<ModelCache>();

  bool stopping() const { return o.stop && o.stop(); }
  bool user() const { return o.user_active && o.user_active(); }

  LiveDecision say(const std::string& kind, int64_t goal, const std::string& family, const std::string& reason,
                   const json& detail = json::object()) {
    return note(img, &o, kind, goal, family, reason, detail);
  }

  // Why the day's budget is spent ("" when it is not).
  std::string spent() {
    LiveBudget b = live_budget(image);
    LiveUsage u = live_usage(image);
    char buf[160];
    if (u.wall_s >= b.wall_s_per_day) {
      std::snprintf(buf, sizeof buf, "wall time %.1f s of %.1f s", u.wall_s, b.wall_s_per_day);
      return buf;
    }
    if (u.tokens >= b.tokens_per_day)
      return "model tokens " + std::to_string(u.tokens) + " of " + std::to_string(b.tokens_per_day);
    if (u.sandbox_s >= b.sandbox_s_per_day) {
      std::snprintf(buf, sizeof buf, "sandbox time %.1f s of %.1f s", u.sandbox_s, b.sandbox_s_per_day);
      return buf;
    }
    return "";
  }

  // Why work in hand must stop now ("" when it may go on): a user's run, a stop, or the
  // day's budget, with the wall time so far and the tokens and sandbox time of the work in
  // hand added to what `used` had.
  std::string must_stop(double wall_now, const LiveUsage& used, const LiveBudget& budget, int64_t tokens,
                        double sandbox_s) const {
    if (user()) return "a user's run is active";
    if (stopping()) return "asked to stop";
    if (wall_now >= budget.wall_s_per_day) return "the day's wall-time budget is spent";
    if (used.tokens + tokens >= budget.tokens_per_day) return "the day's token budget is spent";
    if (used.sandbox_s + sandbox_s >= budget.sandbox_s_per_day) return "the day's sandbox time is spent";
    return "";
  }

  // A goal's test on an answer: the answer's text and the printed output of each code run,
  // then the goal's assertions, in the sandbox (its time added to sandbox_s). `out` says
  // "passed" or why it failed. Attempts and an adapter's goal trials both score this way.
  bool goal_test(const store::GoalRow& g, const Answer& ans, double& sandbox_s, std::string& out) {
    json outputs = json::array();
    for (auto& t : ans.turns)
      if (t.ran_code) outputs.push_back(t.code_stdout);
    std::string code = "answer = " + json(ans.text).dump() + "\noutputs = " + outputs.dump() + "\n" + g.test + "\n";
    auto ts = Clock::now();
    CodeResult r = run_code(image, code, {.sandbox = o.sandbox});
    sandbox_s += seconds_since(ts);
    out = r.ok ? "passed" : utf8_clip(utf8_clean(r.error_type + ": " + r.error), 400);  // JSON needs whole characters
    return r.ok;
  }

  // One attempt at a goal (or the resumption of one a user's run or a stop cut short).
  void attempt(store::GoalRow g, bool resuming, const std::string& why_chosen) {
    auto t0 = Clock::now();
    auto fams = family_map(img);
    live::FamilyStats fam = fams.count(g.family) ? fams[g.family] : live::FamilyStats{g.family};
    store::AttemptRow a{.goal = g.id, .family = g.family, .lp = live::learning_progress(fam, params),
                        .detail = json{{"chosen", why_chosen}, {"resumed", resuming}}.dump()};
    a.id = store::start_attempt(img, a);
    if (g.thread.empty()) {
      g.thread = "live-goal-" + std::to_string(g.id);
      store::update_goal(img, g);
    }
    const int64_t seq0 = image.info().head_seq;
    store::Usage spend{.day = today()};
    bool cut = false;
    SessionOptions so{.model = o.model, .sandbox = o.sandbox, .max_tokens = o.max_tokens};
    so.models = models;
    // Wall time, tokens and sandbox time are checked before every step (the day's use so
    // far plus this attempt's), so each holds to within one step. Forges the session's
    // doesNotUnderstand writes are counted; the loop checks the forge budget before it asks
    // for one (a forge inside a step cannot be stopped halfway).
    const LiveUsage used = live_usage(image);
    const LiveBudget budget = live_budget(image);
    const double wall_before = used.wall_s, wall_budget = budget.wall_s_per_day;
    int64_t turn_tokens = 0, turn_forges = 0;  // of this attempt's finished turns
    std::string cut_why;
    // Wall time is written down every few seconds too, so a killed process loses little of it.
    double flushed = 0;
    auto flush = [&] {
      double now = seconds_since(t0);
      if (now - flushed < 5) return;
      store::add_usage(img, {.day = today(), .wall_s = now - flushed});
      flushed = now;
    };
    so.cancelled = [&] {
      if (cut) return true;
      flush();
      cut_why = must_stop(wall_before + seconds_since(t0), used, budget, turn_tokens, spend.sandbox_s);
      return cut = !cut_why.empty();
    };
    so.on_sandbox_call = [&](double s, bool) { spend.sandbox_s += s; };
    so.on_turn = [&](const Turn& t) {
      turn_tokens += t.tokens;
      turn_forges += t.forged;
    };
    int64_t streamed = 0;  // pieces generated: the tokens of a run cut short (its transcript is not returned)
    so.on_token = [&](const std::string&, std::string_view) { ++streamed; };
    json detail = json::parse(a.detail);
    Answer ans;
    std::string failure;
    try {
      Session s(image, so);
      if (resuming) {
        try {
          ans = s.resume(g.thread);
        } catch (const Error& e) {
          if (cut) throw;
          // Nothing to go on from (the process stopped before the run's first step): start again.
          detail["resume_failed"] = e.what();
          ans = s.ask(g.thread, g.task);
        }
      } else {
        ans = s.ask(g.thread, g.task);
      }
      spend.tokens += tokens_of(ans.json);
      spend.forges += turn_forges;  // tools the session's forge wrote (doesNotUnderstand)
    } catch (const Error& e) {
      if (cut) {
        a.status = "preempted";
        detail["why"] = cut_why;
        a.detail = detail.dump();
        store::finish_attempt(img, a);
        spend.wall_s = seconds_since(t0) - flushed;
        spend.tokens += std::max(turn_tokens, streamed);
        spend.forges += turn_forges;
        store::add_usage(img, spend);
        ++report.preempted;
        say("preempt", g.id, g.family, cut_why + ": attempt stopped at its last checkpoint on " + g.thread +
                                           "; it resumes later");
        return;
      }
      failure = e.what();
    }
    bool passed = false;
    std::string test_out;
    if (failure.empty() && ans.status == RunStatus::WaitingForHuman) failure = "the run waits for a human decision";
    if (failure.empty()) {
      passed = goal_test(g, ans, spend.sandbox_s, test_out);
    } else {
      test_out = "not run: " + failure;
    }
    std::string grace_why, justice_why;
    int grace = 0, justice = 0;
    if (wall_before + seconds_since(t0) >= wall_budget) {
      grace_why = justice_why = "not judged: the day's wall-time budget is spent";  // counted as the middle
    } else {
      grace = judged(image, o, models, "ROBIN", "grace (care and fit for the person)", g, ans.text, passed, grace_why,
                     spend.tokens);
      justice = judged(image, o, models, "BRICK", "justice (correctness and rigour)", g, ans.text, passed, justice_why,
                       spend.tokens);
    }
    int violations = 0;
    for (auto& v : codex_violations(image))
      if (v.seq > seq0) ++violations;
    live::record(fam, passed ? 1 : 0, params);
    store::put_family(img, fam);
    const double lp = live::learning_progress(fam, params);
    live::Reward rw = live::reward({.passed = passed, .lp = lp, .grace = grace, .justice = justice, .violations = violations});
    a.status = failure.empty() || passed ? "done" : "error";
    a.passed = passed;
    a.lp = lp;
    a.grace = rw.grace, a.justice = rw.justice, a.codex = rw.codex, a.reward = rw.total;
    detail.update({{"reward", rw.to_json()}, {"test", test_out}, {"grace_score", grace}, {"grace_why", grace_why},
                   {"justice_score", justice}, {"justice_why", justice_why}, {"codex_violations", violations},
                   {"answer", utf8_clip(utf8_clean(ans.text), 400)}, {"thread", g.thread}});
    a.detail = detail.dump();
    store::finish_attempt(img, a);
    ++report.attempts;
    report.passed += passed;
    g = *store::goal(img, g.id);
    ++g.attempts;
    g.successes += passed;
    if (passed) g.status = "achieved";
    store::update_goal(img, g);
    char b[200];
    std::snprintf(b, sizeof b, "%s; reward %.2f (competence %.0f, progress %.2f, grace %.2f, justice %.2f, codex %.0f)",
                  passed ? "test passed" : "test failed", rw.total, rw.competence, rw.progress, rw.grace, rw.justice,
                  rw.codex);
    say("attempt", g.id, g.family, b + (failure.empty() ? std::string() : "; " + failure));
    forge(g, spend);
    spend.wall_s = seconds_since(t0) - flushed;
    store::add_usage(img, spend);
  }

  // A goal whose plan asks for a tool: the forge writes and tests it, and files a proposal
  // that waits for a person (nothing is registered here).
  void forge(const store::GoalRow& g, store::Usage& spend) {
    json plan = json::parse(g.plan, nullptr, false);
    if (!plan.is_object() || !plan.contains("forge") || !plan["forge"].is_object()) return;
    const json& f = plan["forge"];
    for (auto& p : list_proposals(image, ""))
      if (p.kind == "tool.register" && p.target == f.value("name", "")) return;  // asked once
    if (live_usage(image).forges + spend.forges >= live_budget(image).forges_per_day) {
      say("budget", g.id, g.family, "forge of " + f.value("name", "") + " skipped: the day's forges are spent");
      return;
    }
    ToolRequest req{f.value("name", ""), {}, f.value("doc", ""), f.value("tests", "")};
    if (f.contains("params") && f["params"].is_array())
      for (auto& p : f["params"])
        if (p.is_string()) req.params.push_back(p);
    ++spend.forges;
    try {
      auto t = Clock::now();
      ForgeOutcome out = forge_tool(image, req, {.model = o.model, .sandbox = o.sandbox, .allow_unsafe = o.allow_unsafe});
      spend.sandbox_s += seconds_since(t);
      if (out.ok) {
        report.proposals.push_back(out.proposal);
        say("forge", g.id, g.family,
            "tool " + req.name + " forged and proposed (#" + std::to_string(out.proposal) + "): it waits for a human");
      } else {
        say("forge", g.id, g.family, "the forge gave up on " + req.name + " after " + std::to_string(out.attempts.size()) + " attempts");
      }
    } catch (const Error& e) {
      say("forge", g.id, g.family, "forge of " + req.name + " failed: " + e.what());
    }
  }

  // The learning cycle, its wall time counted in the day's budget.
  Clock::time_point learn_t0;
  double learn_wall_before = 0;  // the day's wall time when the cycle began
  double learn_flushed = 0;      // seconds of the cycle already in the day's usage
  void learn() {
    learn_t0 = Clock::now();
    learn_flushed = 0;
    learn_wall_before = live_usage(image).wall_s;
    learn_cycle();
    flush_learn(true);
  }
  // Written down as the cycle goes (at most every few seconds), so a killed process loses
  // little of its time: a training run or an adapter's trials take minutes.
  void flush_learn(bool all = false) {
    const double now = seconds_since(learn_t0);
    if (!all && now - learn_flushed < 5) return;
    store::add_usage(img, {.day = today(), .wall_s = now - learn_flushed});
    learn_flushed = now;
  }

  // A new adapter next to what the persona runs with now, on the same examples, both
  // measured now: the active adapter (when it is for this base) re-evaluated on the new
  // run's held-out examples, else the base alone. Without held-out examples (a small
  // golden set) the training loss is all there is: the last against the first.
  struct Comparison {
    std::string measure, against;
    double mine = 0, theirs = 0, base = 0;
    std::string active_sha, active_name;  // the persona's active adapter on this base ("": none)
  };
  Comparison compare(const std::string& persona, const std::string& base, const TrainedAdapter& ad,
                     const TrainAdapterOptions& t) {
    auto spec = persona::find(img, persona);
    json lineage = json::parse(ad.lineage_json, nullptr, false);
    std::string base_sha = lineage.is_object() ? lineage.value("base_sha256", "") : "";
    auto active = spec && !base_sha.empty() ? persona::adapter_for(img, *spec, base_sha) : std::nullopt;
    Comparison c;
    if (active) c.active_sha = active->blob_sha256, c.active_name = active->name + " v" + std::to_string(active->version);
    if (!ad.heldout_examples) {
      c.measure = "training", c.against = "the base";
      c.mine = ad.train_loss_last, c.theirs = c.base = ad.train_loss_first;
      return c;
    }
    c.measure = "held-out (" + std::to_string(ad.heldout_examples) + " examples)", c.against = "the base";
    c.mine = ad.heldout_loss_after, c.theirs = c.base = ad.heldout_loss_before;
    if (!active) return c;
    // The same split the training run made (same data, fraction and seed).
    std::vector<learn::Example> train, held;
    learn::split_heldout(learn::dataset(img, persona, ""), t.eval_split, t.seed, train, held);
    if (held.empty()) return c;
    c.theirs = learn::evaluate_bytes(base, img.blob(active->blob_sha256), held, t.ctx).loss;
    c.against = "the active adapter " + active->name + " v" + std::to_string(active->version) + ", measured now";
    return c;
  }

  // The goals `persona` took part in, newest attempt first: attempted goals whose thread
  // holds a turn of its, with a test (at most n).
  std::vector<store::GoalRow> touched_goals(const std::string& persona, int n) {
    std::vector<store::GoalRow> out;
    if (n <= 0) return out;
    auto as = store::attempts(img);  // oldest first
    std::set<int64_t> seen;
    for (auto it = as.rbegin(); it != as.rend() && static_cast<int>(out.size()) < n; ++it) {
      if (!seen.insert(it->goal).second) continue;
      auto g = store::goal(img, it->goal);
      if (!g || g->thread.empty() || g->test.empty()) continue;
      json turns;
      try {
        turns = json::parse(thread_transcript_json(image, g->thread), nullptr, false);
      } catch (const Error&) {
        continue;  // cut short before its first step: nobody took part yet
      }
      if (!turns.is_array()) continue;
      if (std::any_of(turns.begin(), turns.end(), [&](const json& t) { return t.is_object() && t.value("persona", "") == persona; }))
        out.push_back(*g);
    }
    return out;
  }

  // One goal's task in a fresh session on the training base, `persona` running with
  // `adapter` (a blob's sha256, or "none"), and the goal's test on its answer, scored as an
  // attempt is. A trial is no attempt (no attempt row, no family stats), but its tokens and
  // sandbox time count in the day's budget (its wall time is the learning cycle's), and a
  // user's run, a stop or a spent budget stop it like an attempt. Its thread is kept as
  // evidence for the person deciding, named with learn::kTrialThreadPrefix so that it is
  // never judged into a golden set (learn::unjudged_threads) nor read as a failed task.
  struct Trial {
    bool passed = false;
    std::string test, answer, thread;
    std::string cut;  // why it was stopped before its test ran ("": it ran)
    json to_json() const {
      return {{"passed", passed}, {"test", test}, {"answer", utf8_clip(utf8_clean(answer), 400)}, {"thread", thread}};
    }
  };
  Trial trial(const store::GoalRow& g, const std::string& persona, const std::string& base, const std::string& adapter) {
    Trial out;
    out.thread = std::string(learn::kTrialThreadPrefix) + std::to_string(g.id) + "-" +
                 (adapter == "none" ? adapter : adapter.substr(0, 12)) + "-" + random_id().substr(0, 8);
    const LiveUsage used = live_usage(image);
    const LiveBudget budget = live_budget(image);
    store::Usage spend{.day = today()};
    int64_t turn_tokens = 0, streamed = 0;
    SessionOptions so{.model = base, .sandbox = o.sandbox, .max_tokens = o.max_tokens};
    so.models = models;
    so.adapters = {{persona, adapter}};
    so.cancelled = [&] {
      flush_learn();
      if (out.cut.empty()) out.cut = must_stop(learn_wall_before + seconds_since(learn_t0), used, budget, turn_tokens, spend.sandbox_s);
      return !out.cut.empty();
    };
    so.on_sandbox_call = [&](double secs, bool) { spend.sandbox_s += secs; };
    so.on_turn = [&](const Turn& t) {
      turn_tokens += t.tokens;
      spend.forges += t.forged;
    };
    so.on_token = [&](const std::string&, std::string_view) { ++streamed; };
    Answer ans;
    std::string failure;
    try {
      Session session(image, so);
      ans = session.ask(out.thread, g.task);
      spend.tokens += tokens_of(ans.json);
      if (ans.status == RunStatus::WaitingForHuman) failure = "the run waits for a human decision";
    } catch (const Error& e) {
      spend.tokens += std::max(turn_tokens, streamed);
      if (!out.cut.empty()) {
        store::add_usage(img, spend);
        return out;
      }
      failure = e.what();
    }
    out.answer = ans.text;
    if (failure.empty()) out.passed = goal_test(g, ans, spend.sandbox_s, out.test);
    else out.test = "not run: " + failure;
    store::add_usage(img, spend);
    return out;
  }

  // A new adapter against the active one (or none) beyond held-out loss: the goal tests of
  // the goals its persona took part in, and probe answers for the person deciding.
  struct Evidence {
    int goals = 0, mine = 0, theirs = 0;  // goals tried; tests passed with the new adapter and the active
    std::string cut;                      // why the trials stopped short ("": they ran)
    json goal_tests = json::array(), probes = json::array();
  };
  Evidence try_on_goals(const std::string& persona, const std::string& base, const TrainedAdapter& ad, const Comparison& cmp) {
    Evidence ev;
    const std::string theirs = cmp.active_sha.empty() ? "none" : cmp.active_sha;
    auto goals = touched_goals(persona, o.compare_goals);
    for (auto& g : goals) {
      Trial mine = trial(g, persona, base, ad.sha256);
      Trial other = mine.cut.empty() ? trial(g, persona, base, theirs) : Trial{};
      if (!mine.cut.empty() || !other.cut.empty()) {
        ev.cut = !mine.cut.empty() ? mine.cut : other.cut;
        return ev;
      }
      ++ev.goals;
      ev.mine += mine.passed;
      ev.theirs += other.passed;
      ev.goal_tests.push_back({{"goal", g.id}, {"title", g.title}, {"candidate", mine.to_json()}, {"active", other.to_json()}});
    }
    // Probes: the persona alone (its system prompt, one question), not scored.
    std::vector<std::string> prompts = o.probes;
    if (prompts.empty())
      for (size_t i = 0; i < goals.size() && i < 3; ++i) prompts.push_back(goals[i].task);
    if (prompts.empty()) return ev;
    const LiveUsage used = live_usage(image);
    if (std::string why = must_stop(learn_wall_before + seconds_since(learn_t0), used, live_budget(image), 0, 0); !why.empty()) {
      ev.cut = why;
      return ev;
    }
    store::Usage spend{.day = today()};
    try {
      auto spec = persona::find(img, persona);
      std::string system = spec ? persona::system_prompt(*spec, codex::image_codex(img)) : "";
      auto ps = learn::answer_probes(base, cmp.active_sha.empty() ? "" : img.blob(cmp.active_sha), ad.adapter, persona, prompts,
                                     o.max_tokens ? o.max_tokens : 64, system, &manager_of(*models), &spend.tokens);
      for (auto& p : ps)
        ev.probes.push_back({{"prompt", utf8_clean(p.prompt)}, {"candidate", utf8_clean(p.adapter)}, {"active", utf8_clean(p.base)}});
    } catch (const Error& e) {
      ev.probes.push_back({{"error", e.what()}});
    }
    store::add_usage(img, spend);
    return ev;
  }

  // The learning cycle: judge, golden sets, train where enough is new, evaluate, propose.
  void learn_cycle() {
    try {
      auto js = judge_threads(image, {}, {.model = o.model, .all = true});
      say("schedule", 0, "", "judged " + std::to_string(js.size()) + " thread(s)");
    } catch (const Error& e) {
      say("schedule", 0, "", std::string("judge: ") + e.what());
    }
    flush_learn();
    auto gs = select_golden(image);
    say("schedule", 0, "", "golden sets: " + std::to_string(gs.added) + " new example(s)");
    std::string base = o.train_model.empty() ? image.info().base_model : o.train_model;
    if (!is_file(base)) {
      say("schedule", 0, "", "no training: no local GGUF base model (set one with --train-model or the image's base model)");
      return;
    }
    for (auto& c : golden_counts(image)) {
      const std::string key = "live.trained." + c.persona;
      std::string had = image.setting(key);
      int64_t before = had.empty() ? 0 : std::stoll(had);
      if (c.examples - before < o.train_min_new) {
        say("schedule", 0, "", c.persona + ": " + std::to_string(c.examples - before) + " new golden example(s), " +
                                   std::to_string(o.train_min_new) + " start a training run");
        continue;
      }
      if (stopping() || user()) return;
      try {
        TrainAdapterOptions t{.persona = c.persona, .model = base, .rank = o.train_rank, .alpha = 2.0f * o.train_rank,
                              .targets = {"attn_q", "attn_v", "attn_output", "ffn_down"}, .lr = o.train_lr,
                              .epochs = o.train_epochs, .threads = 1, .seed = 1};
        TrainedAdapter ad = train_adapter(image, t);
        flush_learn();
        ++report.trained;
        image.set_setting(key, std::to_string(c.examples));
        Comparison cmp = compare(c.persona, base, ad, t);
        char b[300];
        std::snprintf(b, sizeof b, "%s adapter %s trained: %s loss %.4f against %.4f of %s", c.persona.c_str(),
                      ad.sha256.substr(0, 12).c_str(), cmp.measure.c_str(), cmp.mine, cmp.theirs, cmp.against.c_str());
        json detail = {{"persona", c.persona}, {"adapter", ad.sha256}, {"measure", cmp.measure}, {"loss", cmp.mine},
                       {"against", cmp.against}, {"against_loss", cmp.theirs}, {"base_loss", cmp.base},
                       {"heldout_examples", ad.heldout_examples}};
        if (!(cmp.mine < cmp.theirs)) {
          say("schedule", 0, "", std::string(b) + ": not better, not proposed", detail);
          continue;
        }
        // Better on held-out loss: now the goal tests it touches, both ways, and the probes.
        Evidence ev = try_on_goals(c.persona, base, ad, cmp);
        const std::string whose = cmp.active_name.empty() ? "the base" : "the active adapter " + cmp.active_name;
        char tests[200];
        std::snprintf(tests, sizeof tests, "goal tests %d/%d against %d/%d of %s", ev.mine, ev.goals, ev.theirs, ev.goals,
                      whose.c_str());
        detail["goal_tests"] = ev.goal_tests;
        detail["goal_tests_passed"] = {{"candidate", ev.mine}, {"active", ev.theirs}, {"goals", ev.goals}, {"against", whose}};
        detail["probes"] = ev.probes;
        if (!ev.cut.empty()) {
          detail["cut"] = ev.cut;
          say("schedule", 0, "", std::string(b) + ": better on held-out loss, but its goal trials stopped (" + ev.cut +
                                     "): not proposed; a person may propose it with a4ps learn activate " + image.path() +
                                     " --persona " + c.persona + " --run " + ad.sha256.substr(0, 12), detail);
          if (stopping() || user()) return;
          continue;
        }
        if (ev.mine < ev.theirs) {
          say("schedule", 0, "", std::string(b) + ": better on held-out loss, but " + tests + ": not proposed", detail);
          continue;
        }
        // The evidence travels with the proposal: `a4ps approvals show` prints it.
        json evidence = {{"measure", cmp.measure}, {"loss", cmp.mine}, {"against", cmp.against}, {"against_loss", cmp.theirs},
                         {"base_loss", cmp.base}, {"goal_tests", ev.goal_tests}, {"goal_tests_passed", detail["goal_tests_passed"]},
                         {"probes", ev.probes}};
        int64_t prop = learn::propose_activation(img, c.persona, ad.sha256, "", {{"live_comparison", evidence}});
        report.proposals.push_back(prop);
        detail["proposal"] = prop;
        say("schedule", 0, "", std::string(b) + ": better, proposed (#" + std::to_string(prop) + "): " +
                                   (ev.goals ? std::string(tests) : "no goal it took part in to test") +
                                   "; it waits for a human", detail);
      } catch (const Error& e) {
        say("schedule", 0, "", c.persona + ": training failed: " + e.what());
      }
    }
  }

  // The open goal to work on now, and why; none: nothing open (or all paused).
  std::optional<std::pair<store::GoalRow, std::string>> next(bool& resuming) {
    resuming = false;
    auto open = store::goals(img, "open");
    // An attempt cut short (a user's run, a stop, a killed process) goes on first.
    for (auto& g : open) {
      auto as = store::attempts(img, g.id);
      if (!as.empty() && (as.back().status == "preempted" || as.back().status == "running")) {
        resuming = true;
        return std::pair{g, std::string("resumes the attempt cut short on ") + g.thread};
      }
    }
    auto fams = family_map(img);
    std::vector<live::FamilyStats> cand;
    std::set<std::string> seen;
    for (auto& g : open)
      if (seen.insert(g.family).second) cand.push_back(fams.count(g.family) ? fams[g.family] : live::FamilyStats{g.family});
    live::Choice c = live::choose(cand, params, rng);
    if (c.index < 0) return std::nullopt;
    const store::GoalRow* best = nullptr;
    for (auto& g : open)
      if (g.family == c.family && (!best || g.attempts < best->attempts)) best = &g;
    say("choose", best->id, c.family, c.reason,
        {{"rule", c.rule}, {"lp", c.lp}, {"probability", c.probability}, {"families", cand.size()}});
    return std::pair{*best, c.rule + ": " + c.reason};
  }

  void run() {
    // Attempts a killed process left running are cut short: they resume.
    for (auto a : store::unfinished(img)) {
      a.status = "preempted";
      a.detail = json{{"why", "the process running it stopped"}}.dump();
      store::finish_attempt(img, a);
      say("resume", a.goal, a.family, "attempt " + std::to_string(a.id) + " was left unfinished; its goal resumes");
    }
    int since_learn = 0;
    bool waited = false;
    while (true) {
      if (stopping()) {
        report.stopped = "stopped";
        break;
      }
      if (std::string why = spent(); !why.empty()) {
        report.stopped = "budget";
        say("budget", 0, "", "the day's budget is spent: " + why);
        break;
      }
      if (o.max_attempts > 0 && report.attempts >= o.max_attempts) {
        report.stopped = "attempts";
        break;
      }
      if (user()) {
        if (!waited) say("preempt", 0, "", "a user's run is active: the live loop waits");
        waited = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      waited = false;
      bool resuming = false;
      auto pick = next(resuming);
      if (!pick) {
        try {
          auto tg = Clock::now();
          auto gen = generate(image, {.model = o.model, .max_goals = o.goals_per_round, .embed_model = o.embed_model}, &o);
          store::add_usage(img, {.day = today(), .wall_s = seconds_since(tg)});
          for (auto& g : gen.added) (g.status == "vetoed" ? report.vetoed : report.generated)++;
          if (std::none_of(gen.added.begin(), gen.added.end(), [](auto& g) { return g.status == "open"; })) {
            report.stopped = "nothing to do";
            say("stop", 0, "", "no open goal is left and ALFRED proposed none that may run");
            break;
          }
        } catch (const Error& e) {
          report.stopped = "nothing to do";
          say("stop", 0, "", std::string("no open goal and none proposed: ") + e.what());
          break;
        }
        continue;
      }
      if (resuming) {
        ++report.resumed;
        say("resume", pick->first.id, pick->first.family, pick->second);
      }
      attempt(pick->first, resuming, pick->second);
      if (o.learn_every > 0 && ++since_learn >= o.learn_every && !stopping() && !user()) {
        learn();
        since_learn = 0;
      }
    }
    if (o.learn_every > 0 && since_learn > 0 && report.stopped != "stopped" && report.stopped != "budget") learn();
    report.usage = live_usage(image);
  }
};

}  // namespace

LiveReport run_live(Image& image, const LiveOptions& o) {
  image::Image& img = writable(image);
  LiveReport report;
  uint64_t seed = o.seed ? o.seed : static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  Loop loop{image, img, o, report, std::mt19937_64(seed), {}};
  loop.run();
  return report;
}

}  // namespace a4ps
