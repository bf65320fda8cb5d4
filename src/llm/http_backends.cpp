// Backends that talk HTTP: Ollama and OpenAI-compatible servers.
#include <httplib.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "llm/backend.h"
#include "util/env.h"
#include "util/util.h"

namespace a4ps::llm {
namespace {

using json = nlohmann::json;

// Splits "http://host:port/prefix" into the client's "http://host:port" and "/prefix".
std::pair<std::string, std::string> split_url(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos || (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0))
    throw Error("server address '" + url + "' must start with http:// or https://");
  auto slash = url.find('/', scheme + 3);
  std::string host = slash == std::string::npos ? url : url.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : url.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return {host, prefix};
}

json messages_json(const std::vector<Message>& msgs) {
  json a = json::array();
  for (auto& m : msgs) a.push_back({{"role", m.role}, {"content", m.content}});
  return a;
}

// Feeds a streamed body to `line` one line at a time; stops when `line` returns false.
class LineSplitter {
 public:
  explicit LineSplitter(std::function<bool(const std::string&)> line) : line_(std::move(line)) {}
  bool feed(const char* data, size_t n) {
    buf_.append(data, n);
    for (size_t nl; (nl = buf_.find('\n')) != std::string::npos;) {
      std::string l = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      if (!l.empty() && l.back() == '\r') l.pop_back();
      if (!l.empty() && !line_(l)) return false;
    }
    return true;
  }
  void finish() {
    if (!buf_.empty()) line_(buf_);
    buf_.clear();
  }

 private:
  std::function<bool(const std::string&)> line_;
  std::string buf_;
};

class HttpBackend : public Backend {
 protected:
  HttpBackend(std::string what, const std::string& url) : what_(std::move(what)), url_(url) {
    auto [host, prefix] = split_url(url);
    host_ = host;
    prefix_ = prefix;
  }

  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>(host_);
    c->set_connection_timeout(5);
    c->set_read_timeout(600);
    return c;
  }

  // POSTs body; a streamed response goes to on_line, line by line. Returns the status.
  int post(const std::string& path, const json& body, std::function<bool(const std::string&)> on_line,
           std::string* whole, bool* cancelled, const httplib::Headers& extra = {}) const {
    auto c = client();
    httplib::Request req;
    req.method = "POST";
    req.path = prefix_ + path;
    req.headers = extra;
    req.headers.emplace("Content-Type", "application/json");
    req.body = body.dump();
    LineSplitter split(on_line ? on_line : [](const std::string&) { return true; });
    bool stopped = false;
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      if (whole) whole->append(data, n);
      if (!split.feed(data, n)) {
        stopped = true;
        return false;
      }
      return true;
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    bool ok = c->send(req, res, err);
    if (cancelled) *cancelled = stopped;
    if (!ok && !stopped)
      throw Error("cannot reach " + what_ + " at " + url_ + " (" + httplib::to_string(err) + "); is it running? " +
                  "Or point --model at a local GGUF file");
    if (!stopped) split.finish();
    return res.status;
  }

  [[noreturn]] void http_error(int status, const std::string& body) const {
    auto j = json::parse(body, nullptr, false);
    std::string msg = body.substr(0, 200);
    if (!j.is_discarded() && j.contains("error"))
      msg = j["error"].is_object()   ? j["error"].value("message", j["error"].dump())
            : j["error"].is_string() ? j["error"].get<std::string>()
                                     : j["error"].dump();
    throw Error(what_ + " at " + url_ + " answered HTTP " + std::to_string(status) + ": " + msg);
  }

  std::string what_, url_, host_, prefix_;
};

class Ollama final : public HttpBackend {
 public:
  Ollama(const std::string& url, std::string model, std::string keep_alive)
      : HttpBackend("Ollama", url), model_(std::move(model)), keep_alive_(std::move(keep_alive)) {}
  std::string name() const override { return "ollama (" + model_ + " at " + url_ + ")"; }

  ChatResult chat(const ChatRequest& req) override {
    json options = {{"temperature", req.sampling.temperature}, {"seed", req.sampling.seed},
                    {"num_predict", req.max_tokens}};
    if (req.sampling.top_p < 1) options["top_p"] = req.sampling.top_p;
    if (req.sampling.top_k > 0) options["top_k"] = req.sampling.top_k;
    if (!req.stop.empty()) options["stop"] = req.stop;
    json body = {{"model", model_}, {"messages", messages_json(req.messages)}, {"stream", true},
                 {"keep_alive", keep_alive_}, {"options", options}};
    if (!req.json_schema.empty()) body["format"] = json::parse(req.json_schema);
    if (!req.grammar.empty()) throw Error("the Ollama backend takes a JSON schema, not a GBNF grammar");
    ChatResult r;
    r.finish_reason = "length";
    std::string whole, stream_error;
    bool cancelled = false;
    int status = post("/api/chat", body, [&](const std::string& line) {
      auto j = json::parse(line, nullptr, false);
      if (j.is_discarded()) return true;
      if (j.contains("error")) {  // reported after the exchange, not from inside the client
        stream_error = j["error"].is_string() ? j["error"].get<std::string>() : j["error"].dump();
        return false;
      }
      std::string piece = j.contains("message") ? j["message"].value("content", "") : "";
      if (!piece.empty()) {
        r.text += piece;
        ++r.completion_tokens;
        if ((req.on_token && !req.on_token(piece)) || (req.cancel && req.cancel->load())) return false;
      }
      if (j.value("done", false)) {
        r.finish_reason = j.value("done_reason", "stop") == "length" ? "length" : "stop";
        r.prompt_tokens = j.value("prompt_eval_count", 0);
        r.completion_tokens = j.value("eval_count", r.completion_tokens);
        r.load_ms = j.value("load_duration", 0.0) / 1e6;
        r.prefill_ms = j.value("prompt_eval_duration", 0.0) / 1e6;
        r.decode_ms = j.value("eval_duration", 0.0) / 1e6;
      }
      return true;
    }, &whole, &cancelled);
    if (status != 200 && status != -1) http_error(status, whole);
    if (!stream_error.empty()) throw Error("Ollama at " + url_ + " failed: " + stream_error);
    if (cancelled) r.finish_reason = "cancelled";
    return r;
  }

