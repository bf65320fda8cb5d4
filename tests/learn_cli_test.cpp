// The learning loop end to end through the CLI: judge threads (scripted judge), select
// golden examples, export, train on a tiny synthetic base, evaluate, activate through an
// approved proposal, roll back; a training run killed with SIGKILL resumes; bad input
// gives one clear line.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "graph/checkpoint.h"
#include "image/image.h"
#include "api/api_test_util.h"
#include "testutil.h"

namespace a4ps::test {
using nlohmann::json;

namespace {

const char* kTopics[] = {"the weather", "a recipe", "the time", "my keys", "a poem", "the news", "a number", "the sea",
                         "a song", "the road"};

using apitest::add_thread;  // a finished thread in the shape the agent graph leaves

std::string scores(int s, int low = 0) {
  json j = {{"task_success", s}, {"correctness", s}, {"grace", low ? low : s}, {"justice", s}, {"codex_adherence", s},
            {"rationale", "scripted judgement"}};
  return j.dump();
}

// Image with 9 good threads (one a duplicate of another) and one poorly judged.
fs::path setup(const TempDir& d) {
  fs::path img = d / "a.a4ps";
  EXPECT_EQ(a4ps("image init " + q(img)).code, 0);
  std::ofstream script(d / "judge.jsonl");
  for (int i = 0; i < 8; ++i) {
    std::string task = "Question " + std::to_string(i) + ": tell me about " + kTopics[i] + ".";
    add_thread(img, "t" + std::to_string(i), task, "Blue seven river, blue seven river.");
    script << json{{"text", scores(5)}, {"match", task}}.dump() << "\n";
  }
  add_thread(img, "dup", "Question 0: tell me about the weather.", "Blue seven river, blue seven river.");
  script << json{{"text", scores(4)}, {"match", "Question 0:"}}.dump() << "\n";
  add_thread(img, "bad", "Question 9: tell me about the road.", "I refuse.");
  script << json{{"text", scores(5, 1)}, {"match", "Question 9:"}}.dump() << "\n";
  return img;
}

std::string one_line_error(const RunResult& r) {
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  return r.err;
}

const std::string kTrain = " --targets attn_q,attn_v,attn_output,ffn_down --rank 4 --alpha 8 --lr 0.01 --threads 1";

}  // namespace

TEST(LearnCli, JudgeGoldenTrainEvalActivateRollback) {
  TempDir d;
  fs::path img = setup(d);
  const std::string base = q(model("synthetic-llama-tiny.gguf"));

  json j = a4ps_json("learn judge " + q(img) + " --all --model scripted:" + q(d / "judge.jsonl"));
  ASSERT_EQ(j.size(), 10u);
  j = a4ps_json("learn golden " + q(img));
  EXPECT_EQ(j["added"], 8 + 8);          // ALFRED's and BRICK's step of each distinct good thread
  EXPECT_EQ(j["duplicates"], 2);         // the duplicate thread adds nothing
  EXPECT_EQ(j["judgements"], 9);         // the one with grace 1 is not golden
  EXPECT_EQ(j["personas"]["BRICK"], 8);
  EXPECT_EQ(a4ps_json("learn golden " + q(img))["added"], 0);  // idempotent

  auto r = a4ps("learn export " + q(img) + " --persona BRICK");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 8);
  json line = json::parse(r.out.substr(0, r.out.find('\n')));
  EXPECT_EQ(line["messages"].back()["role"], "assistant");
  EXPECT_EQ(line["messages"].back()["content"], "Blue seven river, blue seven river.");

  // Train on the golden set: 6 examples trained, 2 held out.
  fs::path svg = d / "loss.svg";
  j = a4ps_json("learn train " + q(img) + " --persona BRICK --model " + base + " --epochs 20" + kTrain + " --svg " + q(svg));
  json m = j["lineage"]["metrics"];
  std::printf("CLI train: loss %.4f -> %.4f; held-out %.4f -> %.4f\n", m["train_loss_first"].get<double>(),
              m["train_loss_last"].get<double>(), m["heldout_loss_before"].get<double>(), m["heldout_loss_after"].get<double>());
  EXPECT_EQ(m["heldout_examples"], 2);
  EXPECT_LT(m["train_loss_last"].get<double>(), m["train_loss_first"].get<double>() - 0.5);
  EXPECT_LT(m["heldout_loss_after"].get<double>(), m["heldout_loss_before"].get<double>() - 0.3);
  EXPECT_NE(read_file(svg).find("<polyline"), std::string::npos);
  const std::string sha1 = j["sha256"];

  j = a4ps_json("learn eval " + q(img) + " --persona BRICK --model " + base + " --probe 'tell me about the moon'");
  EXPECT_LT(j["loss_after"].get<double>(), j["loss_before"].get<double>() - 0.3);
  EXPECT_EQ(j["probes"].size(), 1u);

