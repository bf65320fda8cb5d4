// Live mode through the public API, as the CLI and the service use it.
//
// The loop closes on a measurable skill (issue 17's last Must-show). On a tiny synthetic
// GGUF (random weights) and one narrow goal family whose answers a test can check — turn
// a request about a list `xs` into one Python call — the agent's own cycle runs:
//   1. ALFRED (the scripted model as the teacher: a fake, named so) proposes practice goals,
//      each with its Python test; the live loop attempts them, the test runs in the sandbox,
//      the learning cycle judges the threads (the teacher is the judge: a random-weight
//      model's judgement would be noise), grows ALFRED's golden set, trains his adapter on
//      the synthetic GGUF and proposes it;
//   2. held-out goals (wordings never practised) are attempted by the GGUF model without
//      the adapter;
//   3. a person approves the proposal (decide + apply, the public governance API);
//   4. the same held-out goals are attempted again by the GGUF model, now with its adapter.
// Success on the held-out goals is their own tests' verdict in the sandbox, before and
// after, plotted. Random weights say nothing about general quality: the point is that the
// adapter the agent made for itself changes what it does on goals it never practised.
//
// Then: a day's token budget holds within one step of an attempt, and a new adapter is
// compared with the active one on the same held-out examples (a worse one is not proposed).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>

#include <gtest/gtest.h>

#include "a4ps/governance.h"
#include "a4ps/learn.h"
#include "a4ps/live.h"
#include "a4ps/memory.h"
#include "a4ps/session.h"
#include "a4ps/threads.h"
#include "api/api_test_util.h"
#include "live/curves.h"
#include "util/util.h"

