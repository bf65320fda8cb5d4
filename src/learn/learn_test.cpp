// The training engine on tiny synthetic models: its forward pass agrees with llama.cpp,
// training lowers the loss on assistant tokens (train and held-out), and the adapter it
// writes loads in unmodified llama.cpp and raises the dataset's continuations there.
#include "learn/learn.h"

#include <ggml.h>
#include <gguf.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "graph/checkpoint.h"
#include "image/image.h"
#include "image/sqlite.h"
#include "llm/devices.h"
#include "llm/model_manager.h"
#include "testutil.h"
#include "vars_env.h"
#include "util/util.h"

using namespace a4ps;
using namespace a4ps::test;
using nlohmann::json;

namespace {

// A fixed pattern: whatever the user asks, the assistant answers with the same phrase.
std::vector<learn::Example> pattern_set(int n, int offset) {
  const char* topics[] = {"the weather", "a recipe", "the time", "my keys", "a poem", "the news", "a number", "the sea",
                          "a song", "the road", "a book", "the stars", "a garden", "the train", "a letter", "the moon"};
  std::vector<learn::Example> out;
  for (int i = 0; i < n; ++i) {
    std::string topic = topics[(i + offset) % 16];
    out.push_back({{{"user", "Question " + std::to_string(i + offset) + ": tell me about " + topic + "."},
                    {"assistant", "Blue seven river, blue seven river."}},
                   ""});
  }
  return out;
}

learn::TrainOptions fast_opts() {
  learn::TrainOptions o;
  o.rank = 4;
  o.alpha = 8;
  o.targets = {"attn_q", "attn_v", "attn_output", "ffn_down"};
  o.lr = 1e-2f;
  o.progress = false;
  o.threads = 1;  // steady under load from other jobs; spinning ggml threads are not
  return o;
}

// The adapter's tensors (lora_a/lora_b of every target), by name.
std::map<std::string, std::vector<float>> adapter_tensors(const std::string& bytes) {
  TempDir d;
  write_file(d / "a.gguf", bytes);
  ggml_context* ctx = nullptr;
  gguf_context* g = gguf_init_from_file((d / "a.gguf").c_str(), {false, &ctx});
  EXPECT_NE(g, nullptr);
  std::map<std::string, std::vector<float>> out;
  for (int64_t i = 0; g && i < gguf_get_n_tensors(g); ++i) {
    ggml_tensor* t = ggml_get_tensor(ctx, gguf_get_tensor_name(g, i));
    const float* p = static_cast<const float*>(t->data);
    out[ggml_get_name(t)].assign(p, p + ggml_nelements(t));
  }
  if (g) gguf_free(g);
  if (ctx) ggml_free(ctx);
  return out;
}

// Largest |a - b| over all tensors, relative to the largest |a|.
double adapter_diff(const std::string& a, const std::string& b) {
  auto ta = adapter_tensors(a), tb = adapter_tensors(b);
  EXPECT_EQ(ta.size(), tb.size());
  double d = 0, m = 0;
  for (auto& [n, va] : ta) {
    auto& vb = tb[n];
    EXPECT_EQ(va.size(), vb.size()) << n;
    for (size_t i = 0; i < va.size() && i < vb.size(); ++i)
      d = std::max(d, static_cast<double>(std::fabs(va[i] - vb[i]))), m = std::max(m, static_cast<double>(std::fabs(va[i])));
  }
  return m > 0 ? d / m : d;
}

double norm_of(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

double mean(const std::vector<float>& v, size_t a, size_t b) {
  double s = 0;
  for (size_t i = a; i < b; ++i) s += v[i];
  return s / static_cast<double>(b - a);
}

}  // namespace

// With B = 0 the adapter is a no-op, so the engine's first loss is the base model's own
// loss: it must match llama.cpp's to float precision, for both architectures.
TEST(Learn, ForwardMatchesLlamaCpp) {
  for (const char* name : {"synthetic-llama-tiny.gguf", "synthetic-qwen2-tiny.gguf"}) {
    auto data = pattern_set(1, 0);
    auto o = fast_opts();
    o.max_steps = 1;
    auto r = learn::train_lora(model(name), data, o);
    ASSERT_EQ(r.losses.size(), 1u);
    auto ev = learn::evaluate(model(name), "", data);
    EXPECT_GT(ev.tokens, 5);
    EXPECT_NEAR(r.losses[0], ev.loss, 2e-3 * ev.loss) << name;
    EXPECT_GT(ev.loss, 5.0) << name;  // random weights: near-uniform over the vocabulary
  }
}

// The vocabulary projection's backward is done by hand (a GEMM on its transpose) for
// speed; ggml's own autodiff must give the same training trajectory.
TEST(Learn, HandBackwardMatchesAutodiff) {
  for (const char* name : {"synthetic-llama-tiny.gguf", "synthetic-qwen2-tiny.gguf"}) {
    auto data = pattern_set(2, 0);
    auto o = fast_opts();
    o.bf16_backward = false;  // the same sums in f32 (bf16: BfloatBackwardFollowsF32)
    o.max_steps = 4;
    auto fast = learn::train_lora(model(name), data, o);
    setenv("A4PS_LEARN_PLAIN_BACKWARD", "1", 1);
    auto plain = learn::train_lora(model(name), data, o);
    unsetenv("A4PS_LEARN_PLAIN_BACKWARD");
    ASSERT_EQ(fast.losses.size(), 4u);
    // Float rounding differs (sums in another order), and AdamW amplifies it a little.
    for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(fast.losses[i], plain.losses[i], 5e-5 * plain.losses[i]) << name << " step " << i;
    EXPECT_LT(fast.losses[3], fast.losses[0]);  // the steps did move
  }
}

// The body's input gradients are GEMMs on transposed weights instead of ggml's out_prod;
// both ways (and ggml's autodiff throughout) follow the same trajectory to the same adapter.
TEST(Learn, GemmBackwardMatchesAutodiff) {
  for (const char* name : {"synthetic-llama-tiny.gguf", "synthetic-qwen2-tiny.gguf"}) {
    auto data = pattern_set(3, 0);
    auto o = fast_opts();
    o.targets = learn::kLoraTargets;
    o.max_steps = 4;
    o.bf16_backward = false;
    // The cosine's smaller steps keep the paths' float differences (summation order) from
    // being amplified by Adam into adapters that differ by more than rounding.
    o.schedule = "cosine";
    o.warmup_steps = -1;
    auto gemm = learn::train_lora(model(name), data, o);
    VarsEnv body({{"A4PS_LEARN_PLAIN_BACKWARD", "body"}}), plain({{"A4PS_LEARN_PLAIN_BACKWARD", "1"}});
    o.env = &body;
    auto outprod = learn::train_lora(model(name), data, o);
    o.env = &plain;
    auto autodiff = learn::train_lora(model(name), data, o);
    // Every frozen matmul of the 2 layers (7 a layer) but the first layer's q, k and v, whose
    // input (the embeddings) needs no gradient, and the gradients of attention's Q and
    // weights (2 a layer), in each of the 4 steps' graphs.
    EXPECT_EQ(gemm.backward_gemms, 4 * (2 * 7 - 3 + 2 * 2)) << name;
    EXPECT_EQ(outprod.backward_gemms, 0) << name;
    EXPECT_EQ(autodiff.backward_gemms, 0) << name;
    ASSERT_EQ(gemm.losses.size(), 4u);
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_NEAR(gemm.losses[i], outprod.losses[i], 5e-5 * outprod.losses[i]) << name << " step " << i;
      EXPECT_NEAR(gemm.losses[i], autodiff.losses[i], 5e-5 * autodiff.losses[i]) << name << " step " << i;
    }
    EXPECT_LT(gemm.losses[3], gemm.losses[0]);
    EXPECT_LT(adapter_diff(gemm.adapter, outprod.adapter), 1e-2) << name;
    EXPECT_LT(adapter_diff(gemm.adapter, autodiff.adapter), 1e-2) << name;
  }
}

