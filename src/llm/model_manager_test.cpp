#include "llm/model_manager.h"
#include "llm/devices.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "testutil.h"
#include "vars_env.h"

namespace a4ps::llm {
namespace {

using test::error_of;
using test::model;

Persona llama_persona(const std::string& name, bool adapter = false) {
  Persona p{name, model("synthetic-llama-tiny.gguf"), {}};
  if (adapter) p.adapters.push_back({model("synthetic-llama-tiny-lora.gguf"), 1.0f});
  return p;
}

ManagerOptions small() { return {.n_ctx = 1024, .n_threads = 2}; }

float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

// The memory budget variable is read through the manager's Env.
TEST(ModelManager, TheBudgetVariableIsReadThroughTheEnv) {
  test::VarsEnv env({{"A4PS_MEMORY_BUDGET", "3G"}});
  EXPECT_EQ(ModelManager({.env = &env}).budget(), 3ull << 30);
  EXPECT_EQ(ModelManager({.budget_bytes = 5, .env = &env}).budget(), 5u);  // the option wins
}

TEST(ModelManager, ChatStreamsTheSameTextItReturns) {
  ModelManager mm(small());
  std::string streamed;
  ChatRequest req{.messages = {{"user", "Tell me about owls."}}, .max_tokens = 12};
  req.on_token = [&](std::string_view s) { streamed += s; return true; };
  ChatResult r = mm.chat(llama_persona("BRICK"), req);
  EXPECT_GT(r.completion_tokens, 0);
  EXPECT_EQ(streamed, r.text);
  EXPECT_GT(r.prompt_tokens, 5);
}

TEST(ModelManager, StopStringsEndTheTextAndAreNeverStreamed) {
  ModelManager mm(small());
  std::string streamed;
  ChatRequest req{.messages = {{"user", "hi"}}, .max_tokens = 40, .stop = {"STOP"},
                  .grammar = "root ::= \"hello STOP world\""};
  req.on_token = [&](std::string_view s) { streamed += s; return true; };
  ChatResult r = mm.chat(llama_persona("BRICK"), req);
  EXPECT_EQ(r.text, "hello ");
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(streamed, "hello ");
}

TEST(ModelManager, CancellingFromTheStreamStopsGeneration) {
  ModelManager mm(small());
  int pieces = 0;
  ChatRequest req{.messages = {{"user", "hi"}}, .max_tokens = 50, .ignore_eos = true};
  req.on_token = [&](std::string_view) { return ++pieces < 3; };
  ChatResult r = mm.chat(llama_persona("BRICK"), req);
  EXPECT_EQ(r.finish_reason, "cancelled");
  EXPECT_EQ(pieces, 3);
  EXPECT_LE(r.completion_tokens, 4);
}

TEST(ModelManager, JsonSchemaOutputAlwaysParses) {
  ModelManager mm(small());
  const std::string schema = R"({"type": "object", "additionalProperties": false,
    "properties": {"next": {"enum": ["ALFRED", "BRICK", "ROBIN", "BABS"]},
                   "confidence": {"type": "integer", "minimum": 0, "maximum": 9}},
    "required": ["next", "confidence"]})";
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    ChatRequest req{.messages = {{"user", "Who acts next?"}}, .sampling = {.temperature = 1.0f, .seed = seed},
                    .max_tokens = 80, .json_schema = schema};
    ChatResult r = mm.chat(llama_persona("ALFRED"), req);
    auto j = nlohmann::json::parse(r.text, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "seed " << seed << ": " << r.text;
    EXPECT_TRUE(j["next"].is_string()) << r.text;
    EXPECT_GE(j["confidence"].get<int>(), 0);
    EXPECT_LE(j["confidence"].get<int>(), 9);
  }
  EXPECT_NE(error_of([&] { mm.chat(llama_persona("ALFRED"), {.messages = {{"user", "x"}}, .grammar = "nonsense"}); })
                .find("grammar does not parse"),
            std::string::npos);
}

TEST(ModelManager, AnAdapterChangesTheLogits) {
  ModelManager mm(small());
  std::vector<Message> msgs = {{"user", "What is two plus two?"}};
  auto plain = mm.next_logits(llama_persona("ROBIN"), msgs);
  auto tuned = mm.next_logits(llama_persona("BRICK", true), msgs);
  auto plain_again = mm.next_logits(llama_persona("ROBIN"), msgs);
  EXPECT_GT(max_diff(plain, tuned), 0.05f);
  // Switching back restores the plain model. On a GPU the last token's re-evaluation (one
  // token) and the first prefill (a batch) take different kernels: lavapipe differs by 5e-4.
  EXPECT_LT(max_diff(plain, plain_again), mm.loaded().at(0).gpu_layers ? 2e-3f : 1e-4f);
}

