// Live mode end to end through the CLI, on the scripted model (a fake) and the real
// sandbox: a "day" — ALFRED sets goals (one too like another is dropped, two that break
// the codex are vetoed), families are chosen by learning progress, each attempt's test
// runs in the sandbox and is scored, the learning cycle judges the goal threads, grows
// the golden set, trains an adapter on a synthetic GGUF and proposes it, a tool is forged
// and proposed — and nothing about the agent changes without a human (the image refuses
// an unapproved apply anyway). Then Ctrl-C and kill -9 in the middle of a run.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "image/image.h"
#include "serve_util.h"
#include "testutil.h"

namespace a4ps::test {
using nlohmann::json;

namespace {

struct Goal {
  std::string family, task, test, answer;
  json extra = json::object();
};

const std::vector<Goal> kGoals = {
    {"arithmetic", "Compute 17 * 23 and say the number.", "assert '391' in answer", "391, with care."},
    {"arithmetic", "Compute 17 times 23 and say the number.", "assert '391' in answer", "391, with care."},  // too alike
    {"words", "Spell the word live backwards.", "assert 'evil' in answer.lower()", "evil, with care."},
    {"web", "Fetch the front page of example.com and quote its title.", "assert 'Example' in answer", "",
     {{"needs", {"network"}}}},
    {"self", "Replace your own slugify tool directly.", "assert answer", "",
     {{"effects", {{{"kind", "tool.version_added"}, {"name", "slugify"}, {"version", 2}}}}}},
    {"tools", "Make sure a doubling tool exists, then say double ready.", "assert 'ready' in answer",
     "double ready, with care.",
     {{"forge", {{"name", "double"}, {"params", {"x"}}, {"doc", "x times two"}, {"tests", "assert double(2) == 4\n"}}}}},
    {"riddles", "Say the secret word of the old cave.", "assert 'xyzzy' in answer", "I do not know it, with care."},
};

std::string judge_scores(int s) {
  return json{{"task_success", s}, {"correctness", s}, {"grace", s}, {"justice", s}, {"codex_adherence", s},
              {"rationale", "scripted judgement"}}
      .dump();
}

// The scripted day: ALFRED's goals, his routes and answers, the judgements, ROBIN's and
// BRICK's scores, and the forge's code.
fs::path write_script(const TempDir& d) {
  fs::path f = d / "day.jsonl";
  std::ofstream s(f);
  json goals = json::array();
  for (auto& g : kGoals) {
    json j = {{"family", g.family}, {"task", g.task}, {"test", g.test}, {"source", "scripted day"}};
    j.update(g.extra);
    goals.push_back(j);
  }
  s << json{{"persona", "ALFRED"}, {"match", "Propose "}, {"text", json{{"goals", goals}}.dump()}}.dump() << "\n";
  for (int i = 0; i < 12; ++i)
    s << json{{"persona", "ALFRED"}, {"match", "routing turn 1 "}, {"text", R"({"next": "ANSWER", "brief": "easy"})"}}.dump()
      << "\n";
  for (int i = 0; i < 6; ++i)  // the riddle is tried again and again
    for (auto& g : kGoals)
      if (!g.answer.empty())
        s << json{{"persona", "ALFRED"}, {"match", "Task: " + g.task}, {"text", g.answer}}.dump() << "\n";
  for (int i = 0; i < 6; ++i)
    for (auto& g : kGoals)
      if (!g.answer.empty())
        s << json{{"persona", "ALFRED"}, {"match", "Task:\n" + g.task}, {"text", judge_scores(g.family == "riddles" ? 2 : 5)}}
                 .dump()
          << "\n";
  s << json{{"persona", "ROBIN"}, {"match", "Score the grace"}, {"text", R"({"score": 4, "why": "kind and clear"})"}}.dump()
    << "\n";
  s << json{{"persona", "BRICK"}, {"match", "Score the justice"}, {"text", R"({"score": 5, "why": "right"})"}}.dump() << "\n";
  s << json{{"match", "Write `def double"}, {"text", "```python\ndef double(x):\n    return x * 2\n```"}}.dump() << "\n";
  return f;
}

// Slow goals: BRICK's code sleeps in the sandbox, so a signal lands in the middle of a run.
fs::path slow_script(const TempDir& d) {
  fs::path f = d / "slow.jsonl";
  std::ofstream s(f);
  json goals = json::array();
  for (std::string w : {"alpha", "omega"})
    goals.push_back({{"family", w}, {"task", "Print the word " + w + " slowly."}, {"test", "assert '" + w + "' in answer"}});
  // The judgements first: their prompts name the goal, which later lines match too.
  s << json{{"persona", "ROBIN"}, {"match", "Score the grace"}, {"text", R"({"score": 4, "why": "kind"})"}}.dump() << "\n";
  s << json{{"persona", "BRICK"}, {"match", "Score the justice"}, {"text", R"({"score": 4, "why": "right"})"}}.dump() << "\n";
  s << json{{"persona", "ALFRED"}, {"match", "Propose "}, {"text", json{{"goals", goals}}.dump()}}.dump() << "\n";
  s << json{{"persona", "ALFRED"}, {"match", "routing turn 1 "}, {"text", R"({"next": "BRICK", "brief": "print it"})"}}.dump()
    << "\n";
  s << json{{"persona", "ALFRED"}, {"match", "routing turn 2 "}, {"text", R"({"next": "ANSWER", "brief": "done"})"}}.dump()
    << "\n";
  for (std::string w : {"alpha", "omega"}) {
    s << json{{"persona", "BRICK"}, {"match", "word " + w}, {"text", "```python\nimport time\ntime.sleep(1.5)\nprint('" + w + "')\n```"}}
             .dump()
      << "\n";
    s << json{{"persona", "ALFRED"}, {"match", "Task: Print the word " + w}, {"text", w + ", printed."}}.dump() << "\n";
  }
  // A person's run on the service: BRICK prints 4.
  s << json{{"persona", "BRICK"}, {"match", "2 + 2"}, {"text", "```python\nimport time\ntime.sleep(3)\nprint(2 + 2)\n```"}}
           .dump()
    << "\n";
  s << json{{"persona", "ALFRED"}, {"match", "Task: What is 2 + 2"}, {"text", "4."}}.dump() << "\n";
  s << json{{"persona", "ROBIN"}, {"match", "BRICK's work"}, {"text", R"({"verdict": "accept", "reasons": "fine"})"}}.dump()
    << "\n";
  return f;
}

// Reads the child's stdout until it wrote one of `what` (or ended); returns what it read.
std::string read_until(int fd, const std::vector<std::string>& what) {
  std::string got;
  char buf[512];
  auto seen = [&] {
    for (auto& w : what)
      if (got.find(w) != std::string::npos) return true;
    return false;
  };
  while (!seen()) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

class LiveCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v bwrap >/dev/null") != 0) GTEST_SKIP() << "bubblewrap is not installed";
    fs::permissions(d.path, fs::perms::others_exec, fs::perm_options::add);  // the sandbox user reaches the workspace
    img = d / "day.a4ps";
    ASSERT_EQ(a4ps("image init " + q(img)).code, 0);
    spec = "scripted:" + write_script(d).string();
  }
  // kill -9 the live process a random while after it got going, then `image check` the image.
  void kill_and_check(pid_t pid, int fd, std::mt19937& rng, int lo_ms, int hi_ms) {
    int ms = std::uniform_int_distribution<int>(lo_ms, hi_ms)(rng);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    close(fd);
    auto c = a4ps("image check " + q(img));
    EXPECT_EQ(c.code, 0) << "killed after " << ms << " ms: " << c.out << c.err;
  }
  TempDir d;
  fs::path img;
  std::string spec;
};

TEST_F(LiveCli, ADayOfGoalsScoredLearnedAndProposedWithNoSelfChange) {
  auto t0 = std::chrono::steady_clock::now();
  // (The learning cycle tries the new adapter on one of the day's goals, the GGUF's turns
  // capped by --max-tokens, which the scripted model ignores: each such trial on random
  // weights is a few seconds of routing and critiques.)
  json r = a4ps_json("live " + q(img) + " --model " + q(spec) + " --sandbox bwrap --seed 7 --attempts 6 --learn-every 3" +
                     " --max-tokens 24 --compare-goals 1 --train-min-new 4 --train-model " +
                     q(model("synthetic-llama-tiny.gguf")) +
                     " --budget wall=3600,tokens=1000000,sandbox=600,forges=2");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("live day: %d attempts (%d passed), %d goals set, %d vetoed, %d trained, %zu proposals, %.1f s\n",
              r["attempts"].get<int>(), r["passed"].get<int>(), r["generated"].get<int>(), r["vetoed"].get<int>(),
              r["trained"].get<int>(), r["proposals"].size(), secs);
  EXPECT_EQ(r["attempts"], 6);
  EXPECT_EQ(r["stopped"], "attempts");
  EXPECT_EQ(r["generated"], 4);
  EXPECT_EQ(r["vetoed"], 2);
  EXPECT_EQ(r["passed"], 3);  // arithmetic, words and tools; the riddle never

  json goals = a4ps_json("goals ls " + q(img));
  ASSERT_EQ(goals.size(), 6u);  // the second arithmetic goal was too like the first
  std::map<std::string, json> by;
  for (auto& g : goals) by[g["family"]] = g;
  EXPECT_EQ(by["arithmetic"]["status"], "achieved");
  EXPECT_EQ(by["words"]["status"], "achieved");
  EXPECT_EQ(by["tools"]["status"], "achieved");
  EXPECT_EQ(by["riddles"]["status"], "open");
  EXPECT_EQ(by["riddles"]["attempts"], 3);
  EXPECT_EQ(by["web"]["status"], "vetoed");
  EXPECT_NE(by["web"]["veto"].get<std::string>().find("sandbox-offline"), std::string::npos) << by["web"];
  EXPECT_EQ(by["self"]["status"], "vetoed");
  EXPECT_NE(by["self"]["veto"].get<std::string>().find("approved-tools"), std::string::npos) << by["self"];
  EXPECT_EQ(by["web"]["attempts"], 0);

  // Each attempt: the test ran in the sandbox, and the reward has all its parts.
  json show = a4ps_json("goals show " + q(img) + " " + std::to_string(by["arithmetic"]["id"].get<int64_t>()));
  ASSERT_EQ(show["attempts"].size(), 1u);
  json a = show["attempts"][0];
  EXPECT_EQ(a["passed"], true);
  EXPECT_EQ(a["detail"]["test"], "passed");
  EXPECT_DOUBLE_EQ(a["grace"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(a["justice"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(a["codex"].get<double>(), 1.0);
  EXPECT_GT(a["reward"].get<double>(), 0.8);
  json riddle = a4ps_json("goals show " + q(img) + " " + std::to_string(by["riddles"]["id"].get<int64_t>()));
  EXPECT_NE(riddle["attempts"][0]["detail"]["test"].get<std::string>().find("AssertionError"), std::string::npos)
      << riddle["attempts"][0];
  EXPECT_LT(riddle["attempts"][0]["reward"].get<double>(), 0.6);

  // Choices carry their reasons; the vetoes and the schedule are logged too.
  json log = a4ps_json("goals log " + q(img) + " -n 500");
  int chooses = 0, vetoes = 0, similar = 0;
  bool proposed_adapter = false, forged = false;
  for (auto& x : log) {
    std::string k = x["kind"], why = x["reason"];
    chooses += k == "choose";
    vetoes += k == "veto";
    similar += k == "similar";
    if (k == "choose") {
      EXPECT_FALSE(why.empty());
    }
    proposed_adapter |= k == "schedule" && why.find("better, proposed") != std::string::npos;
    forged |= k == "forge" && why.find("waits for a human") != std::string::npos;
  }
  EXPECT_EQ(chooses, 6);
  EXPECT_EQ(vetoes, 2);
  EXPECT_EQ(similar, 1);
  EXPECT_TRUE(forged);
  EXPECT_TRUE(proposed_adapter) << log.dump(1);

  // Families and their competence curves.
  json fams = a4ps_json("goals families " + q(img));
  bool riddles_seen = false;
  for (auto& f : fams)
    if (f["family"] == "riddles") {
      riddles_seen = true;
      EXPECT_EQ(f["successes"], 0);
      EXPECT_EQ(f["attempts"], 3);
    }
  EXPECT_TRUE(riddles_seen);
  ASSERT_EQ(a4ps("goals curves " + q(img) + " -o " + q(d / "curves.svg")).code, 0);
  EXPECT_NE(read_file(d / "curves.svg").find("riddles (3)"), std::string::npos);

  // What waits for a human: the forged tool and the adapter. Nothing changed by itself.
  json pending = a4ps_json("approvals ls " + q(img));
  std::set<std::string> kinds;
  for (auto& p : pending) kinds.insert(p["kind"].get<std::string>());
  EXPECT_TRUE(kinds.count("tool.register")) << pending;
  EXPECT_TRUE(kinds.count("adapter.activate")) << pending;
  // The adapter's proposal shows how it was compared with the active one (none here):
  // held-out loss, the goal tests it touched, run both ways, and the probe answers.
  for (auto& p : pending)
    if (p["kind"] == "adapter.activate") {
      const std::string id = std::to_string(p["id"].get<int64_t>());
      json m = a4ps_json("approvals show " + q(img) + " " + id)["payload"]["metrics"]["live_comparison"];
      EXPECT_EQ(m["goal_tests_passed"]["goals"], 1) << m;
      EXPECT_EQ(m["goal_tests_passed"]["against"], "the base") << m;
      EXPECT_EQ(m["probes"].size(), 1u) << m;
      auto shown = a4ps("approvals show " + q(img) + " " + id);
      std::printf("%s", shown.out.c_str());
      EXPECT_NE(shown.out.find("goal tests: "), std::string::npos) << shown.out;
      EXPECT_NE(shown.out.find("  probe: "), std::string::npos) << shown.out;
    }
  EXPECT_EQ(a4ps_json("tool ls " + q(img)).size(), 0u);
  {
    auto im = image::Image::open(img, {.read_only = true});
    EXPECT_TRUE(im.list(image::Kind::Adapter).empty());
  }
  // And the image refuses to apply any of them without a person's yes.
  for (auto& p : pending) {
    auto res = a4ps("approvals apply " + q(img) + " " + std::to_string(p["id"].get<int64_t>()));
    EXPECT_NE(res.code, 0);
    EXPECT_EQ(std::count(res.err.begin(), res.err.end(), '\n'), 1) << res.err;
  }
  EXPECT_EQ(a4ps_json("tool ls " + q(img)).size(), 0u);

  json budget = a4ps_json("goals budget " + q(img));
  EXPECT_EQ(budget["budget"]["forges_per_day"], 2);
  EXPECT_EQ(budget["today"]["forges"], 1);
  EXPECT_GT(budget["today"]["tokens"].get<int64_t>(), 0);
  EXPECT_GT(budget["today"]["sandbox_s"].get<double>(), 0);
  EXPECT_EQ(a4ps("image check " + q(img)).code, 0);
}

TEST_F(LiveCli, TheBudgetInTheImageStopsIt) {
  // A day whose sandbox time is already spent after the first attempt.
  json r = a4ps_json("live " + q(img) + " --model " + q(spec) + " --sandbox bwrap --seed 1 --learn-every 0" +
                     " --budget wall=3600,tokens=1000000,sandbox=0.01,forges=0");
  EXPECT_EQ(r["stopped"], "budget");
  EXPECT_EQ(r["attempts"], 1);
  json again = a4ps_json("live " + q(img) + " --model " + q(spec) + " --sandbox bwrap --learn-every 0");
  EXPECT_EQ(again["stopped"], "budget");  // the budget lives in the image
  EXPECT_EQ(again["attempts"], 0);
  EXPECT_EQ(again["budget"]["sandbox_s_per_day"], 0.01);
}

TEST_F(LiveCli, BadInputGivesOneClearLine) {
  auto one = [](const RunResult& r) {
    EXPECT_NE(r.code, 0);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    return r.err;
  };
  EXPECT_NE(one(a4ps("live " + q(img) + " --budget wall=abc")).find("--budget"), std::string::npos);
  EXPECT_NE(one(a4ps("goals show " + q(img) + " 42")).find("a4ps goals ls"), std::string::npos);
  EXPECT_NE(one(a4ps("goals pause " + q(img) + " nosuch")).find("no goal or family"), std::string::npos);
  EXPECT_NE(one(a4ps("goals ls " + q(img) + " --status odd")).find("unknown goal status"), std::string::npos);
  EXPECT_NE(one(a4ps("goals curves " + q(img) + " -o " + q(d / "c.svg"))).find("no attempts"), std::string::npos);
  EXPECT_FALSE(fs::exists(d / "c.svg"));
  EXPECT_EQ(a4ps("image check " + q(img)).code, 0);
}

TEST_F(LiveCli, PauseAndResumeAFamily) {
  ASSERT_EQ(a4ps("goals generate " + q(img) + " --model " + q(spec)).code, 0);
  json p = a4ps_json("goals pause " + q(img) + " words");
  EXPECT_EQ(p["changed"], 1);
  json r = a4ps_json("live " + q(img) + " --model " + q(spec) + " --sandbox bwrap --seed 3 --attempts 6 --learn-every 0");
  for (auto& d : r["decisions"])
    if (d["kind"] == "choose") {
      EXPECT_NE(d["family"], "words");
    }
  for (auto& g : a4ps_json("goals ls " + q(img)))
    if (g["family"] == "words") {
      EXPECT_EQ(g["status"], "paused");
      EXPECT_EQ(g["attempts"], 0);
    }
  EXPECT_EQ(a4ps_json("goals resume " + q(img) + " words")["changed"], 1);
  EXPECT_EQ(a4ps_json("goals ls " + q(img) + " --status open").size(), 2u);  // words and the riddle
}

TEST_F(LiveCli, CtrlCStopsAtTheNextStepAndTheAttemptResumesFromItsCheckpoint) {
  const std::string slow = "scripted:" + slow_script(d).string();
  auto [pid, fd] = spawn_piped({A4PS_BIN, "live", img.string(), "--model", slow, "--sandbox", "bwrap", "--seed", "2",
                                "--learn-every", "0", "--attempts", "1"});
  ASSERT_GT(pid, 0);
  std::string out = read_until(fd, {"choose"});
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // BRICK's code is sleeping in the sandbox
  kill(pid, SIGINT);
  out += read_until(fd, {"ended:"});
  close(fd);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st)) << out;
  EXPECT_EQ(WEXITSTATUS(st), 0) << out;
  EXPECT_NE(out.find("preempt"), std::string::npos) << out;
  EXPECT_NE(out.find("ended: stopped"), std::string::npos) << out;
  EXPECT_EQ(a4ps("image check " + q(img)).code, 0);

  // The next run goes on from the checkpoint: BRICK's step is not run again.
  json r = a4ps_json("live " + q(img) + " --model " + q(slow) + " --sandbox bwrap --seed 2 --learn-every 0 --attempts 2");
  EXPECT_EQ(r["resumed"], 1);
  EXPECT_EQ(r["passed"], 2) << r.dump(1);
  int brick_steps = 0;
  for (auto& g : a4ps_json("goals ls " + q(img))) {
    EXPECT_EQ(g["status"], "achieved");
    json t = a4ps_json("thread transcript " + q(img) + " " + g["thread"].get<std::string>());
    if (t.is_object()) t = t.value("transcript", t.value("turns", json::array()));
    for (auto& turn : t) brick_steps += turn.value("persona", "") == "BRICK" && turn.value("kind", "") == "act";
  }
  EXPECT_EQ(brick_steps, 2);  // one act per goal, the interrupted one included
}

TEST_F(LiveCli, KilledAtRandomPointsTheImageStaysSoundAndTheDayResumes) {
  const std::string slow = "scripted:" + slow_script(d).string();
  std::mt19937 rng(5);
  for (int round = 0; round < 4; ++round) {
    auto [pid, fd] = spawn_piped({A4PS_BIN, "live", img.string(), "--model", slow, "--sandbox", "bwrap", "--seed", "4",
                                  "--learn-every", "0", "--attempts", "1"});
    ASSERT_GT(pid, 0);
    read_until(fd, {round % 2 ? "choose" : "generate", "resume"});
    kill_and_check(pid, fd, rng, 0, 1800);
  }
  json r = a4ps_json("live " + q(img) + " --model " + q(slow) + " --sandbox bwrap --seed 4 --learn-every 0 --attempts 4");
  EXPECT_EQ(a4ps_json("goals ls " + q(img) + " --status achieved").size(), 2u) << r.dump(1);
  EXPECT_EQ(a4ps("image check " + q(img)).code, 0);
}

TEST_F(LiveCli, ServeLiveYieldsToAUsersRunAndResumesAfterIt) {
  const std::string slow = "scripted:" + slow_script(d).string();
  Server srv(img, {"--live", "--live-pause", "1", "--model", slow, "--sandbox", "bwrap"});
  auto decisions = [&] {
    auto r = a4ps("--json goals log " + q(img) + " -n 500");
    return r.code == 0 ? json::parse(r.out, nullptr, false) : json::array();
  };
  auto has = [&](const json& log, const std::string& kind) {
    for (auto& x : log)
      if (x.is_object() && x.value("kind", "") == kind) return true;
    return false;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!has(decisions(), "choose") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(has(decisions(), "choose")) << srv.log;
  // A person's run arrives while BRICK's live code sleeps in the sandbox.
  auto c = srv.client();
  auto res = c.Post("/threads/u1/runs/wait", json{{"input", "What is 2 + 2?"}, {"if_not_exists", "create"}}.dump(),
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_NE(res->body.find("4."), std::string::npos) << res->body;
  // The live attempt stopped before its next step, then went on from its checkpoint.
  while (a4ps_json("goals ls " + q(img) + " --status achieved").size() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  json log = decisions();
  EXPECT_TRUE(has(log, "preempt")) << log.dump(1);
  EXPECT_TRUE(has(log, "resume")) << log.dump(1);
  EXPECT_EQ(a4ps_json("goals ls " + q(img) + " --status achieved").size(), 2u) << log.dump(1) << srv.log;
  EXPECT_EQ(srv.terminate(), 0) << srv.log;
  EXPECT_EQ(a4ps("image check " + q(img)).code, 0);
}

// The same day on a synthetic GGUF (random weights: its answers are noise, so the goals'
// tests fail and the judgements are whatever the constrained JSON says): the day's wall
// budget holds, kill -9 at random points leaves an image that checks and resumes.
TEST_F(LiveCli, OnASyntheticGgufTheDayStaysWithinItsBudgetAndSurvivesKill9) {
  ASSERT_EQ(a4ps("goals generate " + q(img) + " --model " + q(spec)).code, 0);  // the scripted goals
  const std::string gguf = model("synthetic-llama-tiny.gguf").string();
  std::mt19937 rng(11);
  for (int round = 0; round < 3; ++round) {
    auto [pid, fd] = spawn_piped({A4PS_BIN, "live", img.string(), "--model", gguf, "--sandbox", "bwrap", "--seed", "5",
                                  "--max-tokens", "24", "--learn-every", "2", "--train-model", gguf, "--train-epochs", "2",
                                  "--budget", "wall=600,tokens=1000000,sandbox=600,forges=1"});
    ASSERT_GT(pid, 0);
    read_until(fd, {"choose", "resume"});  // an attempt starts
    kill_and_check(pid, fd, rng, 50, 2500);
  }
  // Today's wall time so far, then a budget a few seconds above it.
  double used = a4ps_json("goals budget " + q(img))["today"]["wall_s"].get<double>();
  const double allowance = 12;
  auto t0 = std::chrono::steady_clock::now();
  const std::string started = now_utc();
  json r = a4ps_json("live " + q(img) + " --model " + q(gguf) + " --sandbox bwrap --seed 5 --max-tokens 24 --learn-every 2" +
                     " --train-model " + q(gguf) + " --train-epochs 2 --budget wall=" + std::to_string(used + allowance) +
                     ",tokens=1000000,sandbox=600,forges=1");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double wall = r["usage"]["wall_s"].get<double>();
  std::printf("GGUF day: %d attempts (%d passed, %d pre-empted, %d resumed), %lld tokens, sandbox %.1f s, wall %.1f s of %.1f s"
              " budget (this run %.1f s), ended: %s\n",
              r["attempts"].get<int>(), r["passed"].get<int>(), r["preempted"].get<int>(), r["resumed"].get<int>(),
              static_cast<long long>(r["usage"]["tokens"].get<int64_t>()), r["usage"]["sandbox_s"].get<double>(), wall,
              used + allowance, secs, r["stopped"].get<std::string>().c_str());
  EXPECT_EQ(r["stopped"], "budget") << r.dump(1);
  EXPECT_GE(r["resumed"].get<int>(), 1);  // the attempt the last kill cut short went on
  // Checked before every graph step: past the budget by at most the longest step of this run
  // (the time between two checkpoints of a goal's thread) and the attempt's closing.
  auto secs_of = [](const std::string& ts) {  // seconds into the day of an ISO-8601 time
    return std::stod(ts.substr(11, 2)) * 3600 + std::stod(ts.substr(14, 2)) * 60 + std::stod(ts.substr(17, 6));
  };
  double longest = 0;
  for (auto& g : a4ps_json("goals ls " + q(img))) {
    if (g["thread"].get<std::string>().empty()) continue;
    std::vector<double> at = {secs_of(started)};
    for (auto& c : a4ps_json("thread history " + q(img) + " " + g["thread"].get<std::string>()))
      if (c["created_at"].get<std::string>() >= started) at.push_back(secs_of(c["created_at"]));
    std::sort(at.begin() + 1, at.end());
    for (size_t i = 1; i < at.size(); ++i) longest = std::max(longest, at[i] - at[i - 1]);
  }
  std::printf("GGUF day: longest graph step %.1f s; past the budget by %.1f s\n", longest, wall - used - allowance);
  EXPECT_LE(wall, used + allowance + longest + 2.0);
  EXPECT_EQ(a4ps("image check " + q(img)).code, 0);
  EXPECT_EQ(a4ps_json("tool ls " + q(img)).size(), 0u);  // nothing registered without a person
  auto im = image::Image::open(img, {.read_only = true});
  EXPECT_TRUE(im.list(image::Kind::Adapter).empty());
}

TEST_F(LiveCli, GoalsAreComparedByEmbeddingsWhereAModelCanEmbed) {
  // The synthetic GGUF's embeddings are random projections, so only the near-copy is sure to
  // be dropped; the point is that the filter uses them when a model can embed.
  json r = a4ps_json("goals generate " + q(img) + " --model " + q(spec) + " --embed-model " +
                     q(model("synthetic-llama-tiny.gguf")));
  EXPECT_EQ(r["similarity"].get<std::string>().rfind("embeddings (", 0), 0u) << r;
  bool near_copy = false;
  for (auto& s : r["skipped"]) near_copy |= s.get<std::string>().find("Compute 17 times 23") != std::string::npos;
  EXPECT_TRUE(near_copy) << r;
  json t = a4ps_json("goals generate " + q(img) + " --model " + q(spec) + " --embed-model " + q(spec));
  EXPECT_EQ(t["similarity"], "text");  // the scripted fake cannot embed: text similarity
  // The same goals again: those added the first time are each too like themselves now;
  // only ones the random embeddings had dropped can be new.
  for (auto& g : t["added"]) {
    bool dropped_before = false;
    for (auto& s : r["skipped"]) dropped_before |= s.get<std::string>().find(g["task"].get<std::string>()) != std::string::npos;
    EXPECT_TRUE(dropped_before) << g;
  }
  EXPECT_EQ(t["added"].size() + t["skipped"].size(), 7u);
}

}  // namespace
}  // namespace a4ps::test