// bf16 copies for the backward GEMMs (the default on the CPU) round the gradients to 8
// bits of mantissa: the loss still falls along the f32 trajectory.
TEST(Learn, BfloatBackwardFollowsF32) {
  for (const char* name : {"synthetic-llama-tiny.gguf", "synthetic-qwen2-tiny.gguf"}) {
    auto data = pattern_set(4, 0);
    auto o = fast_opts();
    o.targets = learn::kLoraTargets;
    o.epochs = 5;
    auto bf16 = learn::train_lora(model(name), data, o);
    o.bf16_backward = false;
    auto f32 = learn::train_lora(model(name), data, o);
    ASSERT_EQ(bf16.losses.size(), 20u);
    EXPECT_GT(bf16.backward_gemms, 0);
    EXPECT_NEAR(bf16.losses[0], f32.losses[0], 1e-6 * f32.losses[0]);  // the same forward pass
    for (size_t i = 0; i < 20; ++i) EXPECT_NEAR(bf16.losses[i], f32.losses[i], 2e-2 * f32.losses[i]) << name << " step " << i;
    std::printf("%s: loss over the last 4 steps, bf16 %.4f, f32 %.4f (first %.4f)\n", name, mean(bf16.losses, 16, 20),
                mean(f32.losses, 16, 20), mean(f32.losses, 0, 4));
    EXPECT_LT(mean(bf16.losses, 16, 20), mean(bf16.losses, 0, 4) - 0.3) << name;
  }
}

