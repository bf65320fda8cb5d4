#include "llm/llm.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "testutil.h"

namespace a4ps::llm {
namespace {

using test::model;

using test::error_of;

TEST(ModelInfo, ReadsASyntheticLlama) {
  ModelInfo m = read_model_info(model("synthetic-llama-tiny.gguf"));
  EXPECT_EQ(m.architecture, "llama");
  EXPECT_TRUE(m.synthetic);
  EXPECT_TRUE(m.chat_template);
  EXPECT_EQ(m.vocab, 32000u);
  EXPECT_EQ(m.layers, 2u);
  EXPECT_EQ(m.context_length, 2048u);
  EXPECT_EQ(m.quantization, "F16");
  // embeddings + output (2 x 64 x 32000) + 2 layers of attention/ffn + norms
  const uint64_t layer = 64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 192 + 2 * 64;
  EXPECT_EQ(m.parameters, 2ull * 64 * 32000 + 2 * layer + 64);
}

TEST(ModelInfo, ReadsASyntheticQwen2InQ8) {
  ModelInfo m = read_model_info(model("synthetic-qwen2-tiny.gguf"));
  EXPECT_EQ(m.architecture, "qwen2");
  EXPECT_EQ(m.vocab, 151936u);
  EXPECT_EQ(m.quantization, "Q8_0");
  EXPECT_NE(m.name.find("synthetic"), std::string::npos);
}

TEST(ModelInfo, BadFilesGiveOneClearError) {
  test::TempDir d;
  EXPECT_NE(error_of([&] { read_model_info(d / "missing.gguf"); }).find("no model file"), std::string::npos);
  std::ofstream(d / "text.gguf") << "hello, I am not a model";
  EXPECT_NE(error_of([&] { read_model_info(d / "text.gguf"); }).find("not a GGUF model"), std::string::npos);
  {
    std::string head = read_file(model("synthetic-llama-tiny.gguf")).substr(0, 4096);
    std::ofstream(d / "cut.gguf", std::ios::binary) << head;
  }
  EXPECT_NE(error_of([&] { read_model_info(d / "cut.gguf"); }).find("damaged or truncated"), std::string::npos);
}

TEST(Generate, LlamaCppLoadsTheModelAndGeneratesTokens) {
  for (const char* name : {"synthetic-llama-tiny.gguf", "synthetic-qwen2-tiny.gguf"}) {
    GenerateResult a = generate(model(name), "Hello there", {.n_predict = 12, .n_ctx = 256, .n_threads = 2});
    EXPECT_GT(a.prompt_tokens, 3) << name;  // the chat template wrapped the message
    EXPECT_GT(a.generated_tokens, 0) << name;
    EXPECT_LE(a.generated_tokens, 12) << name;
    GenerateResult b = generate(model(name), "Hello there", {.n_predict = 12, .n_ctx = 256, .n_threads = 2});
    EXPECT_EQ(a.text, b.text) << name;  // greedy decoding is deterministic
  }
}

TEST(Generate, PromptLargerThanContextIsAClearError) {
  std::string big(4000, 'a');
  for (auto& c : big) c = static_cast<char>('a' + (&c - big.data()) % 26);
  EXPECT_NE(error_of([&] { generate(model("synthetic-llama-tiny.gguf"), big, {.n_ctx = 64}); }).find("exceeds the context"),
            std::string::npos);
}

}  // namespace
}  // namespace a4ps::llm
