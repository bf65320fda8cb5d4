// a4ps live IMAGE | a4ps goals ls | show | pause | resume | families | log | curves | generate | budget
// Live mode from the command line: the agent pursues goals it sets itself, within the day's
// budget the image keeps, until the budget, --attempts, or Ctrl-C (which ends the current
// graph step; the attempt resumes next time). What it did is in the image: `a4ps goals`.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <sstream>

#include "a4ps/live.h"
#include "cli.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted = true; }

std::string fmt(double v, int prec = 2) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

Image open_existing(const std::string& path, bool read_only) {
  return Image::open(path, {.create_if_missing = false, .read_only = read_only});
}

json goal_json(const GoalInfo& g) {
  return {{"id", g.id}, {"family", g.family}, {"title", g.title}, {"task", g.task}, {"test", g.test},
          {"plan", json::parse(g.plan_json)}, {"source", g.source}, {"status", g.status}, {"veto", g.veto},
          {"attempts", g.attempts}, {"successes", g.successes}, {"thread", g.thread}, {"created_at", g.created_at},
          {"updated_at", g.updated_at}};
}
json decision_json(const LiveDecision& d) {
  return {{"id", d.id}, {"ts", d.ts}, {"kind", d.kind}, {"goal", d.goal}, {"family", d.family}, {"reason", d.reason},
          {"detail", json::parse(d.detail_json)}};
}
std::string decision_line(const LiveDecision& d) {
  return d.ts.substr(11, 8) + "  " + d.kind + (d.goal ? " goal " + std::to_string(d.goal) : "") +
         (d.family.empty() ? "" : " [" + d.family + "]") + ": " + d.reason + "\n";
}
json usage_json(const LiveUsage& u) {
  return {{"day", u.day}, {"wall_s", u.wall_s}, {"sandbox_s", u.sandbox_s}, {"tokens", u.tokens}, {"forges", u.forges}};
}
json budget_json(const LiveBudget& b) {
  return {{"wall_s_per_day", b.wall_s_per_day}, {"tokens_per_day", b.tokens_per_day},
          {"sandbox_s_per_day", b.sandbox_s_per_day}, {"forges_per_day", b.forges_per_day}};
}

// "wall=600,tokens=20000,sandbox=120,forges=2" over the image's budget.
LiveBudget parse_budget(LiveBudget b, const std::string& spec) {
  std::stringstream in(spec);
  std::string part;
  while (std::getline(in, part, ',')) {
    auto eq = part.find('=');
    std::string k = part.substr(0, eq), v = eq == std::string::npos ? "" : part.substr(eq + 1);
    try {
      size_t used = 0;
      double x = std::stod(v, &used);
      if (used != v.size()) throw std::invalid_argument(v);
      if (k == "wall") b.wall_s_per_day = x;
      else if (k == "tokens") b.tokens_per_day = static_cast<int64_t>(x);
      else if (k == "sandbox") b.sandbox_s_per_day = x;
      else if (k == "forges") b.forges_per_day = static_cast<int64_t>(x);
      else throw std::invalid_argument(k);
    } catch (const std::exception&) {
      throw Error("bad --budget part '" + part + "'; use wall=SECONDS,tokens=N,sandbox=SECONDS,forges=N");
    }
  }
  return b;
}

}  // namespace