TEST(Learn, LearningRateWarmsUpThenFollowsACosine) {
  learn::TrainOptions o;
  o.lr = 1e-3f;
  o.schedule = "cosine";
  o.warmup_steps = 2;
  o.min_lr_ratio = 0.1f;
  EXPECT_FLOAT_EQ(learn::lr_at(o, 1, 10), 0.5e-3f);
  EXPECT_FLOAT_EQ(learn::lr_at(o, 2, 10), 1e-3f);
  EXPECT_FLOAT_EQ(learn::lr_at(o, 3, 10), 1e-3f);  // the cosine starts at lr
  EXPECT_NEAR(learn::lr_at(o, 6, 10), 1e-3 * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 3 / 8))), 1e-9);
  EXPECT_NEAR(learn::lr_at(o, 10, 10), 1e-3 * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 7 / 8))), 1e-9);
  for (int s = 3; s < 10; ++s) EXPECT_GT(learn::lr_at(o, s, 10), learn::lr_at(o, s + 1, 10)) << s;
  EXPECT_GT(learn::lr_at(o, 10, 10), 1e-4f);  // the last step still learns
  o.schedule = "constant";
  EXPECT_FLOAT_EQ(learn::lr_at(o, 1, 10), 0.5e-3f);
  for (int s = 2; s <= 10; ++s) EXPECT_FLOAT_EQ(learn::lr_at(o, s, 10), 1e-3f) << s;
  // Default warm-up: 5% of the steps, none for short runs.
  o.warmup_steps = -1;
  EXPECT_EQ(learn::warmup_steps(o, 100), 5);
  EXPECT_EQ(learn::warmup_steps(o, 19), 0);
  EXPECT_FLOAT_EQ(learn::lr_at(o, 1, 19), 1e-3f);
  // Steps: passes over the examples in steps of batch x accumulation, rounded up.
  learn::TrainOptions b;
  b.batch_size = 4;
  EXPECT_EQ(learn::train_steps(b, 10), 3);
  b.batch_size = 2, b.grad_accum = 2, b.epochs = 2;
  EXPECT_EQ(learn::train_steps(b, 10), 5);
  b.max_steps = 7;
  EXPECT_EQ(learn::train_steps(b, 10), 7);
}