namespace a4ps::apitest {
namespace {

// One request, many wordings: how many items the list xs holds, as one Python call
// (len(xs)). The practice wordings and the held-out ones share no request.
//
// Why one call and not a choice among several: on this base (64 wide, 2 layers, random
// weights) an adapter trained for a few hundred steps learned the answer's shape but not
// to pick max/min/sum/len/sorted by a key word in new wordings (0 of 20 held-out goals,
// measured while writing this test); that needs attention the random layers do not give.
const char* kPractice[] = {"How many numbers are in xs? Give one Python call.",
                           "Write one Python call that counts the items of xs.",
                           "Count the elements of the list xs with a single call.",
                           "I need the number of values in xs: give the call.",
                           "Turn this into one Python call: how long is the list xs?",
                           "One call, please: the count of entries in xs.",
                           "Give me the length of xs as a single Python call.",
                           "Which Python call tells how many items xs holds?",
                           "What call gives the size of the list xs?",
                           "Say in one Python call how many elements xs has.",
                           "Count xs for me with one call.",
                           "The number of items in xs, as one Python expression.",
                           "Tell me the call that returns how many values xs contains.",
                           "Find the length of the list xs using one call.",
                           "Express the count of xs as a single Python call.",
                           "How long is xs? Answer with one call."};
const char* kHeldOut[] = {"What single Python call returns how many numbers xs holds?",
                          "Please write the call that computes the length of the list xs.",
                          "Show the one call that counts xs, nothing else.",
                          "xs holds some numbers; which call yields how many there are?",
                          "Give the Python call for the number of elements in xs.",
                          "How many entries does the list xs have? One call only.",
                          "Write the single expression that measures the size of xs.",
                          "Return the count of the items in xs with one Python call.",
                          "In one call: how many values are stored in xs?",
                          "Which one call counts the members of the list xs?"};

struct Goal {
  std::string task, call, test;
};
std::vector<Goal> goals_of(const std::vector<const char*>& wordings) {
  std::vector<Goal> out;
  for (size_t i = 0; i < wordings.size(); ++i) {
    // The goal's check: the answer, run as Python on a list of its own, gives its length
    // (so a bare number never passes).
    std::string test = "xs = list(range(" + std::to_string(3 + i % 5) + ", 20, 3))\n"
                       "assert eval(answer.strip(), {'xs': xs}) == len(xs), answer\n";
    out.push_back({wordings[i], "len(xs)", test});
  }
  return out;
}

json goals_json(const std::vector<Goal>& gs, const std::string& title) {
  json a = json::array();
  for (size_t i = 0; i < gs.size(); ++i)
    a.push_back({{"family", "count-call"}, {"title", title + " " + std::to_string(i + 1)}, {"task", gs[i].task},
                 {"test", gs[i].test}, {"source", "the teacher's exercises"}});
  return {{"goals", a}};
}

// The teacher (the scripted backend, a fake): ALFRED proposes the practice goals and then
// the held-out ones, routes each practice task straight to his answer, answers it right,
// and, as the oracle, judges each thread well; ROBIN and BRICK score each attempt.
std::string teacher(const fs::path& dir, const std::vector<Goal>& practice, const std::vector<Goal>& held) {
  fs::path f = dir / "teacher.jsonl";
  std::ofstream s(f);
  auto line = [&](const std::string& persona, const std::string& match, const std::string& text) {
    json j = {{"match", match}, {"text", text}};
    if (!persona.empty()) j["persona"] = persona;
    s << j.dump() << "\n";
  };
  // (Each backend reads the script afresh: the second proposal is told apart by its prompt,
  // which lists the goals set before.)
  line("ALFRED", "Goals set before", goals_json(held, "held-out").dump());
  line("ALFRED", "Propose ", goals_json(practice, "practice").dump());
  for (size_t i = 0; i < practice.size(); ++i)
    // Written as the JSON-schema grammar has the model write it (keys in its order), so the
    // route the adapter learns is one the grammar lets it say.
    line("ALFRED", "routing turn 1 ", R"({"brief": "one call answers it","next": "ANSWER"})");
  for (auto& g : practice) line("ALFRED", "Task: " + g.task + "\n\nWhat the others did", g.call);
  const std::string five = json{{"task_success", 5}, {"correctness", 5}, {"grace", 5}, {"justice", 5},
                                {"codex_adherence", 5}, {"rationale", "the teacher's judgement: the call is right"}}
                               .dump();
  for (size_t i = 0; i < practice.size(); ++i) line("", "Transcript:", five);
  for (size_t i = 0; i < practice.size(); ++i) {
    line("ROBIN", "Score the grace", R"({"score": 4, "why": "plain and fitting"})");
    line("BRICK", "Score the justice", R"({"score": 5, "why": "the test passed"})");
  }
  return "scripted:" + f.string();
}

// The running success rate over the held-out goals, after each one.
// A golden set of `n` (at most 12) examples, one reply to every question: what a quick
// adapter learns well (ALFRED's, in the schedule tests).
fs::path blue_river_golden(const fs::path& dir, int n) {
  const char* topics[] = {"the weather", "a recipe", "the time", "my keys", "a poem", "the news",
                          "a number",    "the sea",  "a song",   "the road", "a book", "the stars"};
  fs::path f = dir / "golden.jsonl";
  std::ofstream s(f);
  for (int i = 0; i < n && i < 12; ++i)
    s << json{{"messages", {{{"role", "user"}, {"content", std::string("Tell me about ") + topics[i] + "."}},
                            {{"role", "assistant"}, {"content", "Blue seven river, blue seven river."}}}}}
             .dump()
      << "\n";
  return f;
}

// The scripted model (a fake) for one goal, "say ok", that ALFRED answers at once.
fs::path say_ok_script(const fs::path& dir) {
  fs::path f = dir / "one.jsonl";
  std::ofstream s(f);
  json goal = {{"family", "words"}, {"title", "say ok"}, {"task", "Say ok."}, {"test", "assert 'ok' in answer"}};
  s << json{{"persona", "ALFRED"}, {"match", "Propose "}, {"text", json{{"goals", {goal}}}.dump()}}.dump() << "\n";
  s << json{{"persona", "ALFRED"}, {"match", "routing turn"}, {"text", R"({"brief": "easy","next": "ANSWER"})"}}.dump()
    << "\n";
  s << json{{"persona", "ALFRED"}, {"match", "Write the answer"}, {"text", "ok"}}.dump() << "\n";
  return f;
}

// The learning cycle's newest decision on an adapter it trained (a copy: the log goes).
std::optional<LiveDecision> trained_decision(const Image& img) {
  std::optional<LiveDecision> out;
  for (auto& x : live_decisions(img, 100))
    if (x.kind == "schedule" && x.reason.find(" trained: ") != std::string::npos) out = x;
  return out;
}

std::vector<double> running_rate(const std::vector<bool>& passed) {
  std::vector<double> out;
  int n = 0;
  for (size_t i = 0; i < passed.size(); ++i) out.push_back((n += passed[i]) / static_cast<double>(i + 1));
  return out;
}

TEST(LiveSkill, TheAgentsOwnAdapterRaisesHeldOutSuccess) {
  if (std::system("command -v bwrap >/dev/null") != 0) GTEST_SKIP() << "bubblewrap is not installed";
  setenv("A4PS_MODEL", "", 1);
  test::TempDir d;
  fs::permissions(d.path, fs::perms::others_exec, fs::perm_options::add);  // the sandbox user reaches the workspace
  // The tiny shape with a wider unembedding (--output-std 0.3): at the default 0.02 its
  // logits span a fraction of a unit and no adapter can make one answer clearly likeliest.
  const std::string gguf = model("synthetic-llama-tiny-wideout.gguf").string();
  const auto practice = goals_of({std::begin(kPractice), std::end(kPractice)});
  const auto held = goals_of({std::begin(kHeldOut), std::end(kHeldOut)});
  const std::string teach = teacher(d.path, practice, held);
  const int n_practice = static_cast<int>(practice.size()), n_held = static_cast<int>(held.size());
  auto t0 = std::chrono::steady_clock::now();
  auto secs = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };

  Image img = Image::open((d / "skill.a4ps").string());
  set_live_budget(img, {.wall_s_per_day = 3600, .tokens_per_day = 100000000, .sandbox_s_per_day = 3600, .forges_per_day = 0});
  // Similar wordings are the point of this family: only exact repeats are dropped.
  auto gen = generate_goals(img, {.model = teach, .max_goals = n_practice, .max_similarity = 0.995});
  ASSERT_EQ(static_cast<int>(gen.added.size()), n_practice) << (gen.skipped.empty() ? "" : gen.skipped[0]);

