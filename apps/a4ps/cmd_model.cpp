// a4ps model info | generate
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>

#include "a4ps/models.h"
#include "a4ps/text.h"
#include "cli.h"

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

std::function<void(uint64_t, uint64_t)> pull_progress() {
  bool tty = isatty(2);
  auto t0 = std::chrono::steady_clock::now();
  auto last_pct = std::make_shared<int>(-1);
  return [=](uint64_t done, uint64_t total) {
    int pct = total ? static_cast<int>(done * 100 / total) : -1;
    if (!tty && (pct < 0 || pct / 10 == *last_pct / 10)) return;  // logs: every 10%
    if (tty && pct == *last_pct && pct >= 0) return;
    *last_pct = pct;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string bar;
    if (total) bar = "[" + std::string(static_cast<size_t>(pct / 4), '#') + std::string(static_cast<size_t>(25 - pct / 4), ' ') + "] ";
    std::fprintf(stderr, "%spulling %s%3d%% %s / %s  %s/s%s", tty ? "\r" : "", bar.c_str(), std::max(pct, 0),
                 format_bytes(done).c_str(), total ? format_bytes(total).c_str() : "?",
                 format_bytes(static_cast<uint64_t>(s > 0 ? done / s : 0)).c_str(), tty ? "" : "\n");
  };
}

void add_model_commands(CLI::App& app, Globals& g) {
  auto* model = sub(&app, "model", "inspect and try GGUF models");
  model->require_subcommand(1);
  {
    auto* c = sub(model, "info", "architecture, size, context, chat template, quantization");
    static std::string path;
    c->add_option("gguf", path, "model file")->required();
    c->callback([&g] {
      auto m = model_info(path);
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
      o << "file           " << m.path << " (" << format_bytes(m.file_bytes) << ")\n";
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
    auto* c = sub(model, "ls", "models in the local model directory");
    static std::string dir;
    c->add_option("--dir", dir, "model directory (default: $A4PS_MODELS or ~/.cache/a4ps/models)");
    c->callback([&g] {
      std::string d = dir.empty() ? models_dir() : dir;
      nlohmann::json j = nlohmann::json::array();
      std::ostringstream o;
      for (auto& lm : local_models(d)) {
        std::string file = lm.path.substr(lm.path.find_last_of('/') + 1);
        if (!lm.error.empty()) {
          j.push_back({{"path", lm.path}, {"error", lm.error}});
          o << file << "  unreadable: " << lm.error << "\n";
          continue;
        }
        auto& m = lm.info;
        j.push_back({{"path", m.path}, {"architecture", m.architecture}, {"parameters", m.parameters},
                     {"quantization", m.quantization}, {"file_bytes", m.file_bytes}, {"synthetic", m.synthetic}});
        o << file << "  " << m.architecture << "  " << params_text(m.parameters) << "  "
          << m.quantization << "  " << format_bytes(m.file_bytes) << (m.synthetic ? "  (synthetic)" : "") << "\n";
      }
      emit(g, j, j.empty() ? "no models in " + d + " (pull one with `a4ps model pull URL`)\n" : o.str());
    });
  }
  {
    auto* c = sub(model, "pull", "download a GGUF (resumable, sha256-verified) into the model directory");
    static std::string source, dir, sha, name;
    c->add_option("source", source, "http(s) URL, or hf-repo/OWNER/REPO/FILE.gguf")->required();
    c->add_option("--sha256", sha, "expected sha256 of the file");
    c->add_option("--name", name, "file name to store it under");
    c->add_option("--dir", dir, "model directory (default: $A4PS_MODELS or ~/.cache/a4ps/models)");
    c->callback([&g] {
      bool tty = isatty(2);
      auto r = pull_model(source, {.sha256 = sha, .dir = dir, .name = name, .on_progress = pull_progress()});
      if (tty) std::fprintf(stderr, "\n");
      nlohmann::json j = {{"path", r.path}, {"sha256", r.sha256}, {"bytes", r.bytes},
                          {"resumed_from", r.resumed_from}, {"verified", r.verified}};
      emit(g, j, "pulled " + r.path + " (" + format_bytes(r.bytes) + ", sha256 " + r.sha256 +
                     (sha.empty() ? ", not checked: pass --sha256 to verify" : ", verified") +
                     (r.resumed_from ? ", resumed at " + format_bytes(r.resumed_from) : "") + ")\n");
    });
  }
  {
    auto* c = sub(model, "generate", "smoke test: load a GGUF with llama.cpp and generate");
    static std::string path, prompt = "Hello";
    static GenerateParams opt{.max_tokens = 16};
    c->add_option("gguf", path, "model file")->required();
    c->add_option("-p,--prompt", prompt, "user message");
    c->add_option("-n,--tokens", opt.max_tokens, "tokens to generate")->check(CLI::Range(1, 100000));
    c->add_option("--ctx", opt.n_ctx, "context size");
    c->add_option("--threads", opt.n_threads, "CPU threads (0: all)");
    c->add_option("--temp", opt.temperature, "temperature (0: greedy)");
    c->add_option("--seed", opt.seed, "sampling seed");
    c->callback([&g] {
      auto r = generate_run(path, prompt, opt);
      double tps = r.tokens_per_s;
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
