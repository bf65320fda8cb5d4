// The OpenAI-compatible door of `a4ps serve` (/v1): its request parsers alone, bad input
// over real HTTP (OpenAI's error shape, never a crash), and the real `openai` npm client
// end to end (tests/clients/openai_client_test.mjs) against a real server process with
// the scripted (fake) model for the deliberation and a persona on a synthetic GGUF.
#include <gtest/gtest.h>

#include "openai.h"
#include "serve_util.h"

namespace a4ps::test {
namespace {

using server::ApiError;

const char kJson[] = "application/json";

json chat_body(json extra = json::object()) {
  json b = {{"model", "a4ps/BRICK"}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
  b.update(extra);
  return b;
}

// The parser's verdict on a body: "" when accepted, else "STATUS param".
std::string verdict(const json& body) {
  try {
    server::parse_chat_completion(body);
    return "";
  } catch (const ApiError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    return std::to_string(e.status()) + " " + e.param();
  }
}

TEST(OpenAIParse, ChatCompletionFields) {
  auto c = server::parse_chat_completion(chat_body(
      {{"messages", json::array({{{"role", "developer"}, {"content", "Be brief."}},
                                 {{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}})}}})},
       {"stream", true}, {"stream_options", {{"include_usage", true}}}, {"max_completion_tokens", 7}, {"temperature", 0.5},
       {"stop", "END"}, {"n", 1}, {"user", "someone"},
       {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"schema", {{"type", "object"}}}}}}}}));
  ASSERT_EQ(c.messages.size(), 2u);
  EXPECT_EQ(c.messages[0].role, "system");
  EXPECT_EQ(c.messages[1].content, "ab");
  EXPECT_TRUE(c.stream);
  EXPECT_TRUE(c.include_usage);
  EXPECT_EQ(c.max_tokens, 7);
  EXPECT_FLOAT_EQ(*c.temperature, 0.5f);
  EXPECT_EQ(c.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(json::parse(c.json_schema), json({{"type", "object"}}));
  EXPECT_EQ(json::parse(server::parse_chat_completion(chat_body({{"response_format", {{"type", "json_object"}}}})).json_schema)["type"],
            "object");
}

TEST(OpenAIParse, BadChatCompletionsNameTheField) {
  EXPECT_EQ(verdict({{"messages", json::array()}}), "400 model");
  EXPECT_EQ(verdict({{"model", 3}, {"messages", json::array()}}), "400 model");
  EXPECT_EQ(verdict(chat_body({{"messages", json::array()}})), "400 messages");
  EXPECT_EQ(verdict(chat_body({{"messages", "hi"}})), "400 messages");
  EXPECT_EQ(verdict(chat_body({{"messages", json::array({{{"role", "user"}}})}})), "400 messages[0].content");
  EXPECT_EQ(verdict(chat_body({{"messages", json::array({{{"role", "tool"}, {"content", "x"}}})}})), "400 messages[0].role");
  EXPECT_EQ(verdict(chat_body({{"messages", json::array({{{"role", "system"}, {"content", "x"}}})}})), "400 messages");
  EXPECT_EQ(verdict(chat_body({{"temperature", "hot"}})), "400 temperature");
  EXPECT_EQ(verdict(chat_body({{"temperature", 3}})), "400 temperature");
  EXPECT_EQ(verdict(chat_body({{"max_tokens", 0}})), "400 max_tokens");
  EXPECT_EQ(verdict(chat_body({{"max_tokens", 1.5}})), "400 max_tokens");
  EXPECT_EQ(verdict(chat_body({{"stream", "yes"}})), "400 stream");
  EXPECT_EQ(verdict(chat_body({{"stop", json::array({"a", "b", "c", "d", "e"})}})), "400 stop");
  EXPECT_EQ(verdict(chat_body({{"n", 2}})), "400 n");
  EXPECT_EQ(verdict(chat_body({{"response_format", {{"type", "xml"}}}})), "400 response_format");
  EXPECT_EQ(verdict(chat_body({{"response_format", {{"type", "json_schema"}}}})), "400 response_format");
  EXPECT_EQ(verdict(chat_body({{"thread_id", "no spaces please"}})), "400 thread_id");
  EXPECT_EQ(verdict(chat_body({{"tools", json::array({{{"type", "function"}}})}})), "400 tools");
  EXPECT_THROW(server::parse_openai_body("{nope"), ApiError);
  EXPECT_THROW(server::parse_openai_body("[1]"), ApiError);
}