  // 1. Practice with the teacher; the learning cycle runs once at the end of it.
  // (max_tokens caps the GGUF's turns in the cycle's goal trials; the teacher, a script, ignores it.)
  LiveReport a = run_live(img, {.model = teach, .sandbox = "bwrap", .max_tokens = 24, .max_attempts = n_practice, .seed = 1,
                                .learn_every = n_practice, .train_model = gguf, .train_min_new = 4, .train_epochs = 10,
                                .train_rank = 4, .train_lr = 1e-2f});
  std::printf("practice: %d attempts, %d passed, %d trained, %zu proposal(s) (%.1f s)\n", a.attempts, a.passed, a.trained,
              a.proposals.size(), secs());
  ASSERT_EQ(a.attempts, n_practice);
  ASSERT_EQ(a.passed, n_practice);
  ASSERT_EQ(a.trained, 1);
  ASSERT_EQ(a.proposals.size(), 1u);
  const int64_t proposal = a.proposals[0];
  EXPECT_EQ(show_proposal(img, proposal).info.kind, "adapter.activate");
  EXPECT_EQ(show_proposal(img, proposal).info.status, "pending");
  // The proposal carries the comparison for the person deciding: held-out loss, and the
  // goal tests of the goals ALFRED took part in (the newest three practice goals), run on
  // the GGUF with the new adapter and without one; the new adapter passes more of them.
  {
    json m = json::parse(show_proposal(img, proposal).metrics_json)["live_comparison"];
    std::printf("proposal #%lld's evidence: held-out loss %.4f against %.4f of %s\n", static_cast<long long>(proposal),
                m["loss"].get<double>(), m["against_loss"].get<double>(), m["against"].get<std::string>().c_str());
    for (auto& g : m["goal_tests"])
      std::printf("  goal %lld %-12s candidate %s (%s), without it %s (%s)\n", g["goal"].get<long long>(),
                  g["title"].get<std::string>().c_str(), g["candidate"]["passed"].get<bool>() ? "pass" : "fail",
                  g["candidate"]["answer"].get<std::string>().substr(0, 20).c_str(),
                  g["active"]["passed"].get<bool>() ? "pass" : "fail",
                  g["active"]["answer"].get<std::string>().substr(0, 20).c_str());
    for (auto& p : m["probes"])
      std::printf("  probe: %s\n    candidate: %s\n    without:   %s\n", p.value("prompt", "").c_str(),
                  p.value("candidate", "").substr(0, 60).c_str(), p.value("active", "").substr(0, 60).c_str());
    const json& n = m["goal_tests_passed"];
    EXPECT_EQ(n["goals"], 3) << n;
    EXPECT_EQ(n["against"], "the base") << n;
    EXPECT_GT(n["candidate"].get<int>(), n["active"].get<int>()) << n;
    EXPECT_EQ(m["probes"].size(), 3u) << m["probes"];
    // The trials are no attempts and their threads are never judged into golden sets.
    EXPECT_EQ(show_goal(img, m["goal_tests"][0]["goal"].get<int64_t>()).attempts.size(), 1u);
    const std::string trial = m["goal_tests"][0]["candidate"]["thread"];
    EXPECT_EQ(trial.rfind("live-trial-", 0), 0u) << trial;
    EXPECT_NE(error_of([&] { judge_threads(img, {}, {.model = teach, .all = true}); }).find("no finished, unjudged threads"),
              std::string::npos);
  }

  // 2. The held-out goals, attempted by the GGUF model as it is.
  gen = generate_goals(img, {.model = teach, .max_goals = n_held, .max_similarity = 0.995});
  ASSERT_EQ(static_cast<int>(gen.added.size()), n_held) << (gen.skipped.empty() ? "" : gen.skipped[0]);
  std::vector<int64_t> held_ids;
  for (auto& g : gen.added) held_ids.push_back(g.id);
  auto outcomes = [&](size_t round) {
    std::vector<bool> out;
    for (auto id : held_ids) {
      auto as = show_goal(img, id).attempts;
      // A goal passed in an earlier round is not tried again: it stays passed.
      out.push_back(as.size() > round ? as[round].passed : !as.empty() && as.back().passed);
    }
    return out;
  };
  const LiveOptions on_gguf{.model = gguf, .sandbox = "bwrap", .max_tokens = 24, .max_attempts = n_held, .seed = 2,
                            .learn_every = 0};
  LiveReport before = run_live(img, on_gguf);
  std::printf("held-out without the adapter: %d of %d passed (%.1f s)\n", before.passed, before.attempts, secs());
  ASSERT_EQ(before.attempts, n_held);

  // 3. A person reads the proposal and says yes.
  decide_proposal(img, proposal, true, "held-out loss fell; try it on the held-out goals", "tester");
  apply_proposal(img, proposal);

