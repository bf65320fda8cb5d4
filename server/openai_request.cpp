// The /v1 door's parsers: strict about the types of the fields they use and quiet about
// the ones they do not (clients send user, logprobs=false, n=1, ...).
#include "openai_request.h"

#include "request.h"

namespace a4ps::server {

namespace {

constexpr size_t kMaxMessages = 1024;
constexpr size_t kMaxText = 1 << 20;

[[noreturn]] void bad(const std::string& message, const std::string& param) {
  throw ApiError(400, "invalid_request_error", message, param);
}

std::string text_of(const json& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return "";
  if (!content.is_array()) bad("'" + param + "' must be a string or an array of text parts", param);
  std::string out;  // [{"type": "text", "text": "..."}]: the text parts, joined
  for (auto& p : content) {
    if (!p.is_object() || p.value("type", json()) != "text" || !p.contains("text") || !p["text"].is_string())
      bad("'" + param + "' parts must be {\"type\": \"text\", \"text\": \"...\"}; images and audio are not supported",
          param);
    out += p["text"].get<std::string>();
  }
  return out;
}

const char* type_for(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: case 400: case 409: case 413: case 422: return "invalid_request_error";
    case 429: return "rate_limit_error";
    case 504: return "timeout_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace

json openai_error(int status, const std::string& message, const std::string& param, const std::string& code) {
  return {{"error",
           {{"message", message}, {"type", type_for(status)}, {"param", param.empty() ? json() : json(param)},
            {"code", code.empty() ? json() : json(code)}}}};
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

size_t complete_utf8(const std::string& s) {
  size_t n = s.size(), i = n;
  while (i > 0 && n - i < 4 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i;
  if (i == 0) return n;
  unsigned char lead = static_cast<unsigned char>(s[i - 1]);
  size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return (len > 1 && (n - (i - 1)) < len) ? i - 1 : n;
}

bool is_openai_path(const std::string& path) { return path == "/v1" || path.rfind("/v1/", 0) == 0; }

json parse_openai_body(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) bad("the body is not valid JSON; send a JSON object", "");
  if (!j.is_object()) bad("the body must be a JSON object", "");
  return j;
}

std::string persona_of_model(const std::string& model) {
  if (model == "a4ps") return "";
  if (model.rfind("a4ps/", 0) == 0 && model.size() > 5 && model.size() <= 69) return model.substr(5);
  throw ApiError(404, "invalid_request_error",
                 "the model '" + printable(model, 80) + "' does not exist; use a4ps or a4ps/PERSONA (see GET /v1/models)",
                 "model", "model_not_found");
}

namespace {
std::string req_string(const json& b, const char* key, size_t max) {
  if (!b.contains(key)) bad(std::string("'") + key + "' is required", key);
  if (!b[key].is_string()) bad(std::string("'") + key + "' must be a string", key);
  std::string s = b[key];
  if (s.empty() || s.size() > max) bad(std::string("'") + key + "' must have 1 to " + std::to_string(max) + " bytes", key);
  return s;
}
bool present(const json& b, const char* key) { return b.contains(key) && !b[key].is_null(); }
}  // namespace

ChatCompletion parse_chat_completion(const json& b) {
  ChatCompletion c;
  c.model = req_string(b, "model", 256);
  if (!b.contains("messages")) bad("'messages' is required: [{\"role\": \"user\", \"content\": \"...\"}]", "messages");
  const json& ms = b["messages"];
  if (!ms.is_array() || ms.empty()) bad("'messages' must be a non-empty array of {role, content}", "messages");
  if (ms.size() > kMaxMessages) bad("'messages' holds more than " + std::to_string(kMaxMessages) + " messages", "messages");
  size_t total = 0;
  for (size_t i = 0; i < ms.size(); ++i) {
    std::string p = "messages[" + std::to_string(i) + "]";
    const json& m = ms[i];
    if (!m.is_object()) bad("'" + p + "' must be an object {role, content}", p);
    if (!m.contains("role") || !m["role"].is_string()) bad("'" + p + ".role' must be a string", p + ".role");
    std::string role = m["role"];
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant")
      bad("'" + p + ".role' must be system, developer, user or assistant (tools are not supported)", p + ".role");
    if (!m.contains("content")) bad("'" + p + ".content' is required", p + ".content");
    std::string text = text_of(m["content"], p + ".content");
    total += text.size();
    if (total > kMaxText) bad("the messages hold more than " + std::to_string(kMaxText) + " bytes of text", "messages");
    c.messages.push_back({role, std::move(text)});
  }
  bool any_user = false;
  for (auto& m : c.messages) any_user = any_user || m.role == "user";
  if (!any_user) bad("'messages' needs a user message", "messages");
  if (present(b, "stream")) {
    if (!b["stream"].is_boolean()) bad("'stream' must be true or false", "stream");
    c.stream = b["stream"];
  }
  if (present(b, "stream_options")) {
    const json& so = b["stream_options"];
    if (!so.is_object()) bad("'stream_options' must be an object", "stream_options");
    if (present(so, "include_usage")) {
      if (!so["include_usage"].is_boolean()) bad("'stream_options.include_usage' must be true or false", "stream_options");
      c.include_usage = so["include_usage"];
    }
  }
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (!present(b, key)) continue;
    if (!b[key].is_number_integer() || b[key].get<int64_t>() < 1 || b[key].get<int64_t>() > 32768)
      bad(std::string("'") + key + "' must be an integer from 1 to 32768", key);
    c.max_tokens = b[key].get<int>();
  }
  if (present(b, "temperature")) {
    if (!b["temperature"].is_number()) bad("'temperature' must be a number from 0 to 2", "temperature");
    double t = b["temperature"];
    if (!(t >= 0 && t <= 2)) bad("'temperature' must be a number from 0 to 2", "temperature");
    c.temperature = static_cast<float>(t);
  }
  if (present(b, "seed")) {
    if (!b["seed"].is_number_integer()) bad("'seed' must be an integer", "seed");
    c.seed = static_cast<uint32_t>(b["seed"].get<int64_t>());
  }
  if (present(b, "n") && (!b["n"].is_number_integer() || b["n"].get<int64_t>() != 1))
    bad("'n' must be 1: one choice per request", "n");
  if (present(b, "stop")) {
    const json& s = b["stop"];
    if (s.is_string()) c.stop.push_back(s);
    else if (s.is_array() && s.size() <= 4) {
      for (auto& x : s) {
        if (!x.is_string()) bad("'stop' must be a string or an array of at most 4 strings", "stop");
        c.stop.push_back(x);
      }
    } else bad("'stop' must be a string or an array of at most 4 strings", "stop");
    for (auto& x : c.stop)
      if (x.empty() || x.size() > 256) bad("each 'stop' string must have 1 to 256 bytes", "stop");
  }
  if (present(b, "response_format")) {
    const json& f = b["response_format"];
    if (!f.is_object() || !f.contains("type") || !f["type"].is_string())
      bad("'response_format' must be {\"type\": \"text\" | \"json_object\" | \"json_schema\", ...}", "response_format");
    std::string type = f["type"];
    if (type == "json_object") c.json_schema = R"({"type": "object"})";
    else if (type == "json_schema") {
      if (!f.contains("json_schema") || !f["json_schema"].is_object() || !f["json_schema"].contains("schema") ||
          !f["json_schema"]["schema"].is_object())
        bad("'response_format.json_schema' must be {\"name\": \"...\", \"schema\": {...}}", "response_format");
      c.json_schema = f["json_schema"]["schema"].dump();
      if (c.json_schema.size() > 65536) bad("the response_format schema is larger than 65536 bytes", "response_format");
    } else if (type != "text") {
      bad("'response_format.type' must be text, json_object or json_schema", "response_format");
    }
  }
  if (present(b, "tools") && !(b["tools"].is_array() && b["tools"].empty()))
    bad("tools are not supported here: the personas act through the deliberation (model a4ps)", "tools");
  if (present(b, "thread_id")) {
    if (!b["thread_id"].is_string()) bad("'thread_id' must be a string", "thread_id");
    c.thread_id = b["thread_id"];
    try {
      check_id(c.thread_id, "thread_id");
    } catch (const HttpError& e) {
      bad(e.what(), "thread_id");
    }
  }
  return c;
}

Embeddings parse_embeddings(const json& b) {
  Embeddings e;
  e.model = req_string(b, "model", 256);
  if (!b.contains("input")) bad("'input' is required: a string or an array of strings", "input");
  const json& in = b["input"];
  if (in.is_string()) e.input.push_back(in);
  else if (in.is_array() && !in.empty() && in.size() <= 256) {
    for (auto& x : in) {
      if (!x.is_string()) bad("'input' must be a string or an array of 1 to 256 strings (token arrays are not supported)", "input");
      e.input.push_back(x);
    }
  } else bad("'input' must be a string or an array of 1 to 256 strings", "input");
  size_t total = 0;
  for (auto& s : e.input) {
    if (s.empty()) bad("'input' must not hold an empty string", "input");
    total += s.size();
  }
  if (total > kMaxText) bad("'input' holds more than " + std::to_string(kMaxText) + " bytes", "input");
  if (present(b, "encoding_format")) {
    if (!b["encoding_format"].is_string() || (b["encoding_format"] != "float" && b["encoding_format"] != "base64"))
      bad("'encoding_format' must be float or base64", "encoding_format");
    e.base64 = b["encoding_format"] == "base64";
  }
  if (present(b, "dimensions")) bad("'dimensions' is not supported: the model's own size is used", "dimensions");
  return e;
}

}  // namespace a4ps::server