TEST(ModelManager, ARestoredKvPrefixGivesTheLogitsOfAFreshPrefill) {
  std::vector<Message> h1 = {{"system", "You are BRICK, logical and exact."}, {"user", "Count to three."}};
  std::vector<Message> h2 = h1;
  h2.push_back({"assistant", "One, two, three."});
  h2.push_back({"user", "Now backwards."});
  ModelManager mm(small());
  Persona brick = llama_persona("BRICK", true), robin = llama_persona("ROBIN");
  mm.next_logits(brick, h1);
  mm.next_logits(robin, {{"user", "Be kind."}});  // another persona takes the context
  ChatResult r = mm.chat(brick, {.messages = h2, .max_tokens = 1});
  EXPECT_GT(r.reused_tokens, 10);  // BRICK's prefix came back from its saved sequence
  auto restored = mm.next_logits(brick, h2);
  ModelManager fresh(small());
  auto prefilled = fresh.next_logits(brick, h2);
  EXPECT_LT(max_diff(restored, prefilled), 2e-3f);
  auto cached = mm.loaded().at(0).personas_cached;
  EXPECT_EQ(cached.size(), 2u);
}

// Each persona keeps its own sequence: more personas than slots evict the least recently
// used one's, which then prefills again and still gets a fresh prefill's logits.
TEST(ModelManager, MorePersonasThanSlotsEvictTheLeastRecentlyUsedSequence) {
  ModelManager mm(small());
  auto msgs = [](int i) { return std::vector<Message>{{"system", "You are persona number " + std::to_string(i) + "."}, {"user", "Hello there."}}; };
  for (int i = 0; i < 5; ++i) mm.next_logits(llama_persona("P" + std::to_string(i)), msgs(i));
  auto cached = mm.loaded().at(0).personas_cached;
  ASSERT_EQ(cached.size(), 4u);
  EXPECT_EQ(cached.front(), "P4");  // the most recent first
  EXPECT_EQ(std::find(cached.begin(), cached.end(), "P0"), cached.end());
  ChatResult again = mm.chat(llama_persona("P1"), {.messages = msgs(1), .max_tokens = 1});
  EXPECT_GT(again.reused_tokens, 5);  // P1 kept its slot
  ChatResult back = mm.chat(llama_persona("P0"), {.messages = msgs(0), .max_tokens = 1});
  EXPECT_EQ(back.reused_tokens, 0);  // P0's slot went to P4
  ModelManager fresh(small());
  EXPECT_LT(max_diff(mm.next_logits(llama_persona("P0"), msgs(0)), fresh.next_logits(llama_persona("P0"), msgs(0))), 2e-3f);
}

// A persona's cache computed under one adapter is never reused under another.
TEST(ModelManager, ANewAdapterNeverReusesTheOldCache) {
  ModelManager mm(small());
  std::vector<Message> msgs = {{"user", "What is two plus two?"}};
  mm.next_logits(llama_persona("BRICK"), msgs);
  ChatResult r = mm.chat(llama_persona("BRICK", true), {.messages = msgs, .max_tokens = 1});
  EXPECT_EQ(r.reused_tokens, 0);
  ModelManager fresh(small());
  EXPECT_LT(max_diff(mm.next_logits(llama_persona("BRICK", true), msgs), fresh.next_logits(llama_persona("BRICK", true), msgs)),
            2e-3f);
}

TEST(ModelManager, EvictsTheLeastRecentlyUsedModelOverBudget) {
  const uint32_t ctx = 512;
  uint64_t a = estimate_bytes(model("synthetic-llama-tiny.gguf"), ctx);
  uint64_t b = estimate_bytes(model("synthetic-qwen2-tiny.gguf"), ctx);
  uint64_t c = estimate_bytes(model("synthetic-llama-tiny-seed2.gguf"), ctx);
  ModelManager mm({.budget_bytes = std::max({a + b, b + c, a + c}) + 1024, .n_ctx = ctx, .n_threads = 2});
  Persona pa{"A", model("synthetic-llama-tiny.gguf"), {}}, pb{"B", model("synthetic-qwen2-tiny.gguf"), {}},
      pc{"C", model("synthetic-llama-tiny-seed2.gguf"), {}};
  std::vector<Message> m = {{"user", "hi"}};
  mm.next_logits(pa, m);
  mm.next_logits(pb, m);
  mm.next_logits(pa, m);  // A is now the most recent
  mm.next_logits(pc, m);  // over budget: B, the least recent, goes
  auto l = mm.loaded();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_NE(l[0].path.find("seed2"), std::string::npos);
  EXPECT_NE(l[1].path.find("synthetic-llama-tiny.gguf"), std::string::npos);
}