  // 4. The same held-out goals again, with the adapter the agent made.
  LiveReport after = run_live(img, {.model = gguf, .sandbox = "bwrap", .max_tokens = 24,
                                    .max_attempts = n_held - before.passed, .seed = 3, .learn_every = 0});
  auto b = outcomes(0), c = outcomes(1);
  const double rate_before = std::count(b.begin(), b.end(), true) / static_cast<double>(n_held);
  const double rate_after = std::count(c.begin(), c.end(), true) / static_cast<double>(n_held);
  std::printf("held-out success: %.0f%% without the adapter, %.0f%% with it (%d goals; %.1f s in all)\n",
              100 * rate_before, 100 * rate_after, n_held, secs());
  for (size_t i = 0; i < held.size(); ++i)
    std::printf("  %-62s %s %s\n", held[i].task.c_str(), b[i] ? "pass" : "fail", c[i] ? "pass" : "fail");
  for (auto& x : live_decisions(img, 400))
    if (x.kind == "schedule") std::printf("  schedule: %s\n", x.reason.c_str());

  std::string svg = live::curves_svg({{"without the adapter", running_rate(b)}, {"with its own adapter", running_rate(c)}},
                                     "Held-out goals (count xs in one Python call): success on a synthetic GGUF",
                                     "held-out goals attempted", "success rate");
  fs::path dir = A4PS_TEST_ARTEFACTS;
  fs::create_directories(dir);
  write_file(dir / "live_skill_before_after.svg", svg);
  std::printf("  plot: %s\n", (dir / "live_skill_before_after.svg").c_str());

