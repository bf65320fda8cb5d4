// What an OpenAI client sends to the /v1 door, parsed and checked before anything touches
// the image (the request fuzz target feeds these directly). Every error is OpenAI's shape,
// {"error": {"message", "type", "param", "code"}}, so its clients raise their own exception
// classes (NotFoundError, BadRequestError, ...).
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "a4ps/chat.h"

namespace a4ps::server {

using json = nlohmann::json;

// An error as an OpenAI client reads it: status, type (invalid_request_error, ...), the
// request field at fault ("" none) and a short code ("" none).
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string type, const std::string& message, std::string param = "", std::string code = "")
      : std::runtime_error(message), status_(status), type_(std::move(type)), param_(std::move(param)), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string type_, param_, code_;
};

// {"error": {...}} for a status and message (type and code follow from the status).
json openai_error(int status, const std::string& message, const std::string& param = "", const std::string& code = "");
// JSON text whatever bytes a model made (invalid UTF-8 becomes U+FFFD, never an exception).
std::string dump(const json& j);
// The longest prefix of `s` that does not end inside a UTF-8 character (a streamed token
// may stop inside one: the rest waits for the next token).
size_t complete_utf8(const std::string& s);
// Whether a path belongs to this door (its errors then take OpenAI's shape).
bool is_openai_path(const std::string& path);

// POST /v1/chat/completions
struct ChatCompletion {
  std::string model;  // "a4ps" or "a4ps/PERSONA" (checked against the image later)
  std::vector<ChatMessage> messages;  // at least one; "developer" is read as "system"
  bool stream = false, include_usage = false;
  int max_tokens = 0;  // max_tokens or max_completion_tokens; 0: the persona's own
  std::optional<float> temperature;
  std::optional<uint32_t> seed;
  std::vector<std::string> stop;  // at most 4
  std::string json_schema;        // response_format json_schema / json_object, as a schema
  std::string thread_id;          // a4ps's extension: the deliberation's thread (else a fresh one)
};
ChatCompletion parse_chat_completion(const json& body);

// POST /v1/embeddings: {"model", "input": string | [string], "encoding_format"?: "float"|"base64"}
struct Embeddings {
  std::string model;
  std::vector<std::string> input;  // 1..256 texts
  bool base64 = false;
};
Embeddings parse_embeddings(const json& body);

// A JSON object body for this door: malformed JSON or another type is an ApiError(400).
json parse_openai_body(const std::string& body);

// The model ids: "a4ps" (the deliberation) or "a4ps/NAME"; the persona part ("" for
// "a4ps"), or an ApiError(404) naming the models there are.
std::string persona_of_model(const std::string& model);

}  // namespace a4ps::server
