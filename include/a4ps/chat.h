// Talking to one persona directly, and embedding text: what an OpenAI-compatible client
// of `a4ps serve` reaches as the model "a4ps/PERSONA" and /v1/embeddings. No deliberation,
// no thread, nothing written to the image: one model call with the persona's character.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "a4ps/image.h"
#include "a4ps/session.h"

namespace a4ps {

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

struct PersonaChatOptions {
  // The model for a persona without its own: as SessionOptions::model ("" = $A4PS_MODEL,
  // the image's "model" setting, its base model; none of those is an Error).
  std::string model;
  int max_tokens = 0;                // 0: the persona's own max_tokens
  std::optional<float> temperature;  // unset: the persona's (and the image's) sampling
  std::optional<uint32_t> seed;
  std::vector<std::string> stop;     // the reply ends before the first of these
  std::string json_schema;           // constrains the reply to JSON of this schema ("" = free text)
  // Pieces of the reply as generated; return false to stop (finish_reason "cancelled").
  std::function<bool(std::string_view)> on_token;
  // Models shared with sessions (must outlive the call); null: loaded for this call only.
  std::shared_ptr<ModelCache> models;
};

struct PersonaReply {
  std::string persona;        // its name as the image spells it
  std::string model;          // the model spec that answered
  std::string adapter;        // its LoRA adapter(s), name and version ("" = none)
  std::string text;
  std::string finish_reason;  // stop | length | cancelled
  int prompt_tokens = 0, completion_tokens = 0;
};

// One reply of `persona` (case-insensitive) to `messages`, under its system prompt and the
// codex (a caller's own system messages follow it). Throws Error (one line) for an unknown
// persona, no messages, or a model that fails.
PersonaReply persona_chat(const Image& image, const std::string& persona, const std::vector<ChatMessage>& messages,
                          const PersonaChatOptions& options = {});

struct EmbedOptions {
  std::string model;  // a GGUF, ollama:NAME or openai:URL#MODEL; "" = as PersonaChatOptions::model
  std::shared_ptr<ModelCache> models;
};
// The text's embedding (unit length for embedded GGUF models). Throws Error when the model
// cannot embed (the scripted fake, say) or the text is empty or too long for it.
std::vector<float> embed_text(const Image& image, const std::string& text, const EmbedOptions& options = {});

}  // namespace a4ps