  EXPECT_LE(rate_before, 0.10);
  EXPECT_GE(rate_after, 0.80);
  EXPECT_EQ(after.attempts, n_held - before.passed);
}

// A day's token budget holds within an attempt, not only between attempts: the scripted
// model (a fake: its tokens are bytes) routes to BRICK again and again, each turn a few
// hundred tokens; the attempt stops at the step where the budget is reached and resumes later.
TEST(LiveBudget, TokensHoldWithinOneStepOfAnAttempt) {
  setenv("A4PS_MODEL", "", 1);
  test::TempDir d;
  fs::path f = d / "chatty.jsonl";
  {
    std::ofstream s(f);
    json goal = {{"family", "essays"}, {"title", "long talk"}, {"task", "Explain lists at length."},
                 {"test", "assert answer"}};
    s << json{{"persona", "ALFRED"}, {"match", "Propose "}, {"text", json{{"goals", {goal}}}.dump()}}.dump() << "\n";
    for (int i = 0; i < 10; ++i) {  // each line answers once per session
      s << json{{"persona", "ALFRED"}, {"match", "routing turn"}, {"text", R"({"next": "BRICK", "brief": "say more"})"}}.dump()
        << "\n";
      s << json{{"persona", "BRICK"}, {"text", "1. " + std::string(300, 'x')}}.dump() << "\n";
      s << json{{"persona", "ROBIN"}, {"text", R"({"verdict": "accept", "reasons": "fine"})"}}.dump() << "\n";
    }
    s << json{{"persona", "ALFRED"}, {"text", "Lists hold things."}}.dump() << "\n";
  }
  Image img = Image::open((d / "b.a4ps").string());
  const int64_t budget = 1000;
  set_live_budget(img, {.wall_s_per_day = 3600, .tokens_per_day = budget, .sandbox_s_per_day = 600, .forges_per_day = 0});
  LiveReport r = run_live(img, {.model = "scripted:" + f.string(), .max_attempts = 3, .seed = 1, .learn_every = 0});
  EXPECT_EQ(r.stopped, "budget");
  EXPECT_EQ(r.attempts, 0);
  EXPECT_EQ(r.preempted, 1);
  // The turns of the cut attempt: none is larger than BRICK's (303 tokens) .
  int64_t biggest = 0;
  auto goals = list_goals(img);
  ASSERT_EQ(goals.size(), 1u);
  json tr = json::parse(thread_transcript_json(img, goals[0].thread));
  for (auto& t : tr) biggest = std::max<int64_t>(biggest, t.value("tokens", 0));
  std::printf("token budget %lld: used %lld in %zu turns (largest turn %lld)\n", static_cast<long long>(budget),
              static_cast<long long>(r.usage.tokens), tr.size(), static_cast<long long>(biggest));
  EXPECT_GE(r.usage.tokens, budget);
  EXPECT_LE(r.usage.tokens, budget + biggest);
  auto g = show_goal(img, goals[0].id);
  ASSERT_EQ(g.attempts.size(), 1u);
  EXPECT_EQ(g.attempts[0].status, "preempted");
  EXPECT_EQ(json::parse(g.attempts[0].detail_json)["why"], "the day's token budget is spent");
  bool logged = false;
  for (auto& x : live_decisions(img))
    logged |= x.kind == "budget" && x.reason.find("model tokens") != std::string::npos;
  EXPECT_TRUE(logged);
}

// The learning cycle compares a new adapter with the active one side by side: the active
// adapter is measured again on the new run's held-out examples. A new adapter trained too
// little to beat it is not proposed, and the schedule decision says why, with both figures.
TEST(LiveSchedule, AWorseAdapterThanTheActiveOneIsNotProposed) {
  setenv("A4PS_MODEL", "", 1);
  test::TempDir d;
  const std::string base = model("synthetic-llama-tiny.gguf").string();
  Image img = Image::open((d / "s.a4ps").string());
  ASSERT_EQ(import_golden(img, "ALFRED", blue_river_golden(d.path, 12).string()).added, 12);
  // A good adapter, approved and applied by a person.
  TrainAdapterOptions good{.persona = "ALFRED", .model = base, .rank = 4, .alpha = 8,
                           .targets = {"attn_q", "attn_v", "attn_output", "ffn_down"}, .lr = 1e-2f, .epochs = 15,
                           .threads = 1, .seed = 1};
  TrainedAdapter active = train_adapter(img, good);
  auto prop = propose_adapter_activation(img, "ALFRED", active.sha256);
  decide_proposal(img, prop.proposal, true, "it learned the phrase", "tester");
  apply_proposal(img, prop.proposal);

  // One goal, then the learning cycle trains a weak adapter (one epoch at a tiny rate).
  fs::path f = say_ok_script(d.path);
  LiveReport r = run_live(img, {.model = "scripted:" + f.string(), .sandbox = "bwrap", .max_attempts = 1, .seed = 1,
                                .learn_every = 1, .train_model = base, .train_min_new = 4, .train_epochs = 1,
                                .train_lr = 1e-5f});
  EXPECT_EQ(r.trained, 1);
  EXPECT_TRUE(r.proposals.empty());
  auto said = trained_decision(img);
  ASSERT_TRUE(said.has_value());
  std::printf("%s\n", said->reason.c_str());
  EXPECT_NE(said->reason.find("not better, not proposed"), std::string::npos) << said->reason;
  EXPECT_NE(said->reason.find("of the active adapter alfred-lora v1, measured now"), std::string::npos)
      << said->reason;
  json dj = json::parse(said->detail_json);
  EXPECT_EQ(dj["heldout_examples"], 3);
  // Both figures are kept: the active adapter, measured now, beats the new one and the base.
  EXPECT_LT(dj["against_loss"].get<double>(), dj["loss"].get<double>()) << dj;
  EXPECT_LT(dj["against_loss"].get<double>(), dj["base_loss"].get<double>() - 0.3) << dj;
  EXPECT_EQ(list_proposals(img, "pending").size(), 0u);
}

// ALFRED's turns on count-call tasks as golden examples (JSONL), with the exact prompts a
// fresh thread of a new image gives him: the teacher (the scripted model, a fake) routes each
// task to his answer and answers it right in a scratch image, and judges it well there.
fs::path count_call_examples(const fs::path& dir, const std::vector<Goal>& goals) {
  fs::path f = dir / "teacher-by-heart.jsonl";
  {
    std::ofstream s(f);
    const std::string five = json{{"task_success", 5}, {"correctness", 5}, {"grace", 5}, {"justice", 5},
                                  {"codex_adherence", 5}, {"rationale", "the call is right"}}
                                 .dump();
    for (auto& g : goals) {
      s << json{{"match", "\n\nTranscript:\n"}, {"text", five}}.dump() << "\n";
      s << json{{"persona", "ALFRED"}, {"match", "routing turn 1 "}, {"text", R"({"brief": "one call answers it","next": "ANSWER"})"}}
               .dump()
        << "\n";
      s << json{{"persona", "ALFRED"}, {"match", "Task: " + g.task + "\n\nWhat the others did"}, {"text", g.call}}.dump() << "\n";
    }
  }
  Image scratch = Image::open((dir / "teach.a4ps").string());
  const std::string teach = "scripted:" + f.string();
  Session s(scratch, {.model = teach});
  for (size_t i = 0; i < goals.size(); ++i) s.ask("teach-" + std::to_string(i), goals[i].task);
  judge_threads(scratch, {}, {.model = teach, .all = true});
  select_golden(scratch);
  auto ex = export_golden(scratch, "ALFRED");
  EXPECT_EQ(ex.examples, 2 * goals.size());  // his route and his answer
  fs::path out = dir / "count-call.jsonl";
  write_file(out, ex.jsonl);
  return out;
}

// An ALFRED adapter trained on those turns on the GGUF (stored inert), as the live skill
// test's cycle trains it (240 steps on the 16 practice goals' 24 training examples; on 8
// goals' turns for as many steps it had not learned them: held-out loss 2.9, not 0.16).
TrainedAdapter count_call_adapter(Image& img, const std::string& gguf, const fs::path& examples) {
  return train_adapter(img, {.persona = "ALFRED", .data_file = examples.string(), .model = gguf, .rank = 4, .alpha = 8,
                             .targets = {"attn_q", "attn_v", "attn_output", "ffn_down"}, .lr = 1e-2f, .epochs = 10,
                             .threads = 1, .seed = 1});
}
const std::vector<const char*> kByHeart(std::begin(kPractice), std::end(kPractice));

// A session may run a persona with an adapter that is not active (a training run nobody
// approved yet): read-only, for trials. On the GGUF, the adapter trained to answer the task
// with one call makes ALFRED answer it; without it the base says something else. The image's
// adapters, proposals and runs stay as they were.
TEST(SessionAdapters, APersonaRunsWithAnAdapterThatIsNotActive) {
  setenv("A4PS_MODEL", "", 1);
  test::TempDir d;
  const std::string gguf = model("synthetic-llama-tiny-wideout.gguf").string();
  const Goal g = goals_of(kByHeart)[0];
  const fs::path examples = count_call_examples(d.path, goals_of(kByHeart));
  Image img = Image::open((d / "s.a4ps").string());
  const TrainedAdapter cand = count_call_adapter(img, gguf, examples);
  const size_t runs = training_runs(img).size();

  Answer with = Session(img, {.model = gguf, .max_tokens = 24, .adapters = {{"ALFRED", cand.sha256}}}).ask("with", g.task);
  Answer without = Session(img, {.model = gguf, .max_tokens = 24}).ask("without", g.task);
  std::printf("with the candidate: '%s' (%zu turns); without: '%s' (%zu turns)\n", with.text.c_str(), with.turns.size(),
              without.text.c_str(), without.turns.size());
  for (auto& t : with.turns) std::printf("  with:    %s\n", render_turn(t).c_str());
  for (auto& t : without.turns) std::printf("  without: %s\n", render_turn(t).c_str());
  std::printf("  training loss %.3f -> %.3f, held-out %.3f -> %.3f (%d)\n", cand.train_loss_first, cand.train_loss_last,
              cand.heldout_loss_before, cand.heldout_loss_after, cand.heldout_examples);
  EXPECT_EQ(with.text.substr(with.text.find_first_not_of(' ')), g.call);  // (the model writes a space first)
  EXPECT_NE(without.text, with.text);
  int alfred = 0;
  for (auto& t : with.turns) {
    if (t.persona != "ALFRED") continue;
    ++alfred;
    EXPECT_EQ(t.adapter, "candidate " + cand.sha256.substr(0, 12)) << render_turn(t);
  }
  EXPECT_EQ(alfred, 2);  // his route and his answer
  for (auto& t : without.turns) EXPECT_EQ(t.adapter, "") << render_turn(t);
  // A prefix of the sha256, as `a4ps learn runs` prints it, names the same run.
  Answer prefix = Session(img, {.model = gguf, .max_tokens = 24, .adapters = {{"ALFRED", cand.sha256.substr(0, 12)}}})
                      .ask("prefix", g.task);
  EXPECT_EQ(prefix.text, with.text);
  for (auto& t : prefix.turns) {
    if (t.persona == "ALFRED") {
      EXPECT_EQ(t.adapter, "candidate " + cand.sha256.substr(0, 12));
    }
  }
  // "none" runs the persona without an adapter of its own.
  Answer none = Session(img, {.model = gguf, .max_tokens = 24, .adapters = {{"alfred", "none"}}}).ask("none", g.task);
  EXPECT_EQ(none.text, without.text);
  // Read-only: nothing became active, nothing was proposed, no run was added.
  EXPECT_TRUE(list_proposals(img, "").empty());
  EXPECT_EQ(training_runs(img).size(), runs);
  EXPECT_EQ(img.info().adapters, 0);

  // Bad overrides: one line each, naming the persona and what to do.
  const std::string other = model("synthetic-llama-tiny.gguf").string();
  EXPECT_NE(error_of([&] { Session(img, {.model = gguf, .adapters = {{"ALFRED", std::string(64, 'a')}}}); })
                .find("the adapter override for ALFRED names '" + std::string(64, 'a') + "', which is no training run"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Session(img, {.model = gguf, .adapters = {{"ALFRED", cand.sha256.substr(0, 5)}}}); })
                .find("give a training run's sha256 (at least its first 8 characters"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Session(img, {.model = gguf, .adapters = {{"NOBODY", cand.sha256}}}); })
                .find("persona 'NOBODY'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Session(img, {.model = other, .adapters = {{"ALFRED", cand.sha256}}}); })
                .find("was trained on another base than"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Session(img, {.model = "scripted:" + examples.string(), .adapters = {{"ALFRED", cand.sha256}}}); })
                .find("needs a local GGUF model"),
            std::string::npos);
}