// The loss of a batch (examples of different lengths, padded to the longest) is the mean
// over all its assistant tokens of each example's own loss: padding changes nothing.
TEST(Learn, PaddedBatchGivesEachExamplesOwnLoss) {
  const auto base = model("synthetic-qwen2-tiny.gguf");
  std::vector<learn::Example> data = pattern_set(3, 0);
  data[1].messages[1].content = "Blue seven river, blue seven river, and the long grey road beyond the hill.";
  data[2].messages[0].content = "Hi?";
  auto o = fast_opts();
  o.max_steps = 1;
  double sum = 0;
  int64_t n = 0;
  std::set<int64_t> lengths;
  for (auto& ex : data) {
    auto one = learn::train_lora(base, {ex}, o);
    sum += one.losses[0] * static_cast<double>(one.learned);
    n += one.learned;
    lengths.insert(one.tokens);
  }
  ASSERT_EQ(lengths.size(), 3u);  // three lengths: two of them padded in the batch
  o.batch_size = 3;
  auto batch = learn::train_lora(base, data, o);
  ASSERT_EQ(batch.losses.size(), 1u);
  EXPECT_EQ(batch.learned, n);
  EXPECT_NEAR(batch.losses[0], sum / static_cast<double>(n), 1e-4);
}

// k micro-batches of one example, accumulated, make the same optimizer steps as one batch of k.
TEST(Learn, GradientAccumulationEqualsOneBatch) {
  for (const char* name : {"synthetic-llama-tiny.gguf", "synthetic-qwen2-tiny.gguf"}) {
    auto data = pattern_set(6, 0);
    auto o = fast_opts();
    o.bf16_backward = false;  // bf16 rounds the two ways' gradients (scaled differently) differently
    o.schedule = "cosine";    // smaller steps: float differences between the two ways stay small
    o.warmup_steps = -1;
    o.epochs = 2;
    o.batch_size = 3;
    auto batch = learn::train_lora(model(name), data, o);
    o.batch_size = 1;
    o.grad_accum = 3;
    auto accum = learn::train_lora(model(name), data, o);
    ASSERT_EQ(batch.losses.size(), 4u);
    ASSERT_EQ(accum.losses.size(), 4u);
    for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(accum.losses[i], batch.losses[i], 1e-4) << name << " step " << i;
    EXPECT_LT(adapter_diff(accum.adapter, batch.adapter), 1e-3) << name;
    EXPECT_EQ(accum.lineage["hyper"]["grad_accum"], 3);
    EXPECT_EQ(batch.lineage["hyper"]["batch_size"], 3);
    // One example per step instead: other steps, another adapter (the comparison can fail).
    o.grad_accum = 1;
    auto single = learn::train_lora(model(name), data, o);
    EXPECT_EQ(single.losses.size(), 12u);
    EXPECT_GT(adapter_diff(single.adapter, batch.adapter), 1e-2) << name;
  }
}

// AdamW's decoupled decay: with B = 0 at the first step A has no gradient, so one step
// scales A by exactly (1 - lr * decay); over a run the adapter stays smaller.
TEST(Learn, WeightDecayShrinksTheAdapter) {
  const auto base = model("synthetic-llama-tiny.gguf");
  auto data = pattern_set(4, 0);
  auto o = fast_opts();
  o.schedule = "constant";
  o.warmup_steps = 0;
  o.max_steps = 1;
  auto plain = learn::train_lora(base, data, o);
  o.weight_decay = 10;  // x(1 - 0.01 * 10) = x0.9 in one step
  auto decayed = learn::train_lora(base, data, o);
  auto tp = adapter_tensors(plain.adapter), td = adapter_tensors(decayed.adapter);
  int n_a = 0;
  for (auto& [n, v] : tp)
    if (n.find("lora_a") != std::string::npos) {
      ++n_a;
      EXPECT_NEAR(norm_of(td[n]), 0.9 * norm_of(v), 1e-5 * norm_of(v)) << n;
    }
  EXPECT_GT(n_a, 0);
  EXPECT_EQ(decayed.lineage["hyper"]["weight_decay"], 10);
  o.max_steps = 8;
  o.weight_decay = 0;
  plain = learn::train_lora(base, data, o);
  o.weight_decay = 1;
  decayed = learn::train_lora(base, data, o);
  double np = 0, nd = 0;
  for (auto& [n, v] : adapter_tensors(plain.adapter)) np += norm_of(v);
  for (auto& [n, v] : adapter_tensors(decayed.adapter)) nd += norm_of(v);
  EXPECT_LT(nd, np);
}