TEST(OpenAIParse, EmbeddingsAndModelIds) {
  auto e = server::parse_embeddings({{"model", "a4ps"}, {"input", json::array({"a", "b"})}, {"encoding_format", "base64"}});
  EXPECT_EQ(e.input.size(), 2u);
  EXPECT_TRUE(e.base64);
  EXPECT_THROW(server::parse_embeddings({{"model", "a4ps"}, {"input", json::array({1, 2})}}), ApiError);
  EXPECT_THROW(server::parse_embeddings({{"model", "a4ps"}, {"input", ""}}), ApiError);
  EXPECT_THROW(server::parse_embeddings({{"model", "a4ps"}}), ApiError);
  EXPECT_EQ(server::persona_of_model("a4ps"), "");
  EXPECT_EQ(server::persona_of_model("a4ps/BRICK"), "BRICK");
  try {
    server::persona_of_model("gpt-4o");
    ADD_FAILURE() << "gpt-4o accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_EQ(e.code(), "model_not_found");
  }
}

TEST(OpenAIParse, AStreamNeverSplitsACharacter) {
  EXPECT_EQ(server::complete_utf8("abc"), 3u);
  EXPECT_EQ(server::complete_utf8("a\xc3"), 1u);          // the first byte of é
  EXPECT_EQ(server::complete_utf8("a\xc3\xa9"), 3u);      // all of it
  EXPECT_EQ(server::complete_utf8("\xe2\x82"), 0u);       // two of €'s three bytes
  EXPECT_EQ(server::complete_utf8("\xf0\x9f\x98\x80"), 4u);  // an emoji, whole
  EXPECT_EQ(server::dump(json("bad \xff byte")), "\"bad \xef\xbf\xbd byte\"");  // never throws
}

struct ServeOpenAI : ::testing::Test {
  TempDir d;
  fs::path img = d / "agent.a4ps";
  std::string script;
  const std::string tiny = std::string(A4PS_TEST_MODELS) + "/synthetic-llama-tiny.gguf";

  void SetUp() override {
    fs::permissions(d.path, fs::perms::others_exec, fs::perm_options::add);  // bwrap's nobody user
    ASSERT_EQ(a4ps("image init " + q(img)).code, 0);
    script = write_script(d / "quick.jsonl", {route("1", "ANSWER"), say("ALFRED", "Forty-two.", "Write the answer"),
                                              say("BRICK", "I build things.")});
    // A fifth persona on a synthetic GGUF: the real llama.cpp path of a4ps/NAME.
    std::ofstream(d / "tiny.toml") << "name = \"TINY\"\nrole = \"a persona on a synthetic model\"\nsystem = \"You are TINY.\"\n"
                                   << "model = \"" << tiny << "\"\nactions = [\"respond\"]\nmax_tokens = 16\n";
    int64_t p = a4ps_json("persona propose " + q(img) + " " + q(d / "tiny.toml") + " --reason test")["proposal"];
    a4ps_json("approvals approve " + q(img) + " " + std::to_string(p) + " --reason ok --reviewer tester");
    a4ps_json("approvals apply " + q(img) + " " + std::to_string(p));
  }

  // The OpenAI error of a response: its status and error object (checked for the shape).
  static json error_of(const httplib::Result& r, int status) {
    EXPECT_TRUE(r);
    if (!r) return nullptr;
    EXPECT_EQ(r->status, status) << r->body;
    json b = body(r);
    EXPECT_TRUE(b.is_object() && b.contains("error") && b["error"].is_object()) << r->body;
    if (!b.is_object() || !b["error"].is_object()) return nullptr;
    for (const char* k : {"message", "type", "param", "code"}) EXPECT_TRUE(b["error"].contains(k)) << k << ": " << r->body;
    EXPECT_TRUE(b["error"]["message"].is_string());
    return b["error"];
  }
};

