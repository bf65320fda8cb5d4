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
  LiveReport a = run_live(img, {.model = teach, .sandbox = "bwrap", .max_attempts = n_practice, .seed = 1,
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
  const char* topics[] = {"the weather", "a recipe", "the time", "my keys", "a poem", "the news",
                          "a number",    "the sea",  "a song",   "the road", "a book", "the stars"};
  {
    std::ofstream s(d / "golden.jsonl");
    for (auto* t : topics)
      s << json{{"messages", {{{"role", "user"}, {"content", std::string("Tell me about ") + t + "."}},
                              {{"role", "assistant"}, {"content", "Blue seven river, blue seven river."}}}}}
               .dump()
        << "\n";
  }
  Image img = Image::open((d / "s.a4ps").string());
  ASSERT_EQ(import_golden(img, "ALFRED", (d / "golden.jsonl").string()).added, 12);
  // A good adapter, approved and applied by a person.
  TrainAdapterOptions good{.persona = "ALFRED", .model = base, .rank = 4, .alpha = 8,
                           .targets = {"attn_q", "attn_v", "attn_output", "ffn_down"}, .lr = 1e-2f, .epochs = 15,
                           .threads = 1, .seed = 1};
  TrainedAdapter active = train_adapter(img, good);
  auto prop = propose_adapter_activation(img, "ALFRED", active.sha256);
  decide_proposal(img, prop.proposal, true, "it learned the phrase", "tester");
  apply_proposal(img, prop.proposal);

  // One goal, then the learning cycle trains a weak adapter (one epoch at a tiny rate).
  fs::path f = d / "one.jsonl";
  {
    std::ofstream s(f);
    json goal = {{"family", "words"}, {"title", "say ok"}, {"task", "Say ok."}, {"test", "assert 'ok' in answer"}};
    s << json{{"persona", "ALFRED"}, {"match", "Propose "}, {"text", json{{"goals", {goal}}}.dump()}}.dump() << "\n";
    s << json{{"persona", "ALFRED"}, {"match", "routing turn"}, {"text", R"({"brief": "easy","next": "ANSWER"})"}}.dump()
      << "\n";
    s << json{{"persona", "ALFRED"}, {"match", "Write the answer"}, {"text", "ok"}}.dump() << "\n";
  }
  LiveReport r = run_live(img, {.model = "scripted:" + f.string(), .sandbox = "bwrap", .max_attempts = 1, .seed = 1,
                                .learn_every = 1, .train_model = base, .train_min_new = 4, .train_epochs = 1,
                                .train_lr = 1e-5f});
  EXPECT_EQ(r.trained, 1);
  EXPECT_TRUE(r.proposals.empty());
  const LiveDecision* said = nullptr;
  auto log = live_decisions(img, 100);
  for (auto& x : log)
    if (x.kind == "schedule" && x.reason.find("trained") != std::string::npos) said = &x;
  ASSERT_NE(said, nullptr);
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