// One line says where training runs: the GPU when ggml has one, else the CPU and why.
TEST(Learn, SaysWhichDeviceItTrainsOn) {
  auto data = pattern_set(2, 0);
  auto o = fast_opts();
  o.max_steps = 2;
  VarsEnv cpu({{"A4PS_TRAIN_DEVICE", "cpu"}});
  o.env = &cpu;
  auto r = learn::train_lora(model("synthetic-llama-tiny.gguf"), data, o);
  EXPECT_EQ(r.device, "CPU");
  EXPECT_EQ(r.device_note, "training on the CPU: as A4PS_TRAIN_DEVICE=cpu asks");
  VarsEnv bad({{"A4PS_TRAIN_DEVICE", "tpu"}});
  o.env = &bad;
  EXPECT_EQ(error_of([&] { learn::train_lora(model("synthetic-llama-tiny.gguf"), data, o); }),
            "A4PS_TRAIN_DEVICE is 'tpu'; write cpu, gpu, auto or a device `a4ps doctor` lists");
  VarsEnv none({});
  o.env = &none;
  r = learn::train_lora(model("synthetic-llama-tiny.gguf"), data, o);
  if (!llm::offload_device()) {
    EXPECT_EQ(r.device, "CPU");
    EXPECT_EQ(r.device_note, "training on the CPU: " + llm::gpu_advice());
  } else if (r.device == "CPU") {  // a GPU without every op of a step (lavapipe), or too small
    EXPECT_TRUE(r.device_note.find(" lacks ops a training step needs: ") != std::string::npos ||
                r.device_note.find(" VRAM budget") != std::string::npos) << r.device_note;
  } else {
    EXPECT_EQ(r.device_note.rfind("training on " + r.device + " (", 0), 0u) << r.device_note;
  }
}

// The device path (base in f32 in the device's buffer, the causal mask as an input, the
// transposed output read back from there), run on the CPU device, follows the CPU path's
// trajectory; the adapter it writes loads in llama.cpp. A real GPU runs the same path
// (TrainsOnTheGpuAsOnTheCpu).
void expect_device_matches_cpu(const std::string& device, double rel) {
  for (const char* name : {"synthetic-llama-tiny.gguf", "synthetic-qwen2-tiny.gguf"}) {
    auto data = pattern_set(3, 0);
    auto o = fast_opts();
    o.max_steps = 6;
    VarsEnv on_cpu({{"A4PS_TRAIN_DEVICE", "cpu"}}), on_dev({{"A4PS_TRAIN_DEVICE", device}});
    o.env = &on_cpu;
    auto c = learn::train_lora(model(name), data, o);
    o.env = &on_dev;
    auto g = learn::train_lora(model(name), data, o);
    std::printf("%s: %s\n", name, g.device_note.c_str());
    ASSERT_EQ(g.device_note.rfind("training on " + g.device + " (", 0), 0u) << g.device_note;
    ASSERT_EQ(g.losses.size(), c.losses.size());
    for (size_t i = 0; i < c.losses.size(); ++i) EXPECT_NEAR(g.losses[i], c.losses[i], rel * c.losses[i]) << name << " step " << i;
    EXPECT_LT(g.losses.back(), g.losses.front());
    TempDir d;
    write_file(d / "dev.gguf", g.adapter);
    auto ev = learn::evaluate(model(name), (d / "dev.gguf").string(), data);
    EXPECT_GT(ev.tokens, 5);
  }
}