TEST_F(ServeOpenAI, BadInputGetsOpenAIsErrorShapeAndTheServerLivesOn) {
  Server s(img, {"-m", script, "--max-body", "4096"});
  auto c = s.client();
  EXPECT_EQ(error_of(c.Post("/v1/chat/completions", "{not json", kJson), 400)["type"], "invalid_request_error");
  EXPECT_EQ(error_of(c.Post("/v1/chat/completions", "[]", kJson), 400)["type"], "invalid_request_error");
  EXPECT_EQ(error_of(c.Post("/v1/chat/completions", chat_body({{"messages", 5}}).dump(), kJson), 400)["param"], "messages");
  json e = error_of(c.Post("/v1/chat/completions", chat_body({{"model", "gpt-4o"}}).dump(), kJson), 404);
  EXPECT_EQ(e["code"], "model_not_found");
  EXPECT_EQ(error_of(c.Post("/v1/chat/completions", chat_body({{"model", "a4ps/NOBODY"}}).dump(), kJson), 404)["code"],
            "model_not_found");
  EXPECT_EQ(error_of(c.Post("/v1/embeddings", R"({"model": "a4ps", "input": [1]})", kJson), 400)["param"], "input");
  std::string big = chat_body({{"messages", json::array({{{"role", "user"}, {"content", std::string(8000, 'x')}}})}}).dump();
  error_of(c.Post("/v1/chat/completions", big, kJson), 413);
  error_of(c.Get("/v1/nothing-here"), 404);
  error_of(c.Get("/v1/models/gpt-4o"), 404);
  // The scripted fake cannot embed: one clear line, as a 400.
  EXPECT_NE(error_of(c.Post("/v1/embeddings", R"({"model": "a4ps", "input": "hi"})", kJson), 400)["message"].get<std::string>()
                .find("does not provide embeddings"),
            std::string::npos);
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

TEST_F(ServeOpenAI, TheDeliberationRunsOnANamedThreadTheAgentProtocolSees) {
  Server s(img, {"-m", script});
  auto c = s.client();
  json b = {{"model", "a4ps"}, {"thread_id", "oai-named"}, {"messages", json::array({{{"role", "user"}, {"content", "6*7?"}}})}};
  auto r = c.Post("/v1/chat/completions", b.dump(), kJson);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("X-A4PS-Thread"), "oai-named");
  json j = body(r);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Forty-two.");
  EXPECT_EQ(j["a4ps"]["thread_id"], "oai-named");
  // Usage counts every model call of the deliberation (the scripted fake counts bytes).
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0) << j.dump();
  EXPECT_GT(j["usage"]["completion_tokens"].get<int>(), 0) << j.dump();
  EXPECT_EQ(j["usage"]["total_tokens"].get<int>(),
            j["usage"]["prompt_tokens"].get<int>() + j["usage"]["completion_tokens"].get<int>());
  json t = body(c.Get("/threads/oai-named"));
  EXPECT_EQ(t["status"], "done") << t.dump();
  EXPECT_EQ(t["values"]["answer"], "Forty-two.");
  // Streamed: OpenAI's chunks as SSE, the answer in them, ending with data: [DONE].
  b["stream"] = true;
  auto st = c.Post("/v1/chat/completions", b.dump(), kJson);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, 200);
  EXPECT_EQ(st->get_header_value("Content-Type"), "text/event-stream");
  ASSERT_GE(st->body.size(), 14u);
  EXPECT_EQ(st->body.substr(st->body.size() - 14), "data: [DONE]\n\n") << st->body;
  std::string text;
  for (size_t p = 0; (p = st->body.find("data: {", p)) != std::string::npos; ++p) {
    json ch = json::parse(st->body.substr(p + 6, st->body.find("\n\n", p) - p - 6));
    EXPECT_EQ(ch["object"], "chat.completion.chunk");
    for (auto& choice : ch["choices"]) text += choice["delta"].value("content", "");
  }
  EXPECT_EQ(text, "Forty-two.");
  b.erase("stream");
  // A response_format is for a persona alone: ALFRED's answer is prose.
  b["response_format"] = {{"type", "json_object"}};
  EXPECT_EQ(error_of(c.Post("/v1/chat/completions", b.dump(), kJson), 400)["param"], "response_format");
}

TEST_F(ServeOpenAI, ATokenGuardsTheDoorInOpenAIsWords) {
  std::ofstream(d / "token") << "0123456789abcdef0123456789abcdef\n";
  fs::permissions(d / "token", fs::perms::owner_read | fs::perms::owner_write);  // serve wants it private
  Server s(img, {"-m", script, "--token-file", (d / "token").string()});
  auto c = s.client();
  EXPECT_EQ(error_of(c.Get("/v1/models"), 401)["type"], "authentication_error");
  EXPECT_EQ(error_of(c.Get("/v1/models", {{"Authorization", "Bearer wrong"}}), 401)["message"], "the bearer token is wrong");
  auto r = c.Get("/v1/models", {{"Authorization", "Bearer 0123456789abcdef0123456789abcdef"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body(r)["data"][0]["id"], "a4ps");
}

TEST_F(ServeOpenAI, TheOpenAINpmClient) {
  fs::path clients = A4PS_CLIENTS;
  ASSERT_TRUE(fs::exists(clients / "node_modules" / "openai" / "package.json"))
      << "the openai npm client is not installed; run scripts/setup.sh (npm ci in tests/clients)";
  Server s(img, {"-m", script});
  auto r = run("node " + q(clients / "openai_client_test.mjs") + " http://127.0.0.1:" + std::to_string(s.port) + "/v1 TINY");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  std::cout << r.out;
  EXPECT_EQ(s.terminate(), 0) << s.log;
}

}  // namespace
}  // namespace a4ps::test
