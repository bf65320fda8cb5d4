// The smallest honest use of llama.cpp: load, template, prefill, sample, decode.
#include <llama.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "llm/devices.h"
#include "llm/llm.h"
#include "llm/sampling.h"
#include "util/env.h"
#include "util/util.h"

namespace a4ps::llm {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

struct ModelDel { void operator()(llama_model* m) const { llama_model_free(m); } };
struct CtxDel { void operator()(llama_context* c) const { llama_free(c); } };

std::vector<llama_token> tokenize(const llama_vocab* vocab, const std::string& text, bool add_special) {
  int n = -llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), nullptr, 0, add_special, true);
  std::vector<llama_token> toks(static_cast<size_t>(n));
  if (llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), toks.data(), n, add_special, true) < 0)
    throw Error("tokenization failed");
  return toks;
}

std::string piece(const llama_vocab* vocab, llama_token t) {
  char buf[256];
  int n = llama_token_to_piece(vocab, t, buf, sizeof buf, 0, false);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

void init_llama_logging() {
  static std::once_flag once;
  std::call_once(once, [] {
    bool debug = Env::Default()->getenv("A4PS_LOG").value_or("") == "debug";
    ggml_log_callback quiet = [](ggml_log_level, const char*, void*) {};
    llama_log_set(debug ? nullptr : quiet, nullptr);
    llama_backend_init();
#ifdef A4PS_GGML_BACKEND_DIR
    ggml_backend_load_all_from_path(A4PS_GGML_BACKEND_DIR);  // prebuilt: per-ISA CPU kernels
#endif
  });
}

GenerateResult generate(const fs::path& gguf, std::string_view prompt, const GenerateOptions& opts) {
  read_model_info(gguf);  // clear errors for missing/non-GGUF files before llama.cpp sees them
  init_llama_logging();
  GenerateResult r;
  auto t0 = Clock::now();
  auto mp = llama_model_default_params();
  mp.n_gpu_layers = plan_load(gguf, opts.n_ctx, nullptr).gpu_layers;  // as many layers as the VRAM budget holds
  std::unique_ptr<llama_model, ModelDel> model(llama_model_load_from_file(gguf.c_str(), mp));
  if (!model)
    throw Error("llama.cpp could not load " + gguf.string() +
                " (unsupported architecture or damaged file); run with A4PS_LOG=debug for details");
  const llama_vocab* vocab = llama_model_get_vocab(model.get());

  auto cp = llama_context_default_params();
  cp.n_ctx = opts.n_ctx;
  cp.n_batch = opts.n_ctx;
  int threads = opts.n_threads > 0 ? opts.n_threads : static_cast<int>(std::thread::hardware_concurrency());
  cp.n_threads = cp.n_threads_batch = threads;
  std::unique_ptr<llama_context, CtxDel> ctx(llama_init_from_model(model.get(), cp));
  if (!ctx) throw Error("llama.cpp could not create a context for " + gguf.string() + " (out of memory?)");
  r.load_ms = ms_since(t0);

  std::string text(prompt);
  if (const char* tmpl = llama_model_chat_template(model.get(), nullptr)) {
    llama_chat_message msg{"user", text.c_str()};
    std::vector<char> buf(text.size() * 2 + 512);
    int n = llama_chat_apply_template(tmpl, &msg, 1, true, buf.data(), static_cast<int32_t>(buf.size()));
    if (n > static_cast<int>(buf.size())) {
      buf.resize(static_cast<size_t>(n));
      n = llama_chat_apply_template(tmpl, &msg, 1, true, buf.data(), n);
    }
    if (n > 0) text.assign(buf.data(), static_cast<size_t>(n));
  }
  std::vector<llama_token> toks = tokenize(vocab, text, true);
  r.prompt_tokens = static_cast<int>(toks.size());
  if (toks.empty()) throw Error("the prompt is empty after tokenization");
  if (toks.size() + static_cast<size_t>(opts.n_predict) > opts.n_ctx)
    throw Error("prompt (" + std::to_string(toks.size()) + " tokens) plus " + std::to_string(opts.n_predict) +
                " to generate exceeds the context of " + std::to_string(opts.n_ctx) + "; raise --ctx");

  LogitSampler sampler({.temperature = opts.temperature, .seed = opts.seed});
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);

  auto t1 = Clock::now();
  llama_batch batch = llama_batch_get_one(toks.data(), static_cast<int32_t>(toks.size()));
  if (llama_decode(ctx.get(), batch) != 0) throw Error("llama.cpp failed to evaluate the prompt");
  r.prefill_ms = ms_since(t1);
  auto t2 = Clock::now();
  for (int i = 0; i < opts.n_predict; ++i) {
    llama_token t = sampler.sample(llama_get_logits_ith(ctx.get(), -1), n_vocab);
    if (llama_vocab_is_eog(vocab, t)) break;
    r.text += piece(vocab, t);
    ++r.generated_tokens;
    batch = llama_batch_get_one(&t, 1);
    if (llama_decode(ctx.get(), batch) != 0) throw Error("llama.cpp failed while generating");
  }
  r.decode_ms = ms_since(t2);
  return r;
}

}  // namespace a4ps::llm