// GPU offload, planned for a described device: the plan and the VRAM bookkeeping are the
// manager's, so they are tested on every machine (where llama.cpp has no GPU backend it
// keeps the planned layers on the CPU).
const DeviceMemory described8{"Described0", 7600ull << 20, 8ull << 30};

// A model wholly on the GPU at n_ctx, with the KV cache of the manager's four persona slots.
uint64_t whole_on_gpu(const char* name, uint32_t n_ctx) {
  return plan_offload(read_model_shape(model(name)), {.n_ctx = n_ctx * 4, .n_ubatch = 512, .budget_bytes = 1ull << 40}).gpu_bytes;
}

TEST(ModelManager, EachLoadOffloadsWhatTheVramBudgetHolds) {
  ModelManager mm({.n_ctx = 512, .n_threads = 2, .gpu = described8});
  EXPECT_EQ(mm.vram_budget(), default_vram_budget(described8));
  mm.next_logits(llama_persona("A"), {{"user", "hi"}});
  auto l = mm.loaded();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].gpu_layers, 3);  // both blocks and the output layer
  EXPECT_EQ(l[0].gpu_bytes, whole_on_gpu("synthetic-llama-tiny.gguf", 512));
  EXPECT_EQ(l[0].placement.rfind("2 of 2 layers and the output on the GPU", 0), 0u) << l[0].placement;
}

TEST(ModelManager, WithoutAGpuNothingIsOffloaded) {
  ModelManager mm({.n_ctx = 512, .n_threads = 2, .gpu = DeviceMemory{}});  // a described "none"
  EXPECT_EQ(mm.vram_budget(), 0u);
  mm.next_logits(llama_persona("A"), {{"user", "hi"}});
  EXPECT_EQ(mm.loaded().at(0).gpu_layers, 0);
  EXPECT_EQ(mm.loaded().at(0).gpu_bytes, 0u);
}

// Two models that do not both fit the VRAM budget: Evict hands the GPU to the one in use,
// Share splits it (the second gets what the first left).
TEST(ModelManager, ModelsTakeTurnsOnTheGpuOrShareIt) {
  const uint64_t a = whole_on_gpu("synthetic-llama-tiny.gguf", 512), b = whole_on_gpu("synthetic-llama-tiny-seed2.gguf", 512);
  const uint64_t budget = std::max(a, b) + std::min(a, b) / 2;
  Persona pa{"A", model("synthetic-llama-tiny.gguf"), {}}, pb{"B", model("synthetic-llama-tiny-seed2.gguf"), {}};
  std::vector<Message> m = {{"user", "hi"}};
  {
    ModelManager mm({.n_ctx = 512, .n_threads = 2, .vram_budget_bytes = budget, .gpu = described8});
    mm.next_logits(pa, m);
    mm.next_logits(pb, m);
    auto l = mm.loaded();
    ASSERT_EQ(l.size(), 1u);  // A was unloaded for B, though host memory had room for both
    EXPECT_NE(l[0].path.find("seed2"), std::string::npos);
    EXPECT_EQ(l[0].gpu_layers, 3);
  }
  {
    ModelManager mm({.n_ctx = 512, .n_threads = 2, .vram_budget_bytes = budget, .vram_policy = VramPolicy::Share, .gpu = described8});
    mm.next_logits(pa, m);
    mm.next_logits(pb, m);
    auto l = mm.loaded();
    ASSERT_EQ(l.size(), 2u);
    EXPECT_EQ(l[1].gpu_layers, 3);  // A, loaded first, whole
    EXPECT_LT(l[0].gpu_layers, 3);  // B: what was left
    EXPECT_LE(l[0].gpu_bytes + l[1].gpu_bytes, budget);
  }
}

