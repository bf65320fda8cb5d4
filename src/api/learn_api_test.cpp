// The public learning API on a real image: a scripted judge, the golden set, training on
// a tiny synthetic GGUF, evaluation, activation through a human's yes, and rollback.
#include <gtest/gtest.h>

#include "a4ps/learn.h"
#include "a4ps/session.h"
#include "api/api_test_util.h"

namespace a4ps::apitest {
namespace {

const char* kTopics[] = {"the weather", "a recipe", "the time", "my keys", "a poem", "the news", "a number", "the sea"};

std::string scores(int s, int grace) {
  return json{{"task_success", s}, {"correctness", s}, {"grace", grace}, {"justice", s}, {"codex_adherence", s},
              {"rationale", "scripted judgement"}}
      .dump();
}

class LearnApi : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("A4PS_MODEL", "", 1);
    path = d / "a.a4ps";
    Image::open(path.string());
    std::vector<std::string> answers;
    for (int i = 0; i < 8; ++i) {
      add_thread(path, "t" + std::to_string(i), "Question " + std::to_string(i) + ": tell me about " + kTopics[i] + ".",
                 "Blue seven river, blue seven river.");
      answers.push_back(scores(5, i == 7 ? 1 : 5));  // the last one lacks grace: not golden
    }
    judge_model = script(d / "judge.jsonl", answers);
  }
  TrainAdapterOptions train_opts(uint64_t seed) {
    return {.persona = "BRICK", .model = base, .rank = 4, .alpha = 8, .lr = 0.01f, .steps = 3, .threads = 1, .seed = seed};
  }
  void approve(Image& img, int64_t id) {
    Session s(img, {.model = script(d / "unused.jsonl", {})});
    EXPECT_TRUE(s.decide(id, true, "tester", "reviewed").applied_now);
  }
  test::TempDir d;
  fs::path path;
  std::string judge_model, base = model("synthetic-llama-tiny.gguf").string();
};

TEST_F(LearnApi, JudgeSelectTrainEvaluateActivateAndRollBack) {
  Image img = Image::open(path.string());
  auto js = judge_threads(img, {}, {.model = judge_model, .all = true});
  ASSERT_EQ(js.size(), 8u);
  EXPECT_EQ(js[0].judgement.total(), 25);
  EXPECT_DOUBLE_EQ(js[0].mean, 5.0);
  EXPECT_EQ(json::parse(js[7].scores_json)["grace"], 1);
  auto g = select_golden(img);
  EXPECT_EQ(g.judgements, 7);
  auto counts = golden_counts(img);
  ASSERT_FALSE(counts.empty());
  auto ex = export_golden(img, "BRICK");
  EXPECT_GT(ex.examples, 0u);
  EXPECT_EQ(std::count(ex.jsonl.begin(), ex.jsonl.end(), '\n'), static_cast<long>(ex.examples));
  EXPECT_EQ(ex.sha256.size(), 64u);

  int steps_seen = 0;
  auto o = train_opts(1);
  o.on_step = [&](int, float) { ++steps_seen; };
  auto t = train_adapter(img, o);
  EXPECT_EQ(t.steps, 3);
  EXPECT_EQ(steps_seen, 3);
  EXPECT_EQ(t.name, "brick-lora");
  EXPECT_EQ(t.losses.size(), 3u);
  EXPECT_GT(t.heldout_examples, 0);  // a quarter held out of four or more
  EXPECT_GT(t.heldout_loss_before, 0);
  EXPECT_NE(t.loss_svg.find("<polyline"), std::string::npos);
  EXPECT_FALSE(fs::exists(path.string() + ".learn"));  // the checkpoints went once the run was stored
  auto runs = training_runs(img, "BRICK");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].sha256, t.sha256);
  EXPECT_EQ(json::parse(runs[0].lineage_json)["metrics"]["heldout_examples"], t.heldout_examples);

  auto e = evaluate_adapter(img, {.persona = "BRICK", .model = base, .probes = {"Say hi."}});
  EXPECT_EQ(e.examples, ex.examples);
  EXPECT_GT(e.tokens, 0);
  EXPECT_GT(e.loss_before, 0);
  ASSERT_EQ(e.probes.size(), 1u);
  EXPECT_EQ(e.probes[0].prompt, "Say hi.");
  EXPECT_NE(e.loss_svg.find("<polyline"), std::string::npos);

  auto a = propose_adapter_activation(img, "BRICK");
  EXPECT_EQ(a.name, "brick-lora");
  approve(img, a.proposal);
  auto t2 = train_adapter(img, train_opts(2));
  ASSERT_NE(t2.sha256, t.sha256);
  approve(img, propose_adapter_activation(img, "BRICK", t2.sha256.substr(0, 12)).proposal);

  auto r = rollback_adapter(img, "BRICK", {.approve = true, .reviewer = "tester", .reason = "v2 is worse"});
  EXPECT_TRUE(r.applied);
  EXPECT_EQ(r.to_version, 1);
  EXPECT_EQ(r.version, 3);
  std::string problem;
  EXPECT_TRUE(img.check(&problem)) << problem;
}

TEST_F(LearnApi, BadInputIsOneLineAndStoresNothing) {
  Image img = Image::open(path.string());
  const int64_t events = img.info().events;
  EXPECT_NE(error_of([&] { judge_threads(img, {}, {.model = judge_model}); }).find("name the threads"), std::string::npos);
  EXPECT_NE(error_of([&] { judge_threads(img, {"t1"}, {}); }).find("no judge model"), std::string::npos);
  auto o = train_opts(1);
  o.model = "ollama:llama3";
  EXPECT_NE(error_of([&] { train_adapter(img, o); }).find("local GGUF"), std::string::npos);
  o = train_opts(1);
  o.eval_split = 1;
  o.data_file = (d / "broken.jsonl").string();
  std::ofstream(o.data_file) << "{\"messages\": 3}\n";
  EXPECT_NE(error_of([&] { train_adapter(img, o); }).find("broken.jsonl line 1"), std::string::npos);
  EXPECT_NE(error_of([&] { train_adapter(img, train_opts(1)); }).find("dataset is empty"), std::string::npos);  // no golden set yet
  EXPECT_NE(error_of([&] { evaluate_adapter(img, {.persona = "BRICK", .model = base}); }).find("no trained adapter"),
            std::string::npos);
  EXPECT_NE(error_of([&] { propose_adapter_activation(img, "BRICK"); }).find("no trained adapter"), std::string::npos);
  EXPECT_NE(error_of([&] { rollback_adapter(img, "BRICK"); }).find("nothing to roll back"), std::string::npos);
  EXPECT_NE(error_of([&] { rollback_adapter(img, "BRICK", {.approve = true}); }).find("--reviewer"), std::string::npos);
  EXPECT_EQ(img.info().events, events);
  EXPECT_TRUE(training_runs(img).empty());
  Image ro = Image::open(path.string(), {.read_only = true});
  EXPECT_NE(error_of([&] { select_golden(ro); }).find("read-only"), std::string::npos);
}

}  // namespace
}  // namespace a4ps::apitest