TEST(Learn, TheDevicePathOnTheCpuDeviceFollowsTheCpuPath) {
  expect_device_matches_cpu("CPU", 2e-3);  // f32 weights against f16 and q8_0 ones
}

// Needs a GPU with every op of a training step (CUDA has them; Vulkan lacks a transposed
// out_prod, so lavapipe, GGML_VK_VISIBLE_DEVICES=0, trains on the CPU and says so).
TEST(Learn, TrainsOnTheGpuAsOnTheCpu) {
  auto dev = llm::offload_device();
  if (!dev) GTEST_SKIP() << "no GPU here: " << llm::gpu_advice();
  auto o = fast_opts();
  o.max_steps = 1;
  auto probe = learn::train_lora(model("synthetic-llama-tiny.gguf"), pattern_set(1, 0), o);
  if (probe.device == "CPU") GTEST_SKIP() << probe.device_note;
  expect_device_matches_cpu(dev->name, 5e-3);
}

TEST(Learn, TrainingLowersLossAndAdapterLoadsInLlamaCpp) {
  TempDir d;
  const auto base = model("synthetic-llama-tiny.gguf");
  auto train = pattern_set(8, 0), held = pattern_set(4, 100);
  auto o = fast_opts();
  o.epochs = 25;
  auto r = learn::train_lora(base, train, o);
  ASSERT_EQ(r.losses.size(), 200u);
  const double first = mean(r.losses, 0, 8), last = mean(r.losses, 192, 200);
  std::printf("train loss: first epoch %.4f, last epoch %.4f (%.1f tok/s)\n", first, last, r.tokens_per_s);
  EXPECT_LT(last, first - 0.5);

  ASSERT_EQ(r.adapter.compare(0, 4, "GGUF"), 0);
  fs::path ad = d / "adapter.gguf";
  {
    std::FILE* f = std::fopen(ad.c_str(), "wb");
    std::fwrite(r.adapter.data(), 1, r.adapter.size(), f);
    std::fclose(f);
  }
  // Held-out examples of the same pattern (other questions), measured by llama.cpp with
  // and without the adapter loaded through llama_adapter_lora_init.
  auto before = learn::evaluate(base, "", held), after = learn::evaluate(base, ad, held);
  auto tr_before = learn::evaluate(base, "", train), tr_after = learn::evaluate(base, ad, train);
  std::printf("held-out loss %.4f -> %.4f (ppl %.0f -> %.0f); train (llama.cpp) %.4f -> %.4f\n", before.loss, after.loss,
              before.ppl, after.ppl, tr_before.loss, tr_after.loss);
  EXPECT_LT(after.loss, before.loss - 0.3);
  EXPECT_LT(tr_after.loss, tr_before.loss - 0.5);
  // The engine's own last losses and llama.cpp's measure of the same adapter agree.
  EXPECT_NEAR(tr_after.loss, last, 0.25);
  // Per-token probability of the continuation rises by this factor on average.
  std::printf("mean probability of held-out continuation tokens x%.2f\n", std::exp(before.loss - after.loss));

  // Through the persona runtime (ModelManager, adapter by path): greedy decoding of a
  // held-out question now starts the learned answer; the base alone does not.
  {
    llm::ModelManager mm;
    llm::ChatRequest req;
    req.messages = {{"user", held[0].messages[0].content}};
    req.max_tokens = 6;
    std::string with = mm.chat({"BRICK+lora", base, {{ad, 1.0f}}}, req).text;
    std::string without = mm.chat({"BRICK", base, {}}, req).text;
    std::printf("greedy with adapter: '%s'; without: '%s'\n", with.c_str(), without.c_str());
    EXPECT_NE(with.find("Blue seven"), std::string::npos) << with;
    EXPECT_EQ(without.find("Blue"), std::string::npos) << without;
  }

  EXPECT_EQ(r.lineage["base_sha256"], sha256_file(base));
  EXPECT_EQ(r.lineage["dataset_sha256"], learn::dataset_hash(train));
  EXPECT_EQ(r.lineage["hyper"]["rank"], 4);
}