  std::vector<float> embed(const std::string& text) override {
    std::string whole;
    int status = post("/api/embed", {{"model", model_}, {"input", text}, {"keep_alive", keep_alive_}}, nullptr, &whole, nullptr);
    if (status != 200) http_error(status, whole);
    auto j = json::parse(whole, nullptr, false);
    if (j.is_discarded() || !j.contains("embeddings") || j["embeddings"].empty())
      throw Error("Ollama returned no embedding for model " + model_);
    return j["embeddings"][0].get<std::vector<float>>();
  }

 private:
  std::string model_, keep_alive_;
};

class OpenAI final : public HttpBackend {
 public:
  OpenAI(const std::string& url, std::string model, std::string key)
      : HttpBackend("the OpenAI-compatible server", url), model_(std::move(model)), key_(std::move(key)) {
    if (key_.empty())
      key_ = Env::Default()->getenv("OPENAI_API_KEY").value_or("");
  }
  std::string name() const override { return "openai (" + model_ + " at " + url_ + ")"; }

  ChatResult chat(const ChatRequest& req) override {
    json body = {{"model", model_}, {"messages", messages_json(req.messages)}, {"stream", true},
                 {"max_tokens", req.max_tokens}, {"temperature", req.sampling.temperature},
                 {"seed", req.sampling.seed}, {"stream_options", {{"include_usage", true}}}};
    if (req.sampling.top_p < 1) body["top_p"] = req.sampling.top_p;
    if (!req.stop.empty()) body["stop"] = req.stop;
    if (!req.json_schema.empty())
      body["response_format"] = {{"type", "json_schema"},
                                 {"json_schema", {{"name", "output"}, {"strict", true}, {"schema", json::parse(req.json_schema)}}}};
    if (!req.grammar.empty()) body["grammar"] = req.grammar;  // llama-server's extension
    if (req.ignore_eos) body["ignore_eos"] = true;             // llama-server's extension
    ChatResult r;
    r.finish_reason = "length";
    std::string whole;
    bool cancelled = false;
    int status = post("/v1/chat/completions", body, [&](const std::string& line) {
      if (line.rfind("data:", 0) != 0) return true;
      std::string data = line.substr(line.find_first_not_of(' ', 5));
      if (data == "[DONE]") return true;
      auto j = json::parse(data, nullptr, false);
      if (j.is_discarded()) return true;
      if (j.contains("usage") && j["usage"].is_object()) {
        r.prompt_tokens = j["usage"].value("prompt_tokens", 0);
        r.completion_tokens = j["usage"].value("completion_tokens", r.completion_tokens);
      }
      if (!j.contains("choices") || j["choices"].empty()) return true;
      auto& ch = j["choices"][0];
      std::string piece = ch.contains("delta") && ch["delta"].contains("content") && ch["delta"]["content"].is_string()
                              ? ch["delta"]["content"].get<std::string>() : "";
      if (!piece.empty()) {
        r.text += piece;
        ++r.completion_tokens;
        if ((req.on_token && !req.on_token(piece)) || (req.cancel && req.cancel->load())) return false;
      }
      if (ch.contains("finish_reason") && ch["finish_reason"].is_string())
        r.finish_reason = ch["finish_reason"] == "length" ? "length" : "stop";
      return true;
    }, &whole, &cancelled, headers());
    if (cancelled) r.finish_reason = "cancelled";
    else if (status != 200) http_error(status, whole);
    return r;
  }

  std::vector<float> embed(const std::string& text) override {
    std::string whole;
    int status = post("/v1/embeddings", {{"model", model_}, {"input", text}}, nullptr, &whole, nullptr, headers());
    if (status != 200) http_error(status, whole);
    auto j = json::parse(whole, nullptr, false);
    if (j.is_discarded() || !j.contains("data") || j["data"].empty())
      throw Error("the server returned no embedding for model " + model_);
    return j["data"][0]["embedding"].get<std::vector<float>>();
  }

 private:
  httplib::Headers headers() const {
    httplib::Headers h;
    if (!key_.empty()) h.emplace("Authorization", "Bearer " + key_);
    return h;
  }
  std::string model_, key_;
};

}  // namespace

std::unique_ptr<Backend> ollama_backend(const std::string& base_url, const std::string& model,
                                        const std::string& keep_alive) {
  return std::make_unique<Ollama>(base_url, model, keep_alive);
}

std::unique_ptr<Backend> openai_backend(const std::string& base_url, const std::string& model,
                                        const std::string& api_key) {
  return std::make_unique<OpenAI>(base_url, model, api_key);
}

}  // namespace a4ps::llm
