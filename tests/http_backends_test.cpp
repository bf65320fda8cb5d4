// The HTTP backends: Ollama against transcribed protocol exchanges (fixtures/ollama,
// served locally), and the OpenAI one against a real llama-server on loopback.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "llm/backend.h"
#include "local_server.h"
#include "testutil.h"

namespace a4ps::llm {
namespace {

using json = nlohmann::json;
using test::error_of;

std::string fixture(const std::string& name) { return read_file(std::string(A4PS_FIXTURES) + "/ollama/" + name); }

// A local server replaying Ollama's answers and keeping what it was sent.
struct FakeOllama : test::LocalServer {
  json last_chat, last_embed;
  FakeOllama() {
    srv.Post("/api/chat", [this](const httplib::Request& req, httplib::Response& res) {
      last_chat = json::parse(req.body);
      if (last_chat["model"] == "nosuchmodel") {
        res.status = 404;
        res.set_content(fixture("chat_not_found.json"), "application/json");
      } else {
        res.set_content(fixture("chat_stream.ndjson"), "application/x-ndjson");
      }
    });
    srv.Post("/api/embed", [this](const httplib::Request& req, httplib::Response& res) {
      last_embed = json::parse(req.body);
      res.set_content(fixture("embed.json"), "application/json");
    });
    start();
  }
};

TEST(Ollama, StreamsAChatAndSendsWhatOllamaExpects) {
  FakeOllama o;
  auto b = ollama_backend(o.url(), "llama3.2", "0");
  std::string streamed;
  ChatRequest req{.messages = {{"system", "be brief"}, {"user", "Why is the sky blue?"}},
                  .sampling = {.temperature = 0.2f, .top_k = 20, .seed = 7}, .max_tokens = 64, .stop = {"\n\n"}};
  req.on_token = [&](std::string_view s) { streamed += s; return true; };
  ChatResult r = b->chat(req);
  EXPECT_EQ(r.text, "The sky is blue.");
  EXPECT_EQ(streamed, r.text);
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.prompt_tokens, 26);
  EXPECT_EQ(r.completion_tokens, 4);
  EXPECT_EQ(o.last_chat["model"], "llama3.2");
  EXPECT_EQ(o.last_chat["keep_alive"], "0");  // the seed's load-per-call mode
  EXPECT_EQ(o.last_chat["stream"], true);
  EXPECT_EQ(o.last_chat["messages"][1]["content"], "Why is the sky blue?");
  EXPECT_EQ(o.last_chat["options"]["num_predict"], 64);
  EXPECT_EQ(o.last_chat["options"]["top_k"], 20);
  EXPECT_EQ(o.last_chat["options"]["stop"], json::array({"\n\n"}));
}

TEST(Ollama, SchemaCancelEmbeddingsAndErrors) {
  FakeOllama o;
  auto b = ollama_backend(o.url(), "llama3.2");
  int pieces = 0;
  ChatRequest req{.messages = {{"user", "hi"}}, .json_schema = R"({"type": "object"})"};
  req.on_token = [&](std::string_view) { return ++pieces < 2; };
  ChatResult r = b->chat(req);
  EXPECT_EQ(r.finish_reason, "cancelled");
  EXPECT_EQ(r.text, "The sky");
  EXPECT_EQ(o.last_chat["format"], json({{"type", "object"}}));
  auto e = b->embed("hello");
  ASSERT_EQ(e.size(), 4u);
  EXPECT_FLOAT_EQ(e[0], 0.010071029f);
  EXPECT_EQ(o.last_embed["input"], "hello");
  auto missing = ollama_backend(o.url(), "nosuchmodel");
  EXPECT_EQ(error_of([&] { missing->chat({.messages = {{"user", "hi"}}}); }),
            "Ollama at " + o.url() + " answered HTTP 404: model \"nosuchmodel\" not found, try pulling it first");
}

TEST(HttpBackends, AnUnreachableServerIsOneClearError) {
  auto o = ollama_backend("http://127.0.0.1:1", "x");
  std::string e = error_of([&] { o->chat({.messages = {{"user", "hi"}}}); });
  EXPECT_EQ(e.rfind("cannot reach Ollama at http://127.0.0.1:1 (", 0), 0u) << e;
  auto a = openai_backend("http://127.0.0.1:1/v1base", "x");
  e = error_of([&] { a->chat({.messages = {{"user", "hi"}}}); });
  EXPECT_EQ(e.rfind("cannot reach the OpenAI-compatible server at http://127.0.0.1:1/v1base (", 0), 0u) << e;
  EXPECT_NE(error_of([] { openai_backend("localhost:8080", "x"); }).find("must start with http://"), std::string::npos);
}

// A real llama-server, built from the same llama.cpp source, serving a synthetic model.
struct LlamaServer {
  pid_t pid = -1;
  int port = 0;
  LlamaServer() {
    {  // a free port: bind to port 0, read what the kernel chose, release it
      int s = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof a;
      bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
      port = ntohs(a.sin_port);
      close(s);
    }
    std::string p = std::to_string(port), m = test::model("synthetic-llama-tiny.gguf").string();
    auto [child, fd] = test::spawn_piped({A4PS_LLAMA_SERVER, "-m", m, "--host", "127.0.0.1", "--port", p, "-c", "1024",
                                          "-np", "1", "-t", "2", "--no-warmup"});
    pid = child;
    close(fd);
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1);
    c.set_read_timeout(1);
    for (int i = 0; i < 300; ++i) {  // up to 30 s
      if (auto r = c.Get("/health"); r && r->status == 200) return;
      if (waitpid(pid, nullptr, WNOHANG) == pid) {
        pid = -1;
        return;  // it died; the test's first request reports it
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ~LlamaServer() {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 50; ++i) {  // a graceful stop, but never wait on it for long
      if (waitpid(pid, nullptr, WNOHANG) == pid) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

TEST(OpenAI, TalksToARealLlamaServer) {
  if (!std::filesystem::exists(A4PS_LLAMA_SERVER)) GTEST_SKIP() << "llama-server not built (A4PS_LLAMA=source builds it)";
  LlamaServer s;
  auto b = openai_backend(s.url(), "synthetic-llama-tiny");
  std::string streamed;
  ChatRequest req{.messages = {{"user", "Hello there"}}, .max_tokens = 8, .ignore_eos = true};
  req.on_token = [&](std::string_view x) { streamed += x; return true; };
  ChatResult r = b->chat(req);
  EXPECT_FALSE(r.text.empty());
  EXPECT_EQ(streamed, r.text);
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_EQ(r.completion_tokens, 8);
  EXPECT_GT(r.prompt_tokens, 3);
  // Structured output through the server's JSON-schema support always parses.
  const std::string schema = R"({"type": "object", "properties": {"next": {"enum": ["BRICK", "ROBIN"]}},
                                  "required": ["next"], "additionalProperties": false})";
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    ChatResult j = b->chat({.messages = {{"user", "Who is next?"}}, .sampling = {.temperature = 1, .seed = seed},
                            .max_tokens = 40, .json_schema = schema});
    auto parsed = json::parse(j.text, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << j.text;
    EXPECT_TRUE(parsed["next"] == "BRICK" || parsed["next"] == "ROBIN") << j.text;
  }
  // A GBNF grammar (llama-server's extension) and a stop string.
  ChatResult g = b->chat({.messages = {{"user", "hi"}}, .max_tokens = 20, .stop = {"STOP"},
                          .grammar = "root ::= \"hello STOP world\""});
  EXPECT_EQ(g.text, "hello ");
  int pieces = 0;
  ChatRequest c{.messages = {{"user", "hi"}}, .max_tokens = 50, .ignore_eos = true};
  c.on_token = [&](std::string_view) { return ++pieces < 3; };
  EXPECT_EQ(b->chat(c).finish_reason, "cancelled");
}

}  // namespace
}  // namespace a4ps::llm
