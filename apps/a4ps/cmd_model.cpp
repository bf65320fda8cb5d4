// a4ps model info | generate
#include <cstdio>
#include <sstream>

#include "cli.h"
#include "llm/llm.h"
#include "util/util.h"

namespace a4ps::cli {
namespace {

std::string params_text(uint64_t n) {
  char buf[32];
  if (n >= 1000000000ULL) std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  else if (n >= 1000000ULL) std::snprintf(buf, sizeof buf, "%.1fM", n / 1e6);
  else std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
  return buf;
}

}  // namespace

void add_model_commands(CLI::App& app, Globals& g) {
  auto* model = sub(&app, "model", "inspect and try GGUF models");
  model->require_subcommand(1);
  {
    auto* c = sub(model, "info", "architecture, size, context, chat template, quantization");
    static std::string path;
    c->add_option("gguf", path, "model file")->required();
    c->callback([&g] {
      auto m = llm::read_model_info(path);
      nlohmann::json j = {{"path", m.path}, {"name", m.name}, {"architecture", m.architecture},
                          {"parameters", m.parameters}, {"file_bytes", m.file_bytes},
                          {"context_length", m.context_length}, {"layers", m.layers}, {"embedding", m.embedding},
                          {"heads", m.heads}, {"heads_kv", m.heads_kv}, {"vocab", m.vocab},
                          {"tokenizer", m.tokenizer}, {"chat_template", m.chat_template},
                          {"quantization", m.quantization}, {"tensor_types", m.tensor_types},
                          {"synthetic", m.synthetic}};
      std::ostringstream o;
      o << "model          " << (m.name.empty() ? "(unnamed)" : m.name) << "\n";
      if (m.synthetic) o << "               SYNTHETIC: random weights, for tests and benchmarks only\n";
      o << "file           " << m.path << " (" << human_bytes(m.file_bytes) << ")\n";
      o << "architecture   " << m.architecture << "\n";
      o << "parameters     " << params_text(m.parameters) << " (" << m.parameters << ")\n";
      o << "context length " << m.context_length << "\n";
      o << "shape          " << m.layers << " layers, embedding " << m.embedding << ", " << m.heads << " heads ("
        << m.heads_kv << " kv)\n";
      o << "vocabulary     " << m.vocab << " tokens (" << m.tokenizer << ")\n";
      o << "chat template  " << (m.chat_template ? "yes" : "no") << "\n";
      o << "quantization   " << m.quantization << " (";
      bool first = true;
      for (auto& [t, n] : m.tensor_types) o << (first ? "" : ", ") << n << "x " << t, first = false;
      o << ")\n";
      emit(g, j, o.str());
    });
  }
  {
    auto* c = sub(model, "generate", "smoke test: load a GGUF with llama.cpp and generate");
    static std::string path, prompt = "Hello";
    static llm::GenerateOptions opt;
    c->add_option("gguf", path, "model file")->required();
    c->add_option("-p,--prompt", prompt, "user message");
    c->add_option("-n,--tokens", opt.n_predict, "tokens to generate")->check(CLI::Range(1, 100000));
    c->add_option("--ctx", opt.n_ctx, "context size");
    c->add_option("--threads", opt.n_threads, "CPU threads (0: all)");
    c->add_option("--temp", opt.temperature, "temperature (0: greedy)");
    c->add_option("--seed", opt.seed, "sampling seed");
    c->callback([&g] {
      auto r = llm::generate(path, prompt, opt);
      double tps = r.decode_ms > 0 ? r.generated_tokens * 1000.0 / r.decode_ms : 0;
      nlohmann::json j = {{"text", r.text}, {"prompt_tokens", r.prompt_tokens},
                          {"generated_tokens", r.generated_tokens}, {"load_ms", r.load_ms},
                          {"prefill_ms", r.prefill_ms}, {"decode_ms", r.decode_ms}, {"tokens_per_s", tps}};
      char stats[200];
      std::snprintf(stats, sizeof stats, "\n[%d prompt + %d generated tokens; load %.0f ms, prefill %.1f ms, %.1f tok/s]\n",
                    r.prompt_tokens, r.generated_tokens, r.load_ms, r.prefill_ms, tps);
      emit(g, j, r.text + stats);
    });
  }
}

}  // namespace a4ps::cli