TEST(Learn, QuantizedQwen2BaseTrains) {
  const auto base = model("synthetic-qwen2-tiny.gguf");
  auto train = pattern_set(4, 0);
  auto o = fast_opts();
  o.epochs = 20;
  auto r = learn::train_lora(base, train, o);
  const double first = mean(r.losses, 0, 4), last = mean(r.losses, 76, 80);
  std::printf("qwen2 q8_0 train loss %.4f -> %.4f\n", first, last);
  EXPECT_LT(last, first - 0.5);
}

TEST(Learn, CheckpointResumeGivesTheSameResult) {
  TempDir d;
  const auto base = model("synthetic-llama-tiny.gguf");
  auto train = pattern_set(4, 0);
  auto o = fast_opts();
  o.max_steps = 12;
  auto full = learn::train_lora(base, train, o);

  o.checkpoint_dir = d / "ck";
  o.checkpoint_every = 5;
  // Stop after step 7 (as if killed): the last checkpoint holds step 5.
  o.on_step = [](int step, float) {
    if (step == 7) throw std::runtime_error("killed");
  };
  EXPECT_THROW(learn::train_lora(base, train, o), std::runtime_error);
  o.on_step = nullptr;
  auto resumed = learn::train_lora(base, train, o);
  EXPECT_EQ(resumed.resumed_from, 5);
  ASSERT_EQ(resumed.losses.size(), 12u);
  for (size_t i = 0; i < 12; ++i) EXPECT_NEAR(resumed.losses[i], full.losses[i], 1e-4) << i;
  EXPECT_EQ(resumed.adapter.size(), full.adapter.size());

  // Different settings must not silently resume someone else's run.
  o.rank = 2;
  EXPECT_NE(error_of([&] { learn::train_lora(base, train, o); }).find("another training run"), std::string::npos);
}

TEST(Learn, BadInputIsOneClearLine) {
  const auto base = model("synthetic-llama-tiny.gguf");
  auto o = fast_opts();
  o.max_steps = 1;
  std::string e = error_of([&] { learn::train_lora(base, {}, o); });
  EXPECT_NE(e.find("dataset is empty"), std::string::npos) << e;

  auto data = pattern_set(1, 0);
  data[0].tokenizer = learn::tokenizer_fingerprint(model("synthetic-qwen2-tiny.gguf"));
  e = error_of([&] { learn::train_lora(base, data, o); });
  EXPECT_NE(e.find("another tokenizer"), std::string::npos) << e;
  data[0].tokenizer = learn::tokenizer_fingerprint(base);
  EXPECT_EQ(error_of([&] { learn::train_lora(base, data, o); }), "");

  auto big = fast_opts();
  big.rank = 100;  // the tiny model's layers are 64 wide
  big.max_steps = 1;
  e = error_of([&] { learn::train_lora(base, pattern_set(1, 0), big); });
  EXPECT_NE(e.find("larger than the layer"), std::string::npos) << e;

  std::vector<learn::Example> no_assistant = {{{{"user", "hello"}}, ""}};
  e = error_of([&] { learn::train_lora(base, no_assistant, o); });
  EXPECT_NE(e.find("no assistant tokens"), std::string::npos) << e;

  auto bad = fast_opts();
  bad.batch_size = 0;
  EXPECT_EQ(error_of([&] { learn::train_lora(base, pattern_set(1, 0), bad); }), "the batch size must be at least 1 example");
  bad = fast_opts();
  bad.schedule = "linear";
  EXPECT_EQ(error_of([&] { learn::train_lora(base, pattern_set(1, 0), bad); }),
            "unknown learning-rate schedule 'linear'; choose cosine or constant");

  e = error_of([] { learn::parse_jsonl("{\"messages\":[{\"role\":\"user\"}]}\n", "d.jsonl"); });
  EXPECT_NE(e.find("d.jsonl line 1"), std::string::npos) << e;
  for (auto& m : {e}) EXPECT_EQ(m.find('\n'), std::string::npos);
}