// A session trying adapters is read-only in this too: a call to a missing function is not
// forged into a tool proposal (BRICK, the scripted model here, a fake, calls one).
TEST(SessionAdapters, ATrialForgesNothing) {
  if (std::system("command -v bwrap >/dev/null") != 0) GTEST_SKIP() << "bubblewrap is not installed";
  setenv("A4PS_MODEL", "", 1);
  test::TempDir d;
  fs::permissions(d.path, fs::perms::others_exec, fs::perm_options::add);  // the sandbox user reaches the workspace
  fs::path f = d / "calls.jsonl";
  {
    std::ofstream s(f);
    s << json{{"persona", "ALFRED"}, {"match", "routing turn 1 "}, {"text", R"({"brief": "compute it","next": "BRICK"})"}}.dump()
      << "\n";
    s << json{{"persona", "BRICK"}, {"text", "```python\nprint(double_it(2))\n```"}}.dump() << "\n";
    s << json{{"persona", "ROBIN"}, {"text", R"({"verdict": "accept", "reasons": "fine"})"}}.dump() << "\n";
    s << json{{"persona", "ALFRED"}, {"match", "routing turn 2 "}, {"text", R"({"brief": "done","next": "ANSWER"})"}}.dump()
      << "\n";
    s << json{{"persona", "ALFRED"}, {"match", "Write the answer"}, {"text", "4"}}.dump() << "\n";
  }
  Image img = Image::open((d / "f.a4ps").string());
  Answer a = Session(img, {.model = "scripted:" + f.string(), .sandbox = "bwrap", .adapters = {{"ROBIN", "none"}}})
                 .ask("trial", "Double 2.");
  EXPECT_EQ(a.status, RunStatus::Done);
  bool called = false;
  for (auto& t : a.turns)
    if (t.kind == "act") {
      called = t.ran_code && t.code_error_type == "NameError";
      EXPECT_FALSE(t.forged) << render_turn(t);
    }
  EXPECT_TRUE(called);
  EXPECT_TRUE(list_proposals(img, "").empty());
}

