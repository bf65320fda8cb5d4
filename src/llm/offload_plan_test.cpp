// The VRAM planner on described devices (8 GB, 4 GB, none) and described model shapes
// (Qwen2 0.5B, 1.5B, 7B), and on the synthetic GGUFs: no GPU needed.
#include "llm/offload_plan.h"

#include <gtest/gtest.h>

#include "llm/llm.h"
#include "testutil.h"

namespace a4ps::llm {
namespace {

constexpr uint64_t GiB = 1ull << 30, MiB = 1ull << 20;

// A Qwen2-shaped model at `bits` bits per weight (4.85: Q4_K_M, 8.5: Q8_0), norms in f32.
ModelShape qwen2(int layers, uint32_t embd, uint32_t heads, uint32_t heads_kv, uint32_t ff, double bits) {
  const uint64_t vocab = 151936, kv = uint64_t{embd} / heads * heads_kv;
  const uint64_t params = 2ull * embd * embd + 2 * embd * kv + 3ull * embd * ff;
  ModelShape m;
  m.layer_bytes.assign(static_cast<size_t>(layers), static_cast<uint64_t>(static_cast<double>(params) * bits / 8) + 2 * embd * 4 +
                                                        (embd + 2 * kv) * 4);
  m.input_bytes = static_cast<uint64_t>(static_cast<double>(vocab * embd) * bits / 8);
  m.output_bytes = m.input_bytes + embd * 4;  // tied or not, the output layer holds a projection this size
  m.embedding = embd, m.heads = heads, m.ff = ff, m.vocab = static_cast<uint32_t>(vocab), m.context_length = 32768;
  m.kv_width = static_cast<uint32_t>(2 * kv);
  return m;
}
ModelShape qwen2_0_5b() { return qwen2(24, 896, 14, 2, 4864, 8.5); }   // Q8_0, ~0.5 GiB
ModelShape qwen2_1_5b() { return qwen2(28, 1536, 12, 2, 8960, 4.85); }  // Q4_K_M, ~0.9 GiB
ModelShape qwen2_7b() { return qwen2(28, 3584, 28, 4, 18944, 4.85); }  // Q4_K_M, ~4.4 GiB

// Consumer cards as a desktop leaves them: the display holds a little.
const DeviceMemory gpu8{"CUDA0", 7600 * MiB, 8 * GiB};
const DeviceMemory gpu4{"CUDA0", 3700 * MiB, 4 * GiB};

OffloadPlan plan(const ModelShape& m, uint64_t budget, uint32_t n_ctx = 4096) {
  return plan_offload(m, {.n_ctx = n_ctx, .n_ubatch = 512, .budget_bytes = budget});
}

// The plan is exactly the largest N whose cost fits: with the budget set to the plan's own
// cost it is the same plan, one byte less and it loses a layer.
void expect_tight(const ModelShape& m, const OffloadPlan& p, uint64_t budget, uint32_t n_ctx = 4096) {
  EXPECT_LE(p.gpu_bytes, budget);
  EXPECT_EQ(plan(m, p.gpu_bytes, n_ctx).gpu_layers, p.gpu_layers);
  if (p.gpu_layers > 0) {
    EXPECT_LT(plan(m, p.gpu_bytes - 1, n_ctx).gpu_layers, p.gpu_layers);
  }
}

TEST(OffloadPlan, TheDefaultBudgetLeavesTheDriverAMargin) {
  EXPECT_EQ(default_vram_budget(gpu8), 7600 * MiB - 8 * GiB / 20);  // 5% of the card
  EXPECT_EQ(default_vram_budget(gpu4), 3700 * MiB - 256 * MiB);     // at least 256 MiB
  EXPECT_EQ(default_vram_budget({"x", 100 * MiB, 4 * GiB}), 0u);    // nothing left to offer
}

TEST(OffloadPlan, On8GBEveryDescribedModelLoadsWhole) {
  const uint64_t budget = default_vram_budget(gpu8);
  for (auto* shape : {&qwen2_0_5b, &qwen2_1_5b, &qwen2_7b}) {
    ModelShape m = shape();
    OffloadPlan p = plan(m, budget);
    EXPECT_EQ(p.gpu_layers, p.layers + 1) << p.summary;  // every block and the output layer
    EXPECT_TRUE(p.output_on_gpu);
    EXPECT_EQ(p.cpu_bytes, m.input_bytes);  // only the token embedding stays on the CPU
    expect_tight(m, p, budget);
  }
  const std::string whole = plan(qwen2_7b(), budget).summary;
  std::printf("7B Q4_K_M at 4k context on an 8 GB card: %s\n", whole.c_str());
  EXPECT_EQ(whole.rfind("28 of 28 layers and the output on the GPU (", 0), 0u) << whole;
}

TEST(OffloadPlan, On4GBThe7BIsSplitAndTheSmallOnesFit) {
  const uint64_t budget = default_vram_budget(gpu4);
  EXPECT_EQ(plan(qwen2_0_5b(), budget).gpu_layers, 25);
  EXPECT_EQ(plan(qwen2_1_5b(), budget).gpu_layers, 29);
  ModelShape m = qwen2_7b();
  OffloadPlan p = plan(m, budget);
  std::printf("7B Q4_K_M at 4k context on a 4 GB card: %s\n", p.summary.c_str());
  EXPECT_GT(p.gpu_layers, 10) << p.summary;  // most of it still runs on the GPU
  EXPECT_LT(p.gpu_layers, 28) << p.summary;
  EXPECT_FALSE(p.output_on_gpu);
  expect_tight(m, p, budget);
  // What is not on the GPU is on the CPU: the blocks left there, their KV, the embedding and output.
  uint64_t cpu = m.input_bytes + m.output_bytes;
  for (int i = 0; i < 28 - p.gpu_layers; ++i) cpu += m.layer_bytes[static_cast<size_t>(i)] + p.kv_bytes_per_layer;
  EXPECT_EQ(p.cpu_bytes, cpu);
  EXPECT_NE(p.summary.find(" of 28 layers on the GPU"), std::string::npos) << p.summary;
}

TEST(OffloadPlan, WithoutAGpuEverythingStaysOnTheCpu) {
  for (auto* shape : {&qwen2_0_5b, &qwen2_1_5b, &qwen2_7b}) {
    OffloadPlan p = plan(shape(), 0);
    EXPECT_EQ(p.gpu_layers, 0);
    EXPECT_EQ(p.gpu_bytes, 0u);
    EXPECT_EQ(p.summary, "CPU only (no GPU budget)");
  }
  // A budget below one layer and its compute buffer is no better than none.
  OffloadPlan p = plan(qwen2_7b(), 64 * MiB);
  EXPECT_EQ(p.gpu_layers, 0);
  EXPECT_EQ(p.summary, "CPU only: not one layer fits the 64.0 MiB GPU budget");
}

TEST(OffloadPlan, ALongerContextCostsLayers) {
  const uint64_t budget = default_vram_budget(gpu4);
  OffloadPlan short_ctx = plan(qwen2_7b(), budget, 2048), long_ctx = plan(qwen2_7b(), budget, 32768);
  EXPECT_GT(short_ctx.gpu_layers, long_ctx.gpu_layers);
  EXPECT_EQ(long_ctx.kv_bytes_per_layer, 32768ull * 1024 * 2);  // (128 + 128) * 4 KV heads, f16
  // The context is never larger than the model's own.
  EXPECT_EQ(plan(qwen2_7b(), budget, 1u << 20).gpu_layers, long_ctx.gpu_layers);
}

TEST(OffloadPlan, AdaptersTakeTheirShare) {
  const uint64_t budget = default_vram_budget(gpu4);
  ModelShape m = qwen2_7b();
  OffloadPlan without = plan(m, budget);
  OffloadPlan with = plan_offload(m, {.n_ctx = 4096, .n_ubatch = 512, .budget_bytes = budget, .extra_bytes = 600 * MiB});
  EXPECT_LT(with.gpu_layers, without.gpu_layers);
  EXPECT_LE(with.gpu_bytes, budget);
}

// The synthetic models' parts, priced from their GGUFs, match their known shapes (tools/synth-gguf:
// tiny = 64 wide, 2 blocks, 4 heads of 16, 2 KV heads, feed-forward 192).
TEST(ModelShapeFromGguf, ReadsEachBlockAndTheTiedOutput) {
  ModelShape l = read_model_shape(test::model("synthetic-llama-tiny.gguf"));  // f16, own output
  const uint64_t f16 = 2, f32 = 4, kv = 32;
  const uint64_t block16 = 2 * 64 * f32 + (64 * 64 + 2 * 64 * kv + 64 * 64 + 3 * 64 * 192) * f16;
  EXPECT_EQ(l.layer_bytes, (std::vector<uint64_t>{block16, block16}));
  const uint64_t vocab = read_model_info(test::model("synthetic-llama-tiny.gguf")).vocab;
  EXPECT_EQ(l.vocab, vocab);
  EXPECT_EQ(l.input_bytes, vocab * 64 * f16);
  EXPECT_EQ(l.output_bytes, vocab * 64 * f16 + 64 * f32);
  EXPECT_EQ(l.kv_width, 2 * kv);
  EXPECT_EQ(l.embedding, 64u);
  EXPECT_EQ(l.ff, 192u);

  ModelShape q = read_model_shape(test::model("synthetic-qwen2-tiny.gguf"));  // q8_0 (34 bytes per 32), tied
  auto q8 = [](uint64_t n_in, uint64_t rows) { return n_in / 32 * 34 * rows; };
  const uint64_t block8 = 2 * 64 * f32 + (64 + 2 * kv) * f32 /* biases */ + q8(64, 64) * 2 + q8(64, kv) * 2 +
                          q8(64, 192) * 2 + q8(192, 64);
  EXPECT_EQ(q.layer_bytes, (std::vector<uint64_t>{block8, block8}));
  EXPECT_EQ(q.output_bytes, q.input_bytes + 64 * f32);  // the output layer gets its own copy of the embedding
  EXPECT_EQ(q.input_bytes, q8(64, q.vocab));
}

TEST(ModelShapeFromGguf, PlansASyntheticModelLikeADescribedOne) {
  ModelShape m = read_model_shape(test::model("synthetic-qwen2-tiny.gguf"));
  OffloadPlan whole = plan(m, default_vram_budget(gpu8), 1024);
  EXPECT_EQ(whole.gpu_layers, 3);
  expect_tight(m, whole, default_vram_budget(gpu8), 1024);
  // More budget never means fewer layers, and a plan never exceeds its budget.
  int last = 0;
  for (uint64_t b = 0; b <= whole.gpu_bytes; b += whole.gpu_bytes / 97) {
    OffloadPlan p = plan(m, b, 1024);
    EXPECT_GE(p.gpu_layers, last) << b;
    EXPECT_LE(p.gpu_bytes, b);
    last = p.gpu_layers;
  }
}

TEST(ModelShapeFromGguf, BadFilesGiveOneClearError) {
  EXPECT_THROW(read_model_shape("/nonexistent/model.gguf"), Error);
  EXPECT_EQ(test::error_of([] { read_model_shape("/nonexistent/model.gguf"); }),
            "no model file at /nonexistent/model.gguf; check the path");
}

}  // namespace
}  // namespace a4ps::llm