  // Nothing changes until a human approves and applies the proposal.
  {
    auto im = image::Image::open(img, {.read_only = true});
    EXPECT_FALSE(im.get(image::Kind::Adapter, "brick-lora"));
  }
  std::string id = std::to_string(a4ps_json("learn activate " + q(img) + " --persona BRICK")["proposal"].get<int64_t>());
  ASSERT_EQ(a4ps("approvals approve " + q(img) + " " + id + " --reviewer alice --reason good").code, 0);
  ASSERT_EQ(a4ps("approvals apply " + q(img) + " " + id).code, 0);
  {
    auto im = image::Image::open(img, {.read_only = true});
    auto a = im.get(image::Kind::Adapter, "brick-lora");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->blob_sha256, sha1);
    EXPECT_EQ(a->meta["persona"], "BRICK");
    EXPECT_EQ(a->meta["base_sha256"], sha256_file(model("synthetic-llama-tiny.gguf")));
  }

  // A second adapter, activated; then one command rolls back to the first.
  j = a4ps_json("learn train " + q(img) + " --persona BRICK --model " + base + " --epochs 2 --seed 2" + kTrain);
  const std::string sha2 = j["sha256"];
  ASSERT_NE(sha1, sha2);
  id = std::to_string(a4ps_json("learn activate " + q(img) + " --persona BRICK")["proposal"].get<int64_t>());
  ASSERT_EQ(a4ps("approvals approve " + q(img) + " " + id + " --reviewer alice --reason again").code, 0);
  ASSERT_EQ(a4ps("approvals apply " + q(img) + " " + id).code, 0);
  EXPECT_NE(one_line_error(a4ps("learn rollback " + q(img) + " --persona BRICK --approve")).find("--reviewer"), std::string::npos);
  j = a4ps_json("learn rollback " + q(img) + " --persona BRICK --approve --reviewer alice --reason worse");
  EXPECT_EQ(j["applied"], true);
  {
    auto im = image::Image::open(img, {.read_only = true});
    auto a = im.get(image::Kind::Adapter, "brick-lora");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->blob_sha256, sha1);
    EXPECT_EQ(a->version, 3);
  }
  EXPECT_EQ(a4ps("image check " + q(img)).code, 0);
}

TEST(LearnCli, KilledTrainingResumesFromItsCheckpoint) {
  TempDir d;
  fs::path img = setup(d);
  ASSERT_EQ(a4ps("learn judge " + q(img) + " --all --model scripted:" + q(d / "judge.jsonl")).code, 0);
  ASSERT_EQ(a4ps("learn golden " + q(img)).code, 0);
  const fs::path ck = d / "ck";
  std::vector<std::string> args = {A4PS_BIN, "--json", "learn", "train", img.string(), "--persona", "BRICK", "--model",
                                   model("synthetic-llama-tiny.gguf").string(), "--steps", "300", "--checkpoint-dir",
                                   ck.string(), "--checkpoint-every", "20", "--targets", "attn_q,attn_v,attn_output,ffn_down",
                                   "--rank", "4", "--alpha", "8", "--lr", "0.01", "--threads", "1"};
  auto [pid, fd] = spawn_piped(args);
  ASSERT_GT(pid, 0);
  auto t0 = std::chrono::steady_clock::now();
  while (!fs::exists(ck / "checkpoint.gguf") && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(fs::exists(ck / "checkpoint.gguf"));
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  close(fd);
  ASSERT_TRUE(WIFSIGNALED(st)) << "the run finished before it could be killed";

  std::string cmd;
  for (size_t i = 1; i < args.size(); ++i) cmd += q(args[i]) + " ";
  json j = a4ps_json(cmd.substr(std::string("'--json' ").size()));
  std::printf("resumed from step %d of 300\n", j["resumed_from"].get<int>());
  EXPECT_GE(j["resumed_from"].get<int>(), 20);
  EXPECT_LT(j["resumed_from"].get<int>(), 300);
  EXPECT_EQ(j["steps"], 300);
  json m = j["lineage"]["metrics"];
  EXPECT_LT(m["train_loss_last"].get<double>(), m["train_loss_first"].get<double>() - 0.5);
  EXPECT_FALSE(fs::exists(ck)) << "a finished run's checkpoint is cleaned up";
}

TEST(LearnCli, BadInputIsOneClearLine) {
  TempDir d;
  fs::path img = setup(d);
  const std::string base = q(model("synthetic-llama-tiny.gguf"));
  auto e = one_line_error(a4ps("learn train " + q(img) + " --persona NOBODY --model " + base));
  EXPECT_NE(e.find("dataset is empty"), std::string::npos) << e;

  ASSERT_EQ(a4ps("learn judge " + q(img) + " --all --model scripted:" + q(d / "judge.jsonl")).code, 0);
  ASSERT_EQ(a4ps("learn golden " + q(img)).code, 0);
  e = one_line_error(a4ps("learn train " + q(img) + " --persona BRICK --model " + base + " --rank 100"));
  EXPECT_NE(e.find("larger than the layer"), std::string::npos) << e;

  fs::path other = d / "qwen.jsonl";
  ASSERT_EQ(a4ps("learn export " + q(img) + " --persona BRICK --for-model " + q(model("synthetic-qwen2-tiny.gguf")) +
                 " -o " + q(other)).code, 0);
  e = one_line_error(a4ps("learn train " + q(img) + " --persona BRICK --data " + q(other) + " --model " + base));
  EXPECT_NE(e.find("another tokenizer"), std::string::npos) << e;

  std::ofstream(d / "broken.jsonl") << "{\"messages\": 3}\n";
  e = one_line_error(a4ps("learn train " + q(img) + " --persona BRICK --data " + q(d / "broken.jsonl") + " --model " + base));
  EXPECT_NE(e.find("broken.jsonl line 1"), std::string::npos) << e;

  e = one_line_error(a4ps("learn activate " + q(img) + " --persona BRICK"));
  EXPECT_NE(e.find("no trained adapter"), std::string::npos) << e;
  e = one_line_error(a4ps("learn rollback " + q(img) + " --persona BRICK"));
  EXPECT_NE(e.find("nothing to roll back"), std::string::npos) << e;
}

}  // namespace a4ps::test
