// The public chat API: one persona's reply without the deliberation, and embeddings.
#include "a4ps/chat.h"

#include <filesystem>

#include "api/internal.h"
#include "codex/codex.h"
#include "llm/model_manager.h"
#include "persona/agent.h"
#include "persona/persona.h"

namespace a4ps {
namespace fs = std::filesystem;

namespace {

std::string model_for(const image::Image& img, const std::string& own, const std::string& flag) {
  std::string m = own.empty() ? persona::choose_model(img, flag) : own;
  if (m.empty()) throw Error("no model: pass --model (a GGUF, ollama:NAME or openai:URL#MODEL) or set the image's model");
  if (std::error_code ec; llm::is_local_spec(m) && !fs::exists(m, ec)) throw Error("model " + m + " does not exist; pass --model with a GGUF file");
  return m;
}

// The caller's manager when given, else one for this call alone.
struct Manager {
  std::unique_ptr<llm::ModelManager> own;
  llm::ModelManager* mm;
  Manager(const std::shared_ptr<ModelCache>& shared, const image::Image& img) {
    if (shared) mm = &manager_of(*shared);
    else own = std::make_unique<llm::ModelManager>(llm::ManagerOptions{.env = img.env()}), mm = own.get();
  }
};

}  // namespace

PersonaReply persona_chat(const Image& image, const std::string& name, const std::vector<ChatMessage>& messages,
                          const PersonaChatOptions& o) {
  const image::Image& img = image.impl().img;
  auto spec = persona::find(img, name);
  if (!spec) throw Error("no persona '" + name + "' in " + image.path() + "; see `a4ps persona ls`");
  if (messages.empty()) throw Error("a chat needs at least one message");
  std::string model = model_for(img, spec->model, o.model);
  Manager m(o.models, img);
  llm::Persona lp{spec->name, {}, {}};
  std::string adapter;
  if (llm::is_local_spec(model)) {  // its trained adapter, as in the deliberation
    lp.model = model;
    lp.adapters = persona::persona_adapters(img, *spec, model, adapter);
  }
  auto backend = llm::open_backend(model, *m.mm, lp);

  llm::ChatRequest req;
  // The persona's character first; a caller's system messages refine it, never replace it.
  std::string system = persona::system_prompt(*spec, codex::image_codex(img));
  for (auto& msg : messages)
    if (msg.role == "system") system += "\n\n" + msg.content;
  req.messages.push_back({"system", system});
  for (auto& msg : messages)
    if (msg.role != "system") req.messages.push_back({msg.role, msg.content});
  req.sampling = persona::sampling_for(*spec, img.setting("parameters"));
  if (o.temperature) req.sampling.temperature = *o.temperature;
  if (o.seed) req.sampling.seed = *o.seed;
  req.max_tokens = o.max_tokens > 0 ? o.max_tokens : spec->max_tokens;
  req.stop = o.stop;
  req.json_schema = o.json_schema;
  if (o.on_token) req.on_token = o.on_token;
  auto r = backend->chat(req);
  return {spec->name, model, adapter, r.text, r.finish_reason, r.prompt_tokens, r.completion_tokens};
}

std::vector<float> embed_text(const Image& image, const std::string& text, const EmbedOptions& o) {
  const image::Image& img = image.impl().img;
  if (text.empty()) throw Error("the text to embed is empty");
  std::string model = model_for(img, "", o.model);
  Manager m(o.models, img);
  if (llm::is_local_spec(model)) return m.mm->embed(llm::Persona{"embed", model, {}}, text);
  return llm::open_backend(model, *m.mm, llm::Persona{"embed", {}, {}})->embed(text);
}

}  // namespace a4ps