// The learning cycle proposes a new adapter only when it passes at least as many of the
// goal tests it touches as the active adapter, however much better its held-out loss.
// Engineered (named so): the active adapter learned the one practice goal's answer by heart;
// the golden set the cycle trains on is a dozen imported "Blue seven river" replies, so the
// new adapter wins on held-out loss (those replies) and loses on the goal.
TEST(LiveSchedule, BetterHeldOutLossButFewerGoalTestsIsNotProposed) {
  if (std::system("command -v bwrap >/dev/null") != 0) GTEST_SKIP() << "bubblewrap is not installed";
  setenv("A4PS_MODEL", "", 1);
  test::TempDir d;
  fs::permissions(d.path, fs::perms::others_exec, fs::perm_options::add);  // the sandbox user reaches the workspace
  const std::string gguf = model("synthetic-llama-tiny-wideout.gguf").string();
  const Goal g = goals_of(kByHeart)[0];
  const fs::path examples = count_call_examples(d.path, goals_of(kByHeart));
  Image img = Image::open((d / "a.a4ps").string());
  // The active adapter, approved and applied by a person.
  auto prop = propose_adapter_activation(img, "ALFRED", count_call_adapter(img, gguf, examples).sha256);
  decide_proposal(img, prop.proposal, true, "it answers the count goal", "tester");
  apply_proposal(img, prop.proposal);
  ASSERT_EQ(import_golden(img, "ALFRED", blue_river_golden(d.path, 12).string()).added, 12);

  // One practice goal with the teacher (a fake), who judges the attempt poorly (so the
  // golden set stays the imported replies); then the learning cycle.
  fs::path f = d / "live.jsonl";
  {
    std::ofstream s(f);
    s << json{{"match", "\n\nTranscript:\n"},
              {"text", json{{"task_success", 1}, {"correctness", 1}, {"grace", 1}, {"justice", 1}, {"codex_adherence", 1},
                            {"rationale", "not judged here"}}.dump()}}.dump()
      << "\n";
    s << json{{"persona", "ALFRED"}, {"match", "Propose "}, {"text", goals_json({g}, "practice").dump()}}.dump() << "\n";
    s << json{{"persona", "ALFRED"}, {"match", "routing turn 1 "}, {"text", R"({"brief": "one call answers it","next": "ANSWER"})"}}.dump()
      << "\n";
    s << json{{"persona", "ALFRED"}, {"match", "What the others did"}, {"text", g.call}}.dump() << "\n";
  }
  std::vector<std::string> said;
  LiveReport r = run_live(img, {.model = "scripted:" + f.string(), .sandbox = "bwrap", .max_tokens = 24, .max_attempts = 1,
                                .seed = 1, .learn_every = 1, .train_model = gguf, .train_min_new = 4, .train_epochs = 10,
                                .train_rank = 4, .train_lr = 1e-2f,
                                .on_decision = [&](const LiveDecision& x) { said.push_back(x.reason); }});
  EXPECT_EQ(r.passed, 1);
  EXPECT_EQ(r.trained, 1);
  EXPECT_TRUE(r.proposals.empty());
  auto trained = trained_decision(img);
  ASSERT_TRUE(trained.has_value());
  std::printf("%s\n", trained->reason.c_str());
  EXPECT_NE(trained->reason.find("better on held-out loss, but goal tests 0/1 against 1/1 of the active adapter alfred-lora v1: "
                                 "not proposed"),
            std::string::npos)
      << trained->reason;
  json dj = json::parse(trained->detail_json);
  EXPECT_LT(dj["loss"].get<double>(), dj["against_loss"].get<double>()) << dj;
  ASSERT_EQ(dj["goal_tests"].size(), 1u) << dj;
  EXPECT_FALSE(dj["goal_tests"][0]["candidate"]["passed"].get<bool>()) << dj["goal_tests"];
  EXPECT_TRUE(dj["goal_tests"][0]["active"]["passed"].get<bool>()) << dj["goal_tests"];
  EXPECT_NE(dj["goal_tests"][0]["active"]["answer"].get<std::string>().find(g.call), std::string::npos) << dj["goal_tests"];
  ASSERT_EQ(dj["probes"].size(), 1u) << dj["probes"];
  EXPECT_EQ(dj["probes"][0]["prompt"], g.task);
  EXPECT_EQ(list_proposals(img, "pending").size(), 0u);
  // The trials are no attempts, and cost tokens of the day's budget.
  EXPECT_EQ(show_goal(img, list_goals(img)[0].id).attempts.size(), 1u);
  EXPECT_EQ(std::count(said.begin(), said.end(), trained->reason), 1);
}

