// The live module's logic: learning progress and the choice of a family (with simulated
// learners: LP against uniform selection), similarity, the hybrid reward, reading goals,
// the codex veto on a real image, and the module's tables.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "codex/codex.h"
#include "image/image.h"
#include "live/curves.h"
#include "live/goals.h"
#include "live/lp.h"
#include "live/store.h"
#include "testutil.h"

namespace a4ps::live {
namespace {

TEST(LearningProgress, TrivialAndImpossibleFamiliesShowNone) {
  LpParams p;
  FamilyStats trivial{"t"}, impossible{"i"}, learning{"l"};
  for (int i = 0; i < 30; ++i) {
    record(trivial, 1, p);
    record(impossible, 0, p);
    record(learning, i >= 15 ? 1 : 0, p);  // starts passing half way
  }
  EXPECT_NEAR(fast_ema(trivial, p), 1, 1e-9);  // bias-corrected: exactly the mean at once
  EXPECT_NEAR(slow_ema(trivial, p), 1, 1e-9);
  EXPECT_NEAR(learning_progress(trivial, p), 0, 1e-9);
  EXPECT_NEAR(learning_progress(impossible, p), 0, 1e-9);
  EXPECT_GT(learning_progress(learning, p), 0.2);
  EXPECT_GT(fast_ema(learning, p), slow_ema(learning, p));
  EXPECT_EQ(learning.successes, 15);
  // Forgetting is progress too (the absolute difference).
  FamilyStats forgetting{"f"};
  for (int i = 0; i < 30; ++i) record(forgetting, i < 15 ? 1 : 0, p);
  EXPECT_NEAR(learning_progress(forgetting, p), learning_progress(learning, p), 1e-9);
}

TEST(LearningProgress, ChoiceWarmsUpThenFollowsProgressAndNeverPicksPaused) {
  LpParams p;
  std::mt19937_64 rng(1);
  std::vector<FamilyStats> fs = {{"a"}, {"b"}, {"c"}};
  auto c = choose(fs, p, rng);
  EXPECT_EQ(c.rule, "warm-up");
  EXPECT_NE(c.reason.find("warm-up"), std::string::npos);
  for (auto& f : fs)
    for (int i = 0; i < 10; ++i) record(f, 0, p);
  c = choose(fs, p, rng);
  EXPECT_EQ(c.rule, "uniform");  // no progress anywhere
  for (int i = 0; i < 5; ++i) record(fs[1], 1, p);  // b starts to succeed
  std::map<std::string, int> n;
  for (int i = 0; i < 2000; ++i) ++n[choose(fs, p, rng).family];
  EXPECT_GT(n["b"], 1700);  // 1 - epsilon + epsilon/3 = 0.867
  EXPECT_LT(n["a"], 200);
  fs[1].paused = true;
  for (int i = 0; i < 200; ++i) EXPECT_NE(choose(fs, p, rng).family, "b");
  for (auto& f : fs) f.paused = true;
  EXPECT_EQ(choose(fs, p, rng).index, -1);
}

// ---- simulated learners (fakes of a learner: competence grows with practice) ----------

struct SimFamily {
  std::string name;
  double lo, hi, tau;  // success chance after n attempts: lo + (hi - lo)(1 - e^(-n/tau))
  double chance(int n) const { return lo + (hi - lo) * (1 - std::exp(-n / tau)); }
  bool learnable() const { return hi > lo; }
};
const std::vector<SimFamily> kFamilies = {
    {"trivial-a", 0.97, 0.97, 1}, {"trivial-b", 1, 1, 1},  {"impossible-a", 0, 0, 1}, {"impossible-b", 0, 0, 1},
    {"easy", 0.1, 0.95, 8},       {"medium", 0.1, 0.9, 20}, {"hard", 0.1, 0.9, 40}};
constexpr double kTarget = 0.8;  // every learnable family at this success chance
constexpr int kMaxAttempts = 3000;

struct SimRun {
  int attempts = kMaxAttempts;       // until the target was reached
  double late_waste = 0;             // share of the second half spent on trivial or impossible families
  std::vector<double> competence;    // mean chance over the learnable families, after each attempt
};

SimRun simulate(bool by_progress, uint64_t seed) {
  LpParams p;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<FamilyStats> fs;
  for (auto& f : kFamilies) fs.push_back({f.name});
  std::vector<int> practice(kFamilies.size(), 0);
  std::vector<bool> wasted;
  SimRun r;
  for (int t = 1; t <= kMaxAttempts; ++t) {
    Choice c = by_progress ? choose(fs, p, rng) : choose_uniform(fs, rng);
    const SimFamily& f = kFamilies[c.index];
    bool ok = u(rng) < f.chance(practice[c.index]);
    ++practice[c.index];
    record(fs[c.index], ok ? 1 : 0, p);
    wasted.push_back(!f.learnable());
    double sum = 0;
    int n = 0;
    bool done = true;
    for (size_t i = 0; i < kFamilies.size(); ++i)
      if (kFamilies[i].learnable()) {
        double ch = kFamilies[i].chance(practice[i]);
        sum += ch, ++n, done &= ch >= kTarget;
      }
    r.competence.push_back(sum / n);
    if (done) {
      r.attempts = t;
      break;
    }
  }
  size_t half = wasted.size() / 2, w = 0;
  for (size_t i = half; i < wasted.size(); ++i) w += wasted[i];
  r.late_waste = static_cast<double>(w) / static_cast<double>(std::max<size_t>(1, wasted.size() - half));
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

TEST(SimulatedLearners, ProgressReachesTheTargetInFewerAttemptsAndStopsSpendingOnTrivialAndImpossible) {
  const int kSeeds = 40;
  std::vector<double> lp_n, uni_n, lp_waste, uni_waste;
  std::vector<std::vector<double>> lp_curves, uni_curves;
  for (int s = 0; s < kSeeds; ++s) {
    SimRun a = simulate(true, 1000 + s), b = simulate(false, 1000 + s);
    lp_n.push_back(a.attempts), uni_n.push_back(b.attempts);
    lp_waste.push_back(a.late_waste), uni_waste.push_back(b.late_waste);
    lp_curves.push_back(a.competence), uni_curves.push_back(b.competence);
  }
  double mean_lp = 0, mean_uni = 0;
  for (int s = 0; s < kSeeds; ++s) mean_lp += lp_n[s] / kSeeds, mean_uni += uni_n[s] / kSeeds;
  std::printf("simulated learners (%d seeds; 2 trivial, 2 impossible, 3 learnable families; target %.2f each):\n", kSeeds,
              kTarget);
  std::printf("  attempts to target: learning progress median %.0f mean %.0f; uniform median %.0f mean %.0f\n",
              median(lp_n), mean_lp, median(uni_n), mean_uni);
  std::printf("  second half spent on trivial/impossible: learning progress %.1f%%, uniform %.1f%%\n",
              100 * median(lp_waste), 100 * median(uni_waste));
  EXPECT_LT(median(lp_n), 0.75 * median(uni_n));
  EXPECT_LT(mean_lp, 0.8 * mean_uni);
  EXPECT_LT(median(lp_waste), 0.2);  // about epsilon's share; uniform spends 4/7 there
  EXPECT_GT(median(uni_waste), 0.5);

  // The mean competence curve over the seeds (a finished run stays at its last value).
  auto mean_curve = [](const std::vector<std::vector<double>>& cs) {
    std::vector<double> m(kMaxAttempts / 3, 0);
    for (auto& c : cs)
      for (size_t i = 0; i < m.size(); ++i) m[i] += (i < c.size() ? c[i] : c.back()) / static_cast<double>(cs.size());
    return m;
  };
  auto lp_curve = mean_curve(lp_curves), uni_curve = mean_curve(uni_curves);
  std::string svg = curves_svg({{"learning progress", lp_curve}, {"uniform", uni_curve}},
                               "Simulated learners: mean competence of the learnable families");
  std::filesystem::path dir = A4PS_TEST_ARTEFACTS;
  std::filesystem::create_directories(dir);
  write_file(dir / "live_lp_vs_uniform.svg", svg);
  std::printf("  competence after 200 / 400 / 800 attempts: LP %.2f / %.2f / %.2f, uniform %.2f / %.2f / %.2f\n",
              lp_curve[199], lp_curve[399], lp_curve[799], uni_curve[199], uni_curve[399], uni_curve[799]);
  std::printf("  curves: %s\n", (dir / "live_lp_vs_uniform.svg").c_str());
  EXPECT_GT(lp_curve[399], uni_curve[399]);
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 5, true);
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
}

TEST(Similarity, TextTrigramsAndCosine) {
  EXPECT_NEAR(text_similarity("Add two numbers", "add  two NUMBERS"), 1, 1e-9);
  EXPECT_GT(text_similarity("Sum the numbers 1 to 10", "Sum the numbers 1 to 20"), 0.8);
  EXPECT_LT(text_similarity("Sum the numbers 1 to 10", "Write a haiku about the sea"), 0.3);
  EXPECT_EQ(text_similarity("", "x"), 0);
  EXPECT_NEAR(cosine({1, 0}, {1, 0}), 1, 1e-9);
  EXPECT_NEAR(cosine({1, 0}, {0, 1}), 0, 1e-9);
}

TEST(Reward, WeightedPartsAndUnjudgedInTheMiddle) {
  Reward r = reward({.passed = true, .lp = 0.5, .grace = 5, .justice = 3, .violations = 0});
  EXPECT_DOUBLE_EQ(r.competence, 1);
  EXPECT_DOUBLE_EQ(r.grace, 1);
  EXPECT_DOUBLE_EQ(r.justice, 0.5);
  EXPECT_DOUBLE_EQ(r.codex, 1);
  EXPECT_NEAR(r.total, 0.4 * 1 + 0.1 * 0.5 + 0.2 * 1 + 0.2 * 0.5 + 0.1 * 1, 1e-12);
  Reward bad = reward({.passed = false, .lp = 0, .grace = 0, .justice = 1, .violations = 2});
  EXPECT_DOUBLE_EQ(bad.grace, 0.5);  // no judgement
  EXPECT_DOUBLE_EQ(bad.codex, 0);
  EXPECT_NEAR(bad.total, 0.2 * 0.5, 1e-12);
  EXPECT_EQ(parse_score("```json\n{\"score\": 4, \"why\": \"kind\"}\n```"), 4);
  std::string why;
  EXPECT_EQ(parse_score("{\"score\": 2, \"why\": \"terse\"}", &why), 2);
  EXPECT_EQ(why, "terse");
  EXPECT_EQ(parse_score("great work"), 0);
  EXPECT_EQ(parse_score("{\"score\": 9}"), 0);
}

TEST(Goals, ReadFromTheReplyAndMalformedOnesSkippedWithTheirReason) {
  std::vector<std::string> skipped;
  auto gs = parse_goals(
      "Here are goals:\n```json\n{\"goals\": [{\"family\": \"math\", \"task\": \"Add 2 and 3\", \"test\": \"assert '5' in answer\"},"
      "{\"family\": \"math\", \"task\": \"no test\", \"test\": \"print(1)\"}, {\"task\": \"x\", \"test\": \"assert 1\"},"
      "{\"family\": \"web\", \"task\": \"fetch\", \"test\": \"assert answer\", \"needs\": [\"network\"]}]}\n```",
      &skipped);
  ASSERT_EQ(gs.size(), 2u);
  EXPECT_EQ(gs[0].family, "math");
  EXPECT_EQ(gs[0].title, "Add 2 and 3");
  EXPECT_EQ(gs[1].plan["needs"][0], "network");
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_NE(skipped[0].find("Python assert"), std::string::npos);
  EXPECT_NE(skipped[1].find("no family"), std::string::npos);
  skipped.clear();
  EXPECT_TRUE(parse_goals("I have no ideas", &skipped).empty());
  EXPECT_EQ(skipped.size(), 1u);
}

TEST(Veto, TheImagesCodexRefusesNetworkAndUnapprovedSelfChangeAndNothingIsWritten) {
  test::TempDir d;
  auto img = codex::open_guarded(image::Image::create(d / "a.a4ps").path());
  int64_t head = img.info().head_seq;
  EXPECT_EQ(veto(img, json::object()), "");
  EXPECT_EQ(veto(img, {{"needs", json::array()}, {"forge", {{"name", "f"}}}}), "");  // a forge only proposes
  std::string net = veto(img, {{"needs", {"network"}}});
  EXPECT_NE(net.find("sandbox-offline"), std::string::npos) << net;
  std::string self = veto(img, {{"effects", {{{"kind", "tool.version_added"}, {"name", "x"}, {"version", 2}}}}});
  EXPECT_NE(self.find("approved-tools"), std::string::npos) << self;
  EXPECT_NE(veto(img, {{"needs", {"self-change"}}}).find("approved-tools"), std::string::npos);
  EXPECT_EQ(img.info().head_seq, head);
  EXPECT_TRUE(img.check().ok);
}

TEST(Store, GoalsAttemptsFamiliesDecisionsAndUsageRoundTripWithTheirEvents) {
  test::TempDir d;
  auto img = codex::open_guarded(image::Image::create(d / "a.a4ps").path());
  EXPECT_TRUE(store::goals(img).empty());
  int64_t g = store::add_goal(img, {.family = "math", .title = "t", .task = "Add", .test = "assert 1", .source = "seed"});
  auto row = store::goal(img, g);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->status, "open");
  row->attempts = 1;
  row->status = "achieved";
  store::update_goal(img, *row);
  EXPECT_EQ(store::goals(img, "achieved").size(), 1u);
  int64_t a = store::start_attempt(img, {.goal = g, .family = "math", .lp = 0.25});
  EXPECT_EQ(store::unfinished(img).size(), 1u);
  store::finish_attempt(img, {.id = a, .goal = g, .family = "math", .status = "done", .passed = true, .lp = 0.25,
                              .grace = 0.75, .justice = 1, .codex = 1, .reward = 0.8125});
  EXPECT_TRUE(store::unfinished(img).empty());
  auto as = store::attempts(img, g);
  ASSERT_EQ(as.size(), 1u);
  EXPECT_TRUE(as[0].passed);
  EXPECT_DOUBLE_EQ(as[0].reward, 0.8125);
  FamilyStats f{"math"};
  record(f, 1, {});
  store::put_family(img, f);
  auto fs = store::families(img);
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_DOUBLE_EQ(fs[0].fast_raw, f.fast_raw);
  store::add_decision(img, {.kind = "choose", .goal = g, .family = "math", .reason = "warm-up"});
  EXPECT_EQ(store::decisions(img, g).size(), 1u);
  store::add_usage(img, {.day = "2026-11-26", .wall_s = 1.5, .tokens = 10});
  store::add_usage(img, {.day = "2026-11-26", .wall_s = 1, .forges = 1});
  auto u = store::usage(img, "2026-11-26");
  EXPECT_DOUBLE_EQ(u.wall_s, 2.5);
  EXPECT_EQ(u.tokens, 10);
  EXPECT_EQ(u.forges, 1);
  int live_events = 0;
  for (auto& e : img.events()) live_events += e.kind.rfind("live.", 0) == 0;
  EXPECT_EQ(live_events, 8);  // goal twice, attempt twice, family, decision, usage twice
  EXPECT_TRUE(img.check().ok);
}

}  // namespace
}  // namespace a4ps::live
