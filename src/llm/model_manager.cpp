// Embedded llama.cpp: loading within a budget, persona switching, generation.
#include "llm/model_manager.h"
#include "util/env.h"

#include <json-schema-to-grammar.h>
#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <condition_variable>
#include <list>
#include <mutex>
#include <map>
#include <thread>

#include "llm/devices.h"
#include "llm/llm.h"
#include "util/util.h"

namespace a4ps::llm {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

uint64_t available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 8ull << 30;
}

// A persona's sequence while another persona uses the context.
struct Saved {
  std::vector<uint8_t> state;
  std::vector<llama_token> tokens;
};

struct Model {
  std::string path;
  llama_model* model = nullptr;
  llama_context* ctx = nullptr;
  const llama_vocab* vocab = nullptr;
  std::string tmpl;
  uint64_t bytes = 0;
  OffloadPlan plan;  // what went to the GPU
  std::map<std::string, llama_adapter_lora*> adapters;  // by path; freed with the model
  std::string active;                                  // persona whose sequence is in ctx
  std::vector<llama_token> tokens;                     // what ctx's KV holds for it
  std::map<std::string, Saved> saved;
  ~Model() {
    if (ctx) llama_free(ctx);
    if (model) llama_model_free(model);
  }
};

std::string piece(const llama_vocab* vocab, llama_token t) {
  char buf[256];
  int n = llama_token_to_piece(vocab, t, buf, sizeof buf, 0, false);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

uint64_t estimate_bytes(const fs::path& gguf, uint32_t n_ctx) {
  ModelInfo m = read_model_info(gguf);
  uint32_t ctx = m.context_length ? std::min(n_ctx, m.context_length) : n_ctx;
  uint64_t kv_dim = m.heads ? uint64_t{m.embedding} / m.heads * m.heads_kv : m.embedding;
  return m.file_bytes + uint64_t{ctx} * m.layers * kv_dim * 2 /*k,v*/ * 2 /*f16*/;
}

// A lock that serves waiters in arrival order (std::mutex makes no such promise), so one
// busy session cannot starve another's model calls.
class FairLock {
 public:
  struct Hold {
    FairLock* l;
    ~Hold() {
      {
        std::lock_guard g(l->mu_);
        ++l->serving_;
      }
      l->cv_.notify_all();
    }
  };
  Hold hold() {
    std::unique_lock g(mu_);
    uint64_t ticket = next_++;
    cv_.wait(g, [&] { return serving_ == ticket; });
    return Hold{this};
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_ = 0, serving_ = 0;
};

struct ModelManager::Impl {
  ManagerOptions opts;
  uint64_t budget = 0;
  std::list<std::unique_ptr<Model>> models;  // most recently used first
  mutable FairLock lock;
  uint64_t loads = 0;
  std::optional<DeviceMemory> gpu;  // read at the first load: asking ggml starts its GPU backends
  bool gpu_known = false;
  uint64_t vram_budget = 0;
  VramPolicy vram_policy = VramPolicy::Evict;

  void know_gpu() {
    if (gpu_known) return;
    gpu_known = true;
    gpu = opts.gpu ? opts.gpu : offload_device();
    if (gpu && gpu->total_bytes == 0) gpu.reset();  // a described "no GPU"
    vram_budget = !gpu ? 0 : opts.vram_budget_bytes ? opts.vram_budget_bytes : llm::vram_budget(*gpu, opts.env);
  }

  uint64_t vram_used() const {
    uint64_t n = 0;
    for (auto& m : models) n += m->plan.gpu_bytes;
    return n;
  }

  // How much of p's model goes to the GPU; under Evict, first unloads the models whose
  // VRAM it needs, least recently used first.
  OffloadPlan plan_gpu(const Persona& p) {
    know_gpu();
    if (vram_budget == 0) return {};
    ModelShape shape = read_model_shape(p.model);
    OffloadRequest rq{.n_ctx = opts.n_ctx, .n_ubatch = std::min<uint32_t>(512, opts.n_ctx), .budget_bytes = vram_budget};
    std::error_code ec;
    for (auto& a : p.adapters)
      if (auto n = fs::file_size(a.path, ec); !ec) rq.extra_bytes += n;
    if (vram_policy == VramPolicy::Evict) {
      const uint64_t want = plan_offload(shape, rq).gpu_bytes;
      while (vram_used() + want > vram_budget) {
        auto it = std::find_if(models.rbegin(), models.rend(), [](auto& m) { return m->plan.gpu_bytes > 0; });
        if (it == models.rend()) break;
        models.erase(std::next(it).base());
      }
    }
    const uint64_t used = vram_used();
    rq.budget_bytes = used < vram_budget ? vram_budget - used : 0;
    return plan_offload(shape, rq);
  }

  uint64_t used() const {
    uint64_t n = 0;
    for (auto& m : models) n += m->bytes;
    return n;
  }

  Model& acquire(const Persona& p, double& load_ms) {
    const std::string key = fs::absolute(p.model).lexically_normal().string();
    for (auto it = models.begin(); it != models.end(); ++it)
      if ((*it)->path == key) {
        models.splice(models.begin(), models, it);  // now the most recently used
        return *models.front();
      }
    auto t0 = Clock::now();
    uint64_t need = estimate_bytes(p.model, opts.n_ctx);
    if (need > budget)
      throw Error("model " + p.model.string() + " needs about " + human_bytes(need) + " but the memory budget is " +
                  human_bytes(budget) + "; raise the budget or use a smaller (more quantized) model");
    while (!models.empty() && used() + need > budget) models.pop_back();  // least recently used
    init_llama_logging();
    auto m = std::make_unique<Model>();
    m->path = key;
    m->bytes = need;
    m->plan = plan_gpu(p);
    auto mp = llama_model_default_params();
    mp.n_gpu_layers = m->plan.gpu_layers;
    m->model = llama_model_load_from_file(key.c_str(), mp);
    if (!m->model)
      throw Error("llama.cpp could not load " + p.model.string() + " (unsupported architecture or damaged file)");
    auto cp = llama_context_default_params();
    uint32_t train = static_cast<uint32_t>(llama_model_n_ctx_train(m->model));
    cp.n_ctx = train ? std::min(opts.n_ctx, train) : opts.n_ctx;
    cp.n_batch = std::min<uint32_t>(512, cp.n_ctx);
    cp.n_seq_max = 1;
    int threads = opts.n_threads > 0 ? opts.n_threads : static_cast<int>(std::thread::hardware_concurrency());
    cp.n_threads = cp.n_threads_batch = threads;
    m->ctx = llama_init_from_model(m->model, cp);
    if (!m->ctx) throw Error("llama.cpp could not create a context for " + p.model.string() + " (out of memory?)");
    m->vocab = llama_model_get_vocab(m->model);
    if (const char* t = llama_model_chat_template(m->model, nullptr)) m->tmpl = t;
    models.push_front(std::move(m));
    ++loads;
    load_ms = ms_since(t0);
    return *models.front();
  }

  // Makes p the persona in m's context: its adapters, and its own KV prefix.
  void activate(Model& m, const Persona& p) {
    std::vector<llama_adapter_lora*> ptrs;
    std::vector<float> scales;
    for (auto& a : p.adapters) {
      std::string key = fs::absolute(a.path).lexically_normal().string();
      auto it = m.adapters.find(key);
      if (it == m.adapters.end()) {
        std::error_code ec;
        if (!fs::is_regular_file(a.path, ec)) throw Error("adapter " + a.path.string() + " not found; check the path");
        llama_adapter_lora* ad = llama_adapter_lora_init(m.model, key.c_str());
        if (!ad)
          throw Error("adapter " + a.path.string() + " does not fit base model " + m.path +
                      " (made for another base, or not a LoRA GGUF); use an adapter trained on this base");
        it = m.adapters.emplace(key, ad).first;
      }
      ptrs.push_back(it->second);
      scales.push_back(a.scale);
    }
    llama_set_adapters_lora(m.ctx, ptrs.data(), ptrs.size(), scales.data());
    if (m.active == p.name) return;
    llama_memory_t mem = llama_get_memory(m.ctx);
    if (!m.active.empty() && !m.tokens.empty()) {
      Saved s;
      s.state.resize(llama_state_seq_get_size(m.ctx, 0));
      s.state.resize(llama_state_seq_get_data(m.ctx, s.state.data(), s.state.size(), 0));
      s.tokens = m.tokens;
      m.saved[m.active] = std::move(s);
    }
    llama_memory_clear(mem, true);
    m.tokens.clear();
    if (auto it = m.saved.find(p.name); it != m.saved.end()) {
      if (llama_state_seq_set_data(m.ctx, it->second.state.data(), it->second.state.size(), 0) > 0)
        m.tokens = it->second.tokens;
      else
        llama_memory_clear(mem, true);
    }
    m.active = p.name;
  }

  std::vector<llama_token> prompt_tokens(Model& m, const std::vector<Message>& msgs) {
    std::vector<llama_chat_message> chat;
    size_t total = 0;
    for (auto& x : msgs) {
      chat.push_back({x.role.c_str(), x.content.c_str()});
      total += x.content.size();
    }
    const char* tmpl = m.tmpl.empty() ? "chatml" : m.tmpl.c_str();
    std::vector<char> buf(total * 2 + 1024);
    int n = llama_chat_apply_template(tmpl, chat.data(), chat.size(), true, buf.data(), static_cast<int32_t>(buf.size()));
    if (n > static_cast<int>(buf.size())) {
      buf.resize(static_cast<size_t>(n));
      n = llama_chat_apply_template(tmpl, chat.data(), chat.size(), true, buf.data(), n);
    }
    if (n < 0) throw Error("the chat template of " + m.path + " is not supported by llama.cpp");
    std::string text(buf.data(), static_cast<size_t>(n));
    int k = -llama_tokenize(m.vocab, text.data(), static_cast<int32_t>(text.size()), nullptr, 0, true, true);
    std::vector<llama_token> toks(static_cast<size_t>(k));
    llama_tokenize(m.vocab, text.data(), static_cast<int32_t>(text.size()), toks.data(), k, true, true);
    if (toks.empty()) throw Error("the prompt is empty");
    return toks;
  }

  // Evaluates the prompt, reusing the longest prefix already in the KV cache.
  int prefill(Model& m, const std::vector<llama_token>& toks) {
    if (toks.size() >= llama_n_ctx(m.ctx))
      throw Error("the conversation (" + std::to_string(toks.size()) + " tokens) does not fit the context of " +
                  std::to_string(llama_n_ctx(m.ctx)) + " tokens; shorten it or raise n_ctx");
    size_t common = 0;
    while (common < m.tokens.size() && common < toks.size() && m.tokens[common] == toks[common]) ++common;
    if (common == toks.size()) --common;  // re-evaluate the last token to get its logits
    llama_memory_seq_rm(llama_get_memory(m.ctx), 0, static_cast<llama_pos>(common), -1);
    m.tokens.assign(toks.begin(), toks.begin() + static_cast<long>(common));
    const size_t batch = llama_n_batch(m.ctx);
    for (size_t i = common; i < toks.size(); i += batch) {
      size_t n = std::min(batch, toks.size() - i);
      llama_batch b = llama_batch_get_one(const_cast<llama_token*>(toks.data() + i), static_cast<int32_t>(n));
      if (llama_decode(m.ctx, b) != 0) throw Error("llama.cpp failed to evaluate the prompt");
      m.tokens.insert(m.tokens.end(), toks.begin() + static_cast<long>(i), toks.begin() + static_cast<long>(i + n));
    }
    return static_cast<int>(common);
  }

  Model& ready(const Persona& p, const std::vector<Message>& msgs, ChatResult& r, std::vector<llama_token>& toks) {
    Model& m = acquire(p, r.load_ms);
    activate(m, p);
    toks = prompt_tokens(m, msgs);
    auto t0 = Clock::now();
    r.prompt_tokens = static_cast<int>(toks.size());
    r.reused_tokens = prefill(m, toks);
    r.prefill_ms = ms_since(t0);
    return m;
  }

  void after_call() {
    if (opts.policy == Policy::Reload) models.clear();  // the seed's keep_alive: 0
  }
};

// "8G", "8GiB", "512M", "1073741824": the budget as people write it.
uint64_t parse_bytes(const std::string& s) {
  size_t end = 0;
  double v = 0;
  try {
    v = std::stod(s, &end);
  } catch (...) {
    end = 0;
  }
  std::string unit = s.substr(end);
  uint64_t mult = unit.empty() || unit == "B" ? 1
                  : unit[0] == 'K' || unit[0] == 'k' ? 1ull << 10
                  : unit[0] == 'M' || unit[0] == 'm' ? 1ull << 20
                  : unit[0] == 'G' || unit[0] == 'g' ? 1ull << 30
                  : unit[0] == 'T' || unit[0] == 't' ? 1ull << 40 : 0;
  if (end == 0 || v <= 0 || mult == 0)
    throw Error("memory budget '" + s + "' is not a size; write it like 8G or 512M");
  return static_cast<uint64_t>(v * static_cast<double>(mult));
}

ModelManager::ModelManager(ManagerOptions opts) : impl_(std::make_unique<Impl>()) {
  impl_->opts = opts;
  // the seed's "8 GB of VRAM" is A4PS_MEMORY_BUDGET=8G
  if (!impl_->opts.env) impl_->opts.env = Env::Default();
  const std::string env = impl_->opts.env->getenv("A4PS_MEMORY_BUDGET").value_or("");
  impl_->budget = opts.budget_bytes ? opts.budget_bytes
                  : !env.empty()   ? parse_bytes(env)
                                   : available_memory() / 10 * 8;
  const std::string vp = impl_->opts.env->getenv("A4PS_VRAM_POLICY").value_or("");
  if (!vp.empty() && vp != "evict" && vp != "share")
    throw Error("A4PS_VRAM_POLICY is '" + vp + "'; write evict (one model on the GPU at a time) or share");
  impl_->vram_policy = opts.vram_policy ? *opts.vram_policy : vp == "share" ? VramPolicy::Share : VramPolicy::Evict;
}
ModelManager::~ModelManager() = default;
Env* ModelManager::env() const { return impl_->opts.env; }

uint64_t ModelManager::budget() const { return impl_->budget; }

uint64_t ModelManager::vram_budget() const {
  auto turn = impl_->lock.hold();
  impl_->know_gpu();
  return impl_->vram_budget;
}

uint64_t ModelManager::loads() const {
  auto turn = impl_->lock.hold();
  return impl_->loads;
}

std::vector<LoadedModel> ModelManager::loaded() const {
  auto turn = impl_->lock.hold();
  std::vector<LoadedModel> out;
  for (auto& m : impl_->models) {
    LoadedModel l{m->path, m->bytes, {}, m->plan.gpu_layers, m->plan.gpu_bytes, m->plan.summary};
    if (!m->active.empty()) l.personas_cached.push_back(m->active);
    for (auto& [name, s] : m->saved)
      if (name != m->active) l.personas_cached.push_back(name);
    out.push_back(l);
  }
  return out;
}

void ModelManager::forget(const std::string& persona) {
  auto turn = impl_->lock.hold();
  for (auto& m : impl_->models) {
    m->saved.erase(persona);
    if (m->active == persona) {
      llama_memory_clear(llama_get_memory(m->ctx), true);
      m->tokens.clear();
      m->active.clear();
    }
  }
}

std::vector<float> ModelManager::next_logits(const Persona& p, const std::vector<Message>& msgs) {
  auto turn = impl_->lock.hold();
  ChatResult r;
  std::vector<llama_token> toks;
  Model& m = impl_->ready(p, msgs, r, toks);
  const float* l = llama_get_logits_ith(m.ctx, -1);
  std::vector<float> out(l, l + llama_vocab_n_tokens(m.vocab));
  impl_->after_call();
  return out;
}

ChatResult ModelManager::chat(const Persona& p, const ChatRequest& req) {
  auto turn = impl_->lock.hold();
  ChatResult r;
  std::vector<llama_token> toks;
  Model& m = impl_->ready(p, req.messages, r, toks);

  std::string grammar = req.grammar;
  if (!req.json_schema.empty()) {
    try {
      grammar = json_schema_to_grammar(common_json::parse(req.json_schema));
    } catch (const std::exception& e) {
      throw Error(std::string("the JSON schema cannot be turned into a grammar: ") + e.what());
    }
  }
  struct SmplDel { void operator()(llama_sampler* s) const { llama_sampler_free(s); } };
  std::unique_ptr<llama_sampler, SmplDel> smpl(llama_sampler_chain_init(llama_sampler_chain_default_params()));
  if (!grammar.empty()) {
    llama_sampler* g = llama_sampler_init_grammar(m.vocab, grammar.c_str(), "root");
    if (!g) throw Error("the grammar does not parse (GBNF with a 'root' rule expected)");
    llama_sampler_chain_add(smpl.get(), g);
  }
  const Sampling& s = req.sampling;
  if (s.temperature > 0) {
    if (s.top_k > 0) llama_sampler_chain_add(smpl.get(), llama_sampler_init_top_k(s.top_k));
    if (s.top_p < 1) llama_sampler_chain_add(smpl.get(), llama_sampler_init_top_p(s.top_p, 1));
    llama_sampler_chain_add(smpl.get(), llama_sampler_init_temp(s.temperature));
    llama_sampler_chain_add(smpl.get(), llama_sampler_init_dist(s.seed));
  } else {
    llama_sampler_chain_add(smpl.get(), llama_sampler_init_greedy());
  }

  size_t hold = 0;  // stream nothing that could still become a stop string
  for (auto& st : req.stop) hold = std::max(hold, st.size() ? st.size() - 1 : 0);
  size_t streamed = 0;
  r.finish_reason = "length";
  auto t0 = Clock::now();
  for (int i = 0; i < req.max_tokens; ++i) {
    if (req.cancel && req.cancel->load()) {
      r.finish_reason = "cancelled";
      break;
    }
    llama_token t = llama_sampler_sample(smpl.get(), m.ctx, -1);
    if (llama_vocab_is_eog(m.vocab, t) && !req.ignore_eos) {
      r.finish_reason = "stop";
      break;
    }
    r.text += piece(m.vocab, t);
    ++r.completion_tokens;
    size_t cut = std::string::npos;
    for (auto& st : req.stop)
      if (!st.empty()) cut = std::min(cut, r.text.find(st, streamed > st.size() ? streamed - st.size() : 0));
    if (cut != std::string::npos) {
      r.text.resize(cut);
      r.finish_reason = "stop";
    }
    size_t safe = r.finish_reason == "stop" ? r.text.size() : (r.text.size() > hold ? r.text.size() - hold : 0);
    if (req.on_token && safe > streamed) {
      bool go_on = req.on_token(std::string_view(r.text).substr(streamed, safe - streamed));
      streamed = safe;
      if (!go_on) {
        r.finish_reason = "cancelled";
        break;
      }
    }
    if (r.finish_reason == "stop") break;
    llama_batch b = llama_batch_get_one(&t, 1);
    if (llama_decode(m.ctx, b) != 0) throw Error("llama.cpp failed while generating (context full?)");
    m.tokens.push_back(t);
  }
  if (req.on_token && streamed < r.text.size() && r.finish_reason != "cancelled")
    req.on_token(std::string_view(r.text).substr(streamed));
  r.text = utf8_clean(r.text);  // tokens can end inside a character, or invent bad bytes
  r.decode_ms = ms_since(t0);
  impl_->after_call();
  return r;
}

std::vector<float> ModelManager::embed(const Persona& p, const std::string& text) {
  auto turn = impl_->lock.hold();
  double load_ms = 0;
  Model& m = impl_->acquire(p, load_ms);
  auto cp = llama_context_default_params();
  cp.n_ctx = 2048;
  cp.n_batch = cp.n_ubatch = 2048;
  cp.embeddings = true;
  cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
  struct CtxDel { void operator()(llama_context* c) const { llama_free(c); } };
  std::unique_ptr<llama_context, CtxDel> ctx(llama_init_from_model(m.model, cp));
  if (!ctx) throw Error("llama.cpp could not create an embedding context");
  int k = -llama_tokenize(m.vocab, text.data(), static_cast<int32_t>(text.size()), nullptr, 0, true, false);
  std::vector<llama_token> toks(static_cast<size_t>(k));
  llama_tokenize(m.vocab, text.data(), static_cast<int32_t>(text.size()), toks.data(), k, true, false);
  if (toks.empty() || toks.size() > 2048) throw Error("text to embed must be 1 to 2048 tokens");
  if (llama_decode(ctx.get(), llama_batch_get_one(toks.data(), static_cast<int32_t>(toks.size()))) != 0)
    throw Error("llama.cpp failed to embed the text");
  const float* e = llama_get_embeddings_seq(ctx.get(), 0);
  if (!e) throw Error("llama.cpp returned no embedding");
  std::vector<float> v(e, e + llama_model_n_embd(m.model));
  double norm = 0;
  for (float x : v) norm += double{x} * x;
  norm = std::sqrt(norm);
  if (norm > 0)
    for (float& x : v) x = static_cast<float>(x / norm);
  impl_->after_call();
  return v;
}

namespace {
class LlamaBackend final : public Backend {
 public:
  LlamaBackend(ModelManager& mm, Persona p) : mm_(mm), p_(std::move(p)) {}
  std::string name() const override { return "llama (" + p_.model.filename().string() + ")"; }
  ChatResult chat(const ChatRequest& req) override { return mm_.chat(p_, req); }
  std::vector<float> embed(const std::string& text) override { return mm_.embed(p_, text); }

 private:
  ModelManager& mm_;
  Persona p_;
};
}  // namespace

std::unique_ptr<Backend> llama_backend(ModelManager& mm, Persona p) {
  return std::make_unique<LlamaBackend>(mm, std::move(p));
}

std::unique_ptr<Backend> open_backend(const std::string& spec, ModelManager& mm, const Persona& persona) {
  auto starts = [&](const char* p) { return spec.rfind(p, 0) == 0; };
  if (starts("ollama:")) {
    std::string rest = spec.substr(7), url;
    if (auto at = rest.find('@'); at != std::string::npos) url = rest.substr(at + 1), rest.resize(at);
    if (url.empty()) {
      const std::string host = mm.env()->getenv("OLLAMA_HOST").value_or("");
      url = !host.empty() ? (host.find("://") == std::string::npos ? "http://" + host : host)
                          : "http://127.0.0.1:11434";
    }
    if (rest.empty()) throw Error("model spec '" + spec + "' names no Ollama model; write ollama:NAME");
    return ollama_backend(url, rest);
  }
  if (starts("openai:")) {
    std::string rest = spec.substr(7);
    auto hash = rest.find('#');
    if (hash == std::string::npos || hash + 1 >= rest.size())
      throw Error("model spec '" + spec + "' needs a model name: write openai:URL#MODEL");
    return openai_backend(rest.substr(0, hash), rest.substr(hash + 1), mm.env()->getenv("OPENAI_API_KEY").value_or(""));
  }
  if (starts("scripted:")) return scripted_backend(spec.substr(9), persona.name);
  if (spec.empty()) throw Error("no model given; pass --model (a GGUF path, ollama:NAME or openai:URL#MODEL) or set A4PS_MODEL");
  Persona p = persona;
  p.model = spec;
  read_model_info(p.model);  // a clear error now for a missing or non-GGUF file
  return llama_backend(mm, p);
}

}  // namespace a4ps::llm