TEST(Learn, JsonlRoundTripAndSvg) {
  auto data = pattern_set(3, 0);
  auto back = learn::parse_jsonl(learn::to_jsonl(data), "x");
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[2].messages[1].content, data[2].messages[1].content);
  EXPECT_EQ(learn::dataset_hash(back), learn::dataset_hash(data));
  std::string svg = learn::loss_svg({{"train", {3, 2, 1.5f}}}, "loss");
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
}

// The judge on a real (random-weight) model: the JSON-schema constraint alone must give
// a well-formed judgement, which is stored with its event; golden selection then uses it.
TEST(Learn, JudgeIsConstrainedAndStored) {
  TempDir d;
  auto img = image::Image::create(d / "j.a4ps");
  {
    auto cp = graph::image_checkpointer(img);
    cp->set_thread("t", "running", {}, "thread.started");  // as a graph run logs it
    graph::Checkpoint c;
    c.thread_id = "t";
    c.step = 1;
    c.state = {{"task", "add 2 and 2"},
               {"answer", "4"},
               {"transcript", json::array({{{"step", 1}, {"persona", "BRICK"}, {"kind", "act"}, {"content", "2 + 2 = 4"},
                                            {"prompt", json::array({{{"role", "user"}, {"content", "add 2 and 2"}}})}}})}};
    cp->put(c);
    cp->set_thread("t", "done", json::object(), "thread.finished");
  }
  llm::ModelManager mm;
  auto judge = llm::llama_backend(mm, {"ALFRED", model("synthetic-llama-tiny.gguf"), {}});
  auto j = learn::judge_thread(img, *judge, "t");
  EXPECT_GT(j.id, 0);
  ASSERT_EQ(j.scores.size(), 5u);
  for (auto& [k, v] : j.scores.items()) {
    EXPECT_GE(v.get<double>(), 1) << k;
    EXPECT_LE(v.get<double>(), 5) << k;
  }
  size_t chars = 0;  // the schema's maxLength counts characters, not bytes
  for (unsigned char c : j.rationale) chars += (c & 0xC0) != 0x80;
  EXPECT_LE(chars, 200u);
  bool logged = false;
  for (auto& e : img.events()) logged = logged || e.kind == "learn.judged";
  EXPECT_TRUE(logged);
  {  // stored with the thread's events it judged (its status changes) and the state's hash
    image::sql::Stmt st(img.db(), "SELECT meta FROM judgements WHERE id = ?");
    st.bind(1, j.id);
    ASSERT_TRUE(st.step());
    json meta = json::parse(st.text(0));
    EXPECT_GE(meta["events"].size(), 2u) << meta.dump();
    EXPECT_EQ(meta["state_sha256"].get<std::string>().size(), 64u);
  }
  // Thresholds decide: everything passes at 1, nothing at above 5.
  EXPECT_EQ(learn::select_golden(img, {5.5, 1}).added, 0);
  auto g = learn::select_golden(img, {1, 1});
  EXPECT_EQ(g.added, 1);
  auto set = learn::golden_set(img, "BRICK");
  ASSERT_EQ(set.size(), 1u);
  EXPECT_EQ(set[0].messages.back().content, "2 + 2 = 4");
  EXPECT_EQ(learn::select_golden(img, {1, 1}).duplicates, 1);
  EXPECT_EQ(img.check().ok, true);
}
