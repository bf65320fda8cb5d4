// The public models API: describe a GGUF, the local model directory, pulling one, and a
// quick generation on it.
#include "a4ps/models.h"

#include <filesystem>

#include "llm/llm.h"

namespace a4ps {
namespace fs = std::filesystem;

ModelDescription describe_model(const std::string& gguf_path) {
  auto i = llm::read_model_info(gguf_path);
  return {i.architecture, i.name, i.quantization, i.parameters, i.context_length, i.synthetic};
}

std::string generate(const std::string& gguf_path, const std::string& prompt, const GenerateParams& p) {
  return generate_run(gguf_path, prompt, p).text;
}

ModelInfo model_info(const std::string& gguf_path) {
  auto m = llm::read_model_info(gguf_path);
  return {.path = m.path, .name = m.name, .architecture = m.architecture, .quantization = m.quantization,
          .tokenizer = m.tokenizer, .file_bytes = m.file_bytes, .parameters = m.parameters,
          .context_length = m.context_length, .layers = m.layers, .embedding = m.embedding, .heads = m.heads,
          .heads_kv = m.heads_kv, .vocab = m.vocab, .chat_template = m.chat_template, .synthetic = m.synthetic,
          .tensor_types = m.tensor_types};
}

std::string models_dir() { return llm::models_dir().string(); }

std::vector<LocalModel> local_models(const std::string& dir) {
  fs::path d = dir.empty() ? llm::models_dir() : fs::path(dir);
  std::vector<LocalModel> out;
  std::error_code ec;
  if (!fs::is_directory(d, ec)) return out;
  for (auto& e : fs::directory_iterator(d)) {
    if (e.path().extension() != ".gguf") continue;
    try {
      out.push_back({e.path().string(), model_info(e.path().string()), ""});
    } catch (const Error& err) {
      out.push_back({e.path().string(), {}, err.what()});
    }
  }
  return out;
}

Pulled pull_model(const std::string& source, const PullOptions& o) {
  auto r = llm::pull_model(source, {.sha256 = o.sha256, .dir = o.dir, .name = o.name, .progress = o.on_progress});
  return {r.path.string(), r.sha256, r.bytes, r.resumed_from, !o.sha256.empty()};
}

GenerateRun generate_run(const std::string& gguf_path, const std::string& prompt, const GenerateParams& p) {
  auto r = llm::generate(gguf_path, prompt,
                         {.n_predict = p.max_tokens, .n_ctx = p.n_ctx, .n_threads = p.n_threads, .seed = p.seed, .temperature = p.temperature});
  return {r.text, r.prompt_tokens, r.generated_tokens, r.load_ms, r.prefill_ms, r.decode_ms,
          r.decode_ms > 0 ? r.generated_tokens * 1000.0 / r.decode_ms : 0};
}

}  // namespace a4ps
