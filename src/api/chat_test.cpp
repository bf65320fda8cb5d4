// The public chat API on real images: one persona's reply (the scripted fake, and a
// synthetic GGUF through llama.cpp), and embeddings.
#include "a4ps/chat.h"

#include <gtest/gtest.h>

#include <cmath>

#include "api/api_test_util.h"

namespace a4ps {
namespace {

using apitest::model;
using apitest::script;

struct Chat : ::testing::Test {
  test::TempDir d;
  Image img = Image::open((d / "agent.a4ps").string());
};

TEST_F(Chat, APersonaAnswersUnderItsOwnName) {
  std::string m = script(d / "s.jsonl", {"I build things."});
  auto r = persona_chat(img, "brick", {{"user", "who are you?"}}, {.model = m, .stop = {"things"}});
  EXPECT_EQ(r.persona, "BRICK");
  EXPECT_EQ(r.model, m);
  EXPECT_EQ(r.text, "I build ");
  EXPECT_EQ(r.finish_reason, "stop");
}

TEST_F(Chat, BadInputIsOneLine) {
  std::string m = script(d / "s.jsonl", {"x"});
  try {
    persona_chat(img, "NOBODY", {{"user", "hi"}}, {.model = m});
    ADD_FAILURE() << "an unknown persona answered";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no persona 'NOBODY'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(persona_chat(img, "BRICK", {}, {.model = m}), Error);
  EXPECT_THROW(persona_chat(img, "BRICK", {{"user", "hi"}}, {.model = (d / "missing.gguf").string()}), Error);
  EXPECT_THROW(embed_text(img, "hello", {.model = m}), Error);  // the fake cannot embed
  EXPECT_THROW(embed_text(img, "", {.model = model("synthetic-llama-tiny.gguf").string()}), Error);
}

TEST_F(Chat, ASyntheticModelThroughLlamaCpp) {
  auto cache = std::make_shared<ModelCache>();
  std::string gguf = model("synthetic-llama-tiny.gguf").string();
  std::string streamed;
  auto r = persona_chat(img, "ROBIN", {{"system", "Be terse."}, {"user", "hello"}},
                        {.model = gguf, .max_tokens = 6, .temperature = 0.0f,
                         .on_token = [&](std::string_view p) { streamed.append(p); return true; }, .models = cache});
  EXPECT_GT(r.prompt_tokens, 0);
  EXPECT_GT(r.completion_tokens, 0);
  EXPECT_LE(r.completion_tokens, 6);
  EXPECT_EQ(streamed, r.text);
  auto a = embed_text(img, "hello world", {.model = gguf, .models = cache});
  auto b = embed_text(img, "hello world", {.model = gguf, .models = cache});
  ASSERT_GT(a.size(), 8u);
  EXPECT_EQ(a, b);
  double norm = 0;
  for (float x : a) norm += double{x} * x;
  EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-3);
  EXPECT_EQ(cache->loads(), 1);  // one model, loaded once for both calls
}

}  // namespace
}  // namespace a4ps