// On a real GPU (any ggml device: on a Vulkan build, Mesa's lavapipe counts with
// GGML_VK_VISIBLE_DEVICES=0), the offloaded model gives the logits of the CPU-only one.
TEST(ModelManager, ARealGpuGivesTheLogitsOfTheCpu) {
  if (!offload_device()) GTEST_SKIP() << "no GPU here: " << gpu_advice();
  test::VarsEnv cpu_only({{"A4PS_VRAM_BUDGET", "0"}}), gpu({});
  ModelManager on_cpu({.n_ctx = 512, .n_threads = 2, .env = &cpu_only}), on_gpu({.n_ctx = 512, .n_threads = 2, .env = &gpu});
  std::vector<Message> m = {{"user", "What is two plus two?"}};
  for (bool adapter : {false, true}) {
    auto c = on_cpu.next_logits(llama_persona("A", adapter), m);
    auto g = on_gpu.next_logits(llama_persona("A", adapter), m);
    EXPECT_LT(max_diff(c, g), 2e-2f) << "adapter " << adapter;
  }
  EXPECT_EQ(on_cpu.loaded().at(0).gpu_layers, 0);
  EXPECT_EQ(on_gpu.loaded().at(0).gpu_layers, 3) << on_gpu.loaded().at(0).placement;
  std::printf("%s: %s\n", offload_device()->name.c_str(), on_gpu.loaded().at(0).placement.c_str());
}

TEST(ModelManager, TheVramSettingsAreReadThroughTheEnv) {
  test::VarsEnv env({{"A4PS_VRAM_BUDGET", "1G"}, {"A4PS_VRAM_POLICY", "share"}});
  EXPECT_EQ(ModelManager({.env = &env, .gpu = described8}).vram_budget(), 1ull << 30);
  EXPECT_EQ(ModelManager({.env = &env, .gpu = DeviceMemory{}}).vram_budget(), 0u);  // no GPU: no budget
  test::VarsEnv off({{"A4PS_VRAM_BUDGET", "0"}});
  EXPECT_EQ(ModelManager({.env = &off, .gpu = described8}).vram_budget(), 0u);  // 0: stay on the CPU
  test::VarsEnv bad({{"A4PS_VRAM_POLICY", "sometimes"}});
  EXPECT_EQ(error_of([&] { ModelManager({.env = &bad}); }),
            "A4PS_VRAM_POLICY is 'sometimes'; write evict (one model on the GPU at a time) or share");
  test::VarsEnv junk({{"A4PS_VRAM_BUDGET", "lots"}});
  EXPECT_EQ(error_of([&] { ModelManager({.env = &junk, .gpu = described8}).vram_budget(); }),
            "A4PS_VRAM_BUDGET is 'lots', not a size; write it like 6G or 512M (0: keep models on the CPU)");
}

TEST(ModelManager, ReloadPolicyFreesTheModelAfterEachCall) {
  ModelManager mm({.policy = Policy::Reload, .n_ctx = 512, .n_threads = 2});
  ChatResult r = mm.chat(llama_persona("BRICK"), {.messages = {{"user", "hi"}}, .max_tokens = 2});
  EXPECT_GT(r.load_ms, 0);
  EXPECT_TRUE(mm.loaded().empty());
}

TEST(ModelManager, BadInputGivesOneClearError) {
  test::TempDir d;
  ModelManager mm({.budget_bytes = 1 << 20, .n_ctx = 512});
  EXPECT_NE(error_of([&] { mm.next_logits(llama_persona("X"), {{"user", "hi"}}); }).find("but the memory budget is"),
            std::string::npos);
  ModelManager ok(small());
  EXPECT_NE(error_of([&] { ok.next_logits({"X", d / "missing.gguf", {}}, {{"user", "hi"}}); }).find("no model file"),
            std::string::npos);
  std::ofstream(d / "junk.gguf") << "GGUF but not really";
  EXPECT_NE(error_of([&] { ok.next_logits({"X", d / "junk.gguf", {}}, {{"user", "hi"}}); }).find("damaged or truncated"),
            std::string::npos);
  Persona wrong{"X", model("synthetic-llama-tiny.gguf"), {{model("synthetic-qwen2-tiny-lora.gguf"), 1.0f}}};
  EXPECT_NE(error_of([&] { ok.next_logits(wrong, {{"user", "hi"}}); }).find("does not fit base model"), std::string::npos);
}