void add_live_commands(CLI::App& app, Globals& g) {
  static std::string path, model, sandbox, budget, train_model, status, what, out, family, embed_model;
  static int attempts = 0, max_tokens = 0, learn_every = 4, train_min_new = 4, train_epochs = 12, max_goals = 5;
  static uint64_t seed = 0;
  static int64_t id = 0;
  static double max_similarity = 0.8;
  static int compare_goals = 3;
  static std::vector<std::string> probes;
  {
    auto* c = sub(&app, "live", "the agent pursues goals it sets itself, within the image's daily budget (Ctrl-C stops)");
    c->add_option("image", path, "image file")->required();
    c->add_option("--model", model, "every persona's model: GGUF path, ollama:NAME, openai:URL#MODEL or scripted:FILE");
    c->add_option("--sandbox", sandbox, "gvisor or bwrap (default: the strongest that works here)");
    c->add_option("--budget", budget, "set the image's daily budget first: wall=SECONDS,tokens=N,sandbox=SECONDS,forges=N");
    c->add_option("--max-tokens", max_tokens, "cap on every persona turn (default: each persona's own)");
    c->add_option("--attempts", attempts, "stop after this many attempts (default: the budget or nothing left)");
    c->add_option("--seed", seed, "exploration's random seed (default: the clock)");
    c->add_option("--embed-model", embed_model, "compare new goals with earlier ones by this model's embeddings");
    c->add_option("--learn-every", learn_every, "attempts between runs of the learning cycle (0: never)");
    c->add_option("--train-model", train_model, "the GGUF base adapters are trained on (default: the image's base model)");
    c->add_option("--train-min-new", train_min_new, "new golden examples of a persona that start a training run");
    c->add_option("--train-epochs", train_epochs, "epochs of each training run");
    c->add_option("--compare-goals", compare_goals,
                  "goals a new adapter is tried on against the active one before it is proposed (0: held-out loss only)");
    c->add_option("--probe", probes, "a prompt the persona answers with both adapters, for you to read (repeatable)");
    c->callback([&g] {
      auto img = open_existing(path, false);
      if (!budget.empty()) set_live_budget(img, parse_budget(live_budget(img), budget));
      g_interrupted = false;
      struct sigaction sa{}, old{};
      sa.sa_handler = on_sigint;
      sigemptyset(&sa.sa_mask);
      sigaction(SIGINT, &sa, &old);
      LiveOptions o{.model = model, .sandbox = sandbox, .max_tokens = max_tokens, .max_attempts = attempts, .seed = seed,
                    .learn_every = learn_every, .train_model = train_model, .train_min_new = train_min_new,
                    .train_epochs = train_epochs};
      o.embed_model = embed_model;
      o.compare_goals = compare_goals;
      o.probes = probes;
      o.stop = [] { return g_interrupted.load(); };
      json log = json::array();
      o.on_decision = [&](const LiveDecision& d) {
        if (g.json) log.push_back(decision_json(d));
        else std::cout << decision_line(d) << std::flush;
      };
      LiveReport r = run_live(img, o);
      sigaction(SIGINT, &old, nullptr);
      json props = json::array();
      for (auto p : r.proposals) props.push_back(p);
      json j = {{"attempts", r.attempts}, {"passed", r.passed}, {"preempted", r.preempted}, {"resumed", r.resumed},
                {"generated", r.generated}, {"vetoed", r.vetoed}, {"trained", r.trained}, {"proposals", props},
                {"stopped", r.stopped}, {"usage", usage_json(r.usage)}, {"budget", budget_json(live_budget(img))},
                {"decisions", log}};
      std::string text = "live: " + std::to_string(r.attempts) + " attempt(s), " + std::to_string(r.passed) + " passed, " +
                         std::to_string(r.generated) + " goal(s) set, " + std::to_string(r.vetoed) + " vetoed, " +
                         std::to_string(r.trained) + " adapter(s) trained, " + std::to_string(r.proposals.size()) +
                         " proposal(s) waiting for you (a4ps approvals ls); ended: " + r.stopped + "\n";
      emit(g, j, text);
    });
  }
  auto* gl = sub(&app, "goals", "the goals the agent set itself in live mode, their attempts and families");
  gl->require_subcommand(1);
  {
    auto* c = sub(gl, "ls", "goals, oldest first");
    c->add_option("image", path, "image file")->required();
    c->add_option("--status", status, "only open, achieved, vetoed or paused");
    c->callback([&g] {
      auto img = open_existing(path, true);
      json arr = json::array();
      std::ostringstream o;
      for (auto& x : list_goals(img, status)) {
        arr.push_back(goal_json(x));
        o << "#" << x.id << "  [" << x.family << "]  " << x.status << "  " << x.successes << "/" << x.attempts << "  "
          << x.title << (x.veto.empty() ? "" : "  (vetoed: " + x.veto + ")") << "\n";
      }
      if (arr.empty()) o << "no goals yet; run a4ps live " << path << "\n";
      emit(g, arr, o.str());
    });
  }
  {
    auto* c = sub(gl, "show", "one goal: its test, plan, attempts with their rewards, and the decisions about it");
    c->add_option("image", path, "image file")->required();
    c->add_option("id", id, "goal id")->required();
    c->callback([&g] {
      auto img = open_existing(path, true);
      GoalDetail d = show_goal(img, id);
      json j = goal_json(d.goal), as = json::array(), ds = json::array();
      std::ostringstream o;
      o << "goal #" << d.goal.id << " [" << d.goal.family << "] " << d.goal.status << ": " << d.goal.title << "\n"
        << "task: " << d.goal.task << "\ntest:\n" << d.goal.test << "\n";
      if (!d.goal.veto.empty()) o << "vetoed: " << d.goal.veto << "\n";
      if (!d.goal.thread.empty()) o << "thread: " << d.goal.thread << "\n";
      for (auto& a : d.attempts) {
        as.push_back({{"id", a.id}, {"status", a.status}, {"passed", a.passed}, {"lp", a.lp}, {"grace", a.grace},
                      {"justice", a.justice}, {"codex", a.codex}, {"reward", a.reward},
                      {"detail", json::parse(a.detail_json)}, {"started_at", a.started_at}, {"finished_at", a.finished_at}});
        o << "attempt " << a.id << ": " << a.status << (a.status == "done" ? (a.passed ? ", passed" : ", failed") : "")
          << ", reward " << fmt(a.reward) << " (progress " << fmt(a.lp) << ", grace " << fmt(a.grace) << ", justice "
          << fmt(a.justice) << ", codex " << fmt(a.codex, 0) << ")\n";
      }
      for (auto& x : d.decisions) ds.push_back(decision_json(x)), o << "  " << decision_line(x);
      j["attempts"] = as;
      j["decisions"] = ds;
      emit(g, j, o.str());
    });
  }
  for (bool pause : {true, false}) {
    auto* c = sub(gl, pause ? "pause" : "resume", pause ? "never choose a goal (by id) or a family (by name)"
                                                        : "let a paused goal or family be chosen again");
    c->add_option("image", path, "image file")->required();
    c->add_option("what", what, "goal id or family name")->required();
    c->callback([&g, pause] {
      auto img = open_existing(path, false);
      int n = pause_goals(img, what, pause);
      emit(g, {{"changed", n}}, std::string(pause ? "paused " : "resumed ") + what + " (" + std::to_string(n) + " goal(s))\n");
    });
  }
  {
    auto* c = sub(gl, "families", "each goal family: attempts, successes, moving averages and learning progress");
    c->add_option("image", path, "image file")->required();
    c->callback([&g] {
      auto img = open_existing(path, true);
      json arr = json::array();
      std::ostringstream o;
      for (auto& f : goal_families(img)) {
        arr.push_back({{"family", f.family}, {"attempts", f.attempts}, {"successes", f.successes}, {"goals", f.goals},
                       {"open", f.open}, {"fast", f.fast}, {"slow", f.slow}, {"lp", f.lp}, {"paused", f.paused}});
        o << f.family << ": " << f.successes << "/" << f.attempts << " passed, " << f.open << " of " << f.goals
          << " goal(s) open, fast " << fmt(f.fast) << " slow " << fmt(f.slow) << " progress " << fmt(f.lp, 3)
          << (f.paused ? " (paused)" : "") << "\n";
      }
      emit(g, arr, o.str());
    });
  }
  {
    auto* c = sub(gl, "log", "the live loop's decisions (choices with their reasons, vetoes, schedule, budget)");
    c->add_option("image", path, "image file")->required();
    c->add_option("-n", attempts, "the newest N (default 50)");
    c->callback([&g] {
      auto img = open_existing(path, true);
      json arr = json::array();
      std::string text;
      for (auto& d : live_decisions(img, attempts > 0 ? attempts : 50)) arr.push_back(decision_json(d)), text += decision_line(d);
      emit(g, arr, text);
    });
  }
  {
    auto* c = sub(gl, "curves", "competence per family as an SVG (success over the last 5 attempts)");
    c->add_option("image", path, "image file")->required();
    c->add_option("-o,--output", out, "the SVG file to write")->required();
    c->add_option("--family", family, "only this family");
    c->callback([&g] {
      auto img = open_existing(path, true);
      std::string svg = competence_svg(img, family);
      FILE* f = std::fopen(out.c_str(), "wb");
      if (!f || std::fwrite(svg.data(), 1, svg.size(), f) != svg.size() || std::fclose(f) != 0)
        throw Error("cannot write " + out + "; check the folder exists and is writable");
      emit(g, {{"path", out}, {"bytes", svg.size()}}, "wrote " + out + "\n");
    });
  }
  {
    auto* c = sub(gl, "generate", "ALFRED proposes goals now (similar ones dropped, codex-breaking ones vetoed)");
    c->add_option("image", path, "image file")->required();
    c->add_option("--model", model, "ALFRED's model: GGUF path, ollama:NAME, openai:URL#MODEL or scripted:FILE");
    c->add_option("--max", max_goals, "goals to ask for");
    c->add_option("--max-similarity", max_similarity, "drop a goal this like an earlier one (0..1)");
    c->add_option("--embed-model", embed_model, "compare goals by this model's embeddings (default: text similarity)");
    c->callback([&g] {
      auto img = open_existing(path, false);
      auto r = generate_goals(img, {.model = model, .max_goals = max_goals, .max_similarity = max_similarity,
                                    .embed_model = embed_model});
      json added = json::array(), skipped = json::array();
      std::ostringstream o;
      for (auto& x : r.added) {
        added.push_back(goal_json(x));
        o << "#" << x.id << " [" << x.family << "] " << x.status << ": " << x.title
          << (x.veto.empty() ? "" : " (vetoed: " + x.veto + ")") << "\n";
      }
      for (auto& s : r.skipped) skipped.push_back(s), o << "skipped: " << s << "\n";
      emit(g, {{"added", added}, {"skipped", skipped}, {"similarity", r.similarity}}, o.str());
    });
  }
  {
    auto* c = sub(gl, "budget", "the daily budget of live mode and what today used (--set changes it)");
    c->add_option("image", path, "image file")->required();
    c->add_option("--set", budget, "wall=SECONDS,tokens=N,sandbox=SECONDS,forges=N");
    c->callback([&g] {
      auto img = open_existing(path, budget.empty());
      if (!budget.empty()) set_live_budget(img, parse_budget(live_budget(img), budget));
      LiveBudget b = live_budget(img);
      LiveUsage u = live_usage(img);
      emit(g, {{"budget", budget_json(b)}, {"today", usage_json(u)}},
           "per day: wall " + fmt(b.wall_s_per_day, 0) + " s, tokens " + std::to_string(b.tokens_per_day) + ", sandbox " +
               fmt(b.sandbox_s_per_day, 0) + " s, forges " + std::to_string(b.forges_per_day) + "\ntoday (" + u.day +
               "): wall " + fmt(u.wall_s, 1) + " s, tokens " + std::to_string(u.tokens) + ", sandbox " +
               fmt(u.sandbox_s, 1) + " s, forges " + std::to_string(u.forges) + "\n");
    });
  }
}

}  // namespace a4ps::cli
