// The model runtime's interface: chat completion (streaming, stop strings, grammar or
// JSON-schema constrained output, cancellation) and embeddings, whatever serves it.
#pragma once
#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace a4ps::llm {

struct Message {
  std::string role;  // system | user | assistant
  std::string content;
};

struct Sampling {
  float temperature = 0;  // 0: greedy
  float top_p = 1;
  int top_k = 0;          // 0: off
  uint32_t seed = 42;
};

struct ChatRequest {
  std::vector<Message> messages;
  Sampling sampling;
  int max_tokens = 256;
  std::vector<std::string> stop;  // generation ends before the first of these
  std::string grammar;            // GBNF, root rule "root"
  std::string json_schema;        // or a JSON schema, turned into GBNF by llama.cpp
  bool ignore_eos = false;        // benchmarks: always generate max_tokens
  // Streaming: called with each piece of text; return false to stop (cancel).
  std::function<bool(std::string_view)> on_token;
  const std::atomic<bool>* cancel = nullptr;  // another thread may set it to stop
};

struct ChatResult {
  std::string text;
  std::string finish_reason;  // stop | length | cancelled
  int prompt_tokens = 0;      // tokens in the templated prompt
  int reused_tokens = 0;      // of those, served from a cached KV prefix
  int completion_tokens = 0;
  double load_ms = 0, prefill_ms = 0, decode_ms = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual ChatResult chat(const ChatRequest& req) = 0;
  virtual std::vector<float> embed(const std::string& text);  // default: Error
};

// A fake backend for testing logic around a model: replays responses from a JSON-lines
// file, one object per line: {"text": "...", "persona": "BRICK"?, "match": "substring"?}.
// Its name() always says it is scripted.
std::unique_ptr<Backend> scripted_backend(const std::filesystem::path& script, std::string persona = "");

// Ollama's HTTP API (/api/chat, NDJSON streaming). keep_alive "0" unloads the model after
// each call: the seed's design. base_url like http://127.0.0.1:11434.
std::unique_ptr<Backend> ollama_backend(const std::string& base_url, const std::string& model,
                                        const std::string& keep_alive = "5m");
// Any OpenAI-compatible server (/v1/chat/completions, SSE streaming): llama-server, vLLM, ...
// api_key empty: taken from $OPENAI_API_KEY when set.
std::unique_ptr<Backend> openai_backend(const std::string& base_url, const std::string& model,
                                        const std::string& api_key = "");

}  // namespace a4ps::llm