// Goal trials are live work like attempts: when the day's budget is spent they do not run,
// and an adapter whose trials could not run is not proposed (the decision says how a person
// may propose it). Here the one attempt spends the day's tokens, then the cycle trains.
TEST(LiveSchedule, TrialsStopWhenTheBudgetIsSpentAndNothingIsProposed) {
  setenv("A4PS_MODEL", "", 1);
  test::TempDir d;
  const std::string base = model("synthetic-llama-tiny.gguf").string();
  Image img = Image::open((d / "t.a4ps").string());
  ASSERT_EQ(import_golden(img, "ALFRED", blue_river_golden(d.path, 8).string()).added, 8);
  fs::path f = say_ok_script(d.path);
  // The attempt's two turns are 34 + 2 tokens (the fake's tokens are bytes): the day's 36 are spent.
  set_live_budget(img, {.wall_s_per_day = 3600, .tokens_per_day = 36, .sandbox_s_per_day = 600, .forges_per_day = 0});
  LiveReport r = run_live(img, {.model = "scripted:" + f.string(), .max_tokens = 24, .max_attempts = 1, .seed = 1,
                                .learn_every = 1, .train_model = base, .train_min_new = 4, .train_epochs = 4});
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.trained, 1);
  EXPECT_TRUE(r.proposals.empty());
  EXPECT_EQ(r.stopped, "budget");
  auto said = trained_decision(img);
  ASSERT_TRUE(said.has_value());
  std::printf("%s\n", said->reason.c_str());
  EXPECT_NE(said->reason.find("better on held-out loss, but its goal trials stopped (the day's token budget is spent): "
                              "not proposed; a person may propose it with a4ps learn activate "),
            std::string::npos)
      << said->reason;
  EXPECT_EQ(json::parse(said->detail_json)["cut"], "the day's token budget is spent");
  EXPECT_EQ(list_proposals(img, "").size(), 0u);
  EXPECT_EQ(live_usage(img).tokens, 36);  // no trial ran a step
}

// Memories count as used when BABS's recall puts them into a prompt; goal generation then
// lists only the memories never used (ALFRED's prompt named every source before).
TEST(LiveGoals, MemoriesNeverUsedAreWhatGoalGenerationAsksAbout) {
  setenv("A4PS_MODEL", "", 1);
  test::TempDir d;
  Image img = Image::open((d / "m.a4ps").string());
  remember(img, "Otters hold hands while they sleep so they do not drift apart.", "otters.txt");
  remember(img, "Basalt forms when lava cools quickly at the surface.", "rocks.txt");
  for (auto& m : memory_sources(img)) EXPECT_EQ(m.uses, 0) << m.source;

  fs::path f = d / "babs.jsonl";
  {
    std::ofstream s(f);
    s << json{{"persona", "ALFRED"}, {"match", "routing turn 1 "}, {"text", R"({"brief": "look it up","next": "BABS"})"}}.dump()
      << "\n";
    s << json{{"persona", "BABS"}, {"text", "[otters.txt] They hold hands."}}.dump() << "\n";
    s << json{{"persona", "ALFRED"}, {"match", "routing turn 2 "}, {"text", R"({"brief": "done","next": "ANSWER"})"}}.dump()
      << "\n";
    s << json{{"persona", "ALFRED"}, {"match", "Write the answer"}, {"text", "They hold hands."}}.dump() << "\n";
    // Goal generation answers only when its prompt lists the unused source and not the used one.
    s << json{{"persona", "ALFRED"}, {"match", "- otters.txt ("}, {"text", R"({"goals": [{"family": "wrong", "title": "x",
        "task": "Listed a used memory.", "test": "assert False"}]})"}}.dump() << "\n";
    s << json{{"persona", "ALFRED"}, {"match", "Memories never used:\n- rocks.txt (1 passages)"},
              {"text", R"({"goals": [{"family": "recall", "title": "rocks", "task": "Say how basalt forms.",
                          "test": "assert 'lava' in answer", "source": "memories never used: rocks.txt"}]})"}}.dump()
      << "\n";
  }
  const std::string spec = "scripted:" + f.string();
  Session s(img, {.model = spec});
  Answer a = s.ask("t1", "What do otters do while they sleep?");
  ASSERT_EQ(a.text, "They hold hands.");
  bool retrieved = false;
  for (auto& t : a.turns) retrieved |= t.kind == "retrieve" && t.memory_hits == 1;
  EXPECT_TRUE(retrieved);
  std::map<std::string, MemorySource> by;
  for (auto& m : memory_sources(img)) by[m.source] = m;
  EXPECT_EQ(by["otters.txt"].uses, 1);
  EXPECT_FALSE(by["otters.txt"].last_used.empty());
  EXPECT_EQ(by["rocks.txt"].uses, 0);
  EXPECT_EQ(by["rocks.txt"].last_used, "");

  auto gen = generate_goals(img, {.model = spec});
  ASSERT_EQ(gen.added.size(), 1u);
  EXPECT_EQ(gen.added[0].family, "recall");
}

}  // namespace
}  // namespace a4ps::apitest
