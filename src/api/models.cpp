// The public models API: describe a GGUF, and a quick generation on it.
#include "a4ps/models.h"

#include "llm/llm.h"

namespace a4ps {

ModelDescription describe_model(const std::string& gguf_path) {
  auto i = llm::read_model_info(gguf_path);
  return {i.architecture, i.name, i.quantization, i.parameters, i.context_length, i.synthetic};
}

std::string generate(const std::string& gguf_path, const std::string& prompt, const GenerateParams& p) {
  return llm::generate(gguf_path, prompt, {.n_predict = p.max_tokens, .n_threads = p.n_threads, .temperature = p.temperature}).text;
}

}  // namespace a4ps