TEST(ModelManager, BudgetsAreWrittenAsPeopleWriteThem) {
  EXPECT_EQ(parse_bytes("8G"), 8ull << 30);
  EXPECT_EQ(parse_bytes("512M"), 512ull << 20);
  EXPECT_EQ(parse_bytes("1.5GiB"), 3ull << 29);
  EXPECT_EQ(parse_bytes("4096"), 4096u);
  EXPECT_NE(error_of([] { parse_bytes("lots"); }).find("write it like 8G"), std::string::npos);
  EXPECT_NE(error_of([] { parse_bytes("8X"); }).find("not a size"), std::string::npos);
}

TEST(ModelManager, EmbeddingsAreNormalisedAndDeterministic) {
  ModelManager mm(small());
  auto a = mm.embed(llama_persona("BABS"), "the owl hunts at night");
  auto b = mm.embed(llama_persona("BABS"), "the owl hunts at night");
  auto c = mm.embed(llama_persona("BABS"), "tax law of 1998");
  ASSERT_EQ(a.size(), 64u);
  double n = 0;
  for (float x : a) n += double{x} * x;
  EXPECT_NEAR(n, 1.0, 1e-4);
  EXPECT_LT(max_diff(a, b), 1e-5f);
  EXPECT_GT(max_diff(a, c), 1e-3f);
  // The embedding context is kept between calls: each text is still embedded on its own
  // (as by a manager that embedded nothing before), also after a longer text grew it.
  std::string longer;
  for (int i = 0; i < 120; ++i) longer += "owls and tax law ";
  auto d = mm.embed(llama_persona("BABS"), longer);
  EXPECT_GT(max_diff(a, d), 1e-3f);
  EXPECT_LT(max_diff(a, mm.embed(llama_persona("BABS"), "the owl hunts at night")), 1e-5f);
  ModelManager fresh(small());
  EXPECT_LT(max_diff(c, fresh.embed(llama_persona("BABS"), "tax law of 1998")), 1e-5f);
  EXPECT_LT(max_diff(d, fresh.embed(llama_persona("BABS"), longer)), 1e-5f);
}

TEST(OpenBackend, ReadsEveryKindOfModelSpec) {
  ModelManager mm(small());
  Persona p{"BRICK", {}, {}};
  EXPECT_EQ(open_backend("ollama:llama3.2@http://127.0.0.1:9", mm, p)->name(), "ollama (llama3.2 at http://127.0.0.1:9)");
  EXPECT_EQ(open_backend("openai:http://127.0.0.1:8080#qwen", mm, p)->name(), "openai (qwen at http://127.0.0.1:8080)");
  EXPECT_EQ(open_backend(model("synthetic-llama-tiny.gguf").string(), mm, p)->name(), "llama (synthetic-llama-tiny.gguf)");
  EXPECT_NE(error_of([&] { open_backend("openai:http://x", mm, p); }).find("write openai:URL#MODEL"), std::string::npos);
  EXPECT_NE(error_of([&] { open_backend("ollama:", mm, p); }).find("names no Ollama model"), std::string::npos);
  EXPECT_NE(error_of([&] { open_backend("", mm, p); }).find("set A4PS_MODEL"), std::string::npos);
  EXPECT_NE(error_of([&] { open_backend("/no/such.gguf", mm, p); }).find("no model file"), std::string::npos);
  auto b = open_backend(model("synthetic-llama-tiny.gguf").string(), mm, p);
  EXPECT_GT(b->chat({.messages = {{"user", "hi"}}, .max_tokens = 3, .ignore_eos = true}).completion_tokens, 0);
}

TEST(Scripted, ReplaysByPersonaAndMatchAndSaysWhenItRunsOut) {
  test::TempDir d;
  std::ofstream(d / "s.jsonl") << R"({"text": "route: BRICK", "persona": "ALFRED"})" "\n"
                               << R"({"text": "def f(): pass", "persona": "BRICK", "match": "code"})" "\n";
  auto alfred = scripted_backend(d / "s.jsonl", "ALFRED");
  auto brick = scripted_backend(d / "s.jsonl", "BRICK");
  EXPECT_NE(alfred->name().find("scripted"), std::string::npos);
  EXPECT_EQ(alfred->chat({.messages = {{"user", "anything"}}}).text, "route: BRICK");
  EXPECT_NE(error_of([&] { brick->chat({.messages = {{"user", "no match"}}}); }).find("no response left"), std::string::npos);
  EXPECT_EQ(brick->chat({.messages = {{"user", "write code"}}}).text, "def f(): pass");
  EXPECT_NE(error_of([&] { alfred->chat({.messages = {{"user", "again"}}}); }).find("no response left for persona ALFRED"),
            std::string::npos);
}

}  // namespace
}  // namespace a4ps::llm
