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
#include <deque>
#include <functional>
#include <future>
#include <list>
#include <mutex>
#include <optional>
#include <map>
#include <thread>
#include <type_traits>

#include "llm/devices.h"
#include "llm/llm.h"
#include "llm/sampling.h"
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

// Each persona on a model keeps its own KV sequence in the model's context (a slot), so a
// switch costs an adapter swap, not a copy of its cache out and in.
constexpr uint32_t kSlots = 4;

struct Seq {
  llama_seq_id id = 0;
  std::vector<llama_token> tokens;  // what the slot's KV holds
  std::string adapters;             // the adapter set its KV was computed with
  uint64_t used = 0;                // for least-recently-used eviction
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
  uint32_t slots = 1;                                  // sequences the context holds
  std::map<std::string, Seq> seqs;                     // by persona
  std::string adapters_set;                            // the adapter set ctx computes with now
  uint64_t clock = 0;
  llama_batch batch{};  // n_batch tokens, allocated once: every decode fills it
  // The embedding context, kept between calls (creating one costs far more than embedding
  // a chunk) and sized to the longest text embedded so far, in powers of two.
  llama_context* embed_ctx = nullptr;
  uint32_t embed_n_ctx = 0;
  ~Model() {
    if (batch.token) llama_batch_free(batch);
    if (embed_ctx) llama_free(embed_ctx);
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

// Every llama.cpp call of a manager runs on this one thread. ggml's CPU backend (built with
// OpenMP) keeps a team of worker threads per thread that calls it: a server's many request
// threads made many teams, more threads than cores, and libgomp then parks its workers on a
// futex between tokens instead of spinning. Waking them cost about a fifth of decode time.
class ComputeThread {
 public:
  ~ComputeThread() {
    {
      std::lock_guard g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // Runs f there and returns its result (or rethrows its exception) here.
  template <class F>
  std::invoke_result_t<F&> run(F f) {
    using R = std::invoke_result_t<F&>;
    if (std::this_thread::get_id() == id_) return f();
    std::packaged_task<R()> task(std::move(f));
    auto done = task.get_future();
    {
      std::lock_guard g(mu_);
      if (!thread_.joinable()) {
        thread_ = std::thread([this] { loop(); });
        id_ = thread_.get_id();
      }
      jobs_.push_back([&task] { task(); });
    }
    cv_.notify_all();
    return done.get();
  }

 private:
  void loop() {
    std::unique_lock g(mu_);
    for (;;) {
      cv_.wait(g, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      g.unlock();
      job();
      g.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::thread thread_;
  std::thread::id id_;
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
  OffloadPlan plan_gpu(const Persona& p, uint32_t slots) {
    know_gpu();
    if (vram_budget == 0) return {};
    ModelShape shape = read_model_shape(p.model);
    // Every persona slot's KV cache.
    OffloadRequest rq{.n_ctx = opts.n_ctx * slots, .n_ubatch = std::min<uint32_t>(512, opts.n_ctx), .budget_bytes = vram_budget};
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

  ComputeThread compute;  // last: joined before the models are freed

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
    // As many persona slots as the budget allows beside the other models, at least one.
    uint32_t slots = kSlots;
    uint64_t kv = need - read_model_info(p.model).file_bytes;  // one slot's KV cache
    while (slots > 1 && need + kv * (slots - 1) > budget) --slots;
    need += kv * (slots - 1);
    if (need > budget)
      throw Error("model " + p.model.string() + " needs about " + human_bytes(need) + " but the memory budget is " +
                  human_bytes(budget) + "; raise the budget or use a smaller (more quantized) model");
    while (!models.empty() && used() + need > budget) models.pop_back();  // least recently used
    init_llama_logging();
    auto m = std::make_unique<Model>();
    m->path = key;
    m->bytes = need;
    m->slots = slots;
    m->plan = plan_gpu(p, slots);
    auto mp = llama_model_default_params();
    mp.n_gpu_layers = m->plan.gpu_layers;
    m->model = llama_model_load_from_file(key.c_str(), mp);
    if (!m->model)
      throw Error("llama.cpp could not load " + p.model.string() + " (unsupported architecture or damaged file)");
    auto cp = llama_context_default_params();
    uint32_t train = static_cast<uint32_t>(llama_model_n_ctx_train(m->model));
    cp.n_ctx = (train ? std::min(opts.n_ctx, train) : opts.n_ctx) * slots;
    cp.n_batch = std::min<uint32_t>(512, cp.n_ctx);
    cp.n_seq_max = slots;
    cp.kv_unified = false;  // each slot its own cells: a decode attends to its persona's tokens only
    int threads = opts.n_threads > 0 ? opts.n_threads : static_cast<int>(std::thread::hardware_concurrency());
    cp.n_threads = cp.n_threads_batch = threads;
    m->ctx = llama_init_from_model(m->model, cp);
    if (!m->ctx) throw Error("llama.cpp could not create a context for " + p.model.string() + " (out of memory?)");
    m->batch = llama_batch_init(static_cast<int32_t>(llama_n_batch(m->ctx)), 0, 1);
    m->vocab = llama_model_get_vocab(m->model);
    if (const char* t = llama_model_chat_template(m->model, nullptr)) m->tmpl = t;
    models.push_front(std::move(m));
    ++loads;
    load_ms = ms_since(t0);
    return *models.front();
  }

  // Makes p the persona in m's context: its adapters, and its own sequence (a free slot, or
  // the least recently used persona's).
  Seq& activate(Model& m, const Persona& p) {
    std::vector<llama_adapter_lora*> ptrs;
    std::vector<float> scales;
    std::string set;
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
      set += key + "@" + std::to_string(a.scale) + ";";
    }
    if (set != m.adapters_set) {  // setting them makes llama.cpp plan its graphs again: only on a change
      llama_set_adapters_lora(m.ctx, ptrs.data(), ptrs.size(), scales.data());
      m.adapters_set = set;
    }
    auto it = m.seqs.find(p.name);
    if (it == m.seqs.end()) {
      Seq fresh;
      std::vector<bool> taken(m.slots, false);
      for (auto& [name, sq] : m.seqs) taken[static_cast<size_t>(sq.id)] = true;
      auto free_slot = std::find(taken.begin(), taken.end(), false);
      if (free_slot != taken.end()) {
        fresh.id = static_cast<llama_seq_id>(free_slot - taken.begin());
      } else {
        auto lru = std::min_element(m.seqs.begin(), m.seqs.end(),
                                    [](auto& a, auto& b) { return a.second.used < b.second.used; });
        fresh.id = lru->second.id;
        m.seqs.erase(lru);
        llama_memory_seq_rm(llama_get_memory(m.ctx), fresh.id, -1, -1);
      }
      it = m.seqs.emplace(p.name, std::move(fresh)).first;
    }
    Seq& sq = it->second;
    if (sq.adapters != set) {  // its cache was computed with other adapters: not reusable
      llama_memory_seq_rm(llama_get_memory(m.ctx), sq.id, -1, -1);
      sq.tokens.clear();
      sq.adapters = set;
    }
    sq.used = ++m.clock;
    return sq;
  }

  // Evaluates n (<= n_batch) tokens of sq at its end; logits for the last one only.
  static void decode(Model& m, Seq& sq, const llama_token* toks, size_t n, const char* what) {
    llama_batch& b = m.batch;
    for (size_t i = 0; i < n; ++i) {
      b.token[i] = toks[i];
      b.pos[i] = static_cast<llama_pos>(sq.tokens.size() + i);
      b.n_seq_id[i] = 1;
      b.seq_id[i][0] = sq.id;
      b.logits[i] = i + 1 == n;
    }
    b.n_tokens = static_cast<int32_t>(n);
    if (llama_decode(m.ctx, b) != 0) throw Error(what);
    sq.tokens.insert(sq.tokens.end(), toks, toks + n);
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

  // Evaluates the prompt, reusing the longest prefix already in the persona's sequence.
  int prefill(Model& m, Seq& sq, const std::vector<llama_token>& toks) {
    const uint32_t room = llama_n_ctx_seq(m.ctx);
    if (toks.size() >= room)
      throw Error("the conversation (" + std::to_string(toks.size()) + " tokens) does not fit the context of " +
                  std::to_string(room) + " tokens; shorten it or raise n_ctx");
    size_t common = 0;
    while (common < sq.tokens.size() && common < toks.size() && sq.tokens[common] == toks[common]) ++common;
    if (common == toks.size()) --common;  // re-evaluate the last token to get its logits
    llama_memory_seq_rm(llama_get_memory(m.ctx), sq.id, static_cast<llama_pos>(common), -1);
    sq.tokens.resize(common);
    const size_t batch = llama_n_batch(m.ctx);
    for (size_t i = common; i < toks.size(); i += batch)
      decode(m, sq, toks.data() + i, std::min(batch, toks.size() - i), "llama.cpp failed to evaluate the prompt");
    return static_cast<int>(common);
  }

  std::pair<Model*, Seq*> ready(const Persona& p, const std::vector<Message>& msgs, ChatResult& r) {
    Model& m = acquire(p, r.load_ms);
    Seq& sq = activate(m, p);
    std::vector<llama_token> toks = prompt_tokens(m, msgs);
    auto t0 = Clock::now();
    r.prompt_tokens = static_cast<int>(toks.size());
    r.reused_tokens = prefill(m, sq, toks);
    r.prefill_ms = ms_since(t0);
    return {&m, &sq};
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
    std::vector<std::pair<uint64_t, std::string>> by_use;
    for (auto& [name, sq] : m->seqs) by_use.push_back({sq.used, name});
    std::sort(by_use.rbegin(), by_use.rend());  // the persona that ran last first
    for (auto& [used, name] : by_use) l.personas_cached.push_back(name);
    out.push_back(l);
  }
  return out;
}

void ModelManager::forget(const std::string& persona) {
  auto turn = impl_->lock.hold();
  for (auto& m : impl_->models) {
    if (auto it = m->seqs.find(persona); it != m->seqs.end()) {
      llama_memory_seq_rm(llama_get_memory(m->ctx), it->second.id, -1, -1);
      m->seqs.erase(it);
    }
  }
}

std::vector<float> ModelManager::next_logits(const Persona& p, const std::vector<Message>& msgs) {
  auto turn = impl_->lock.hold();
  return impl_->compute.run([&] { return next_logits_here(p, msgs); });
}

std::vector<float> ModelManager::next_logits_here(const Persona& p, const std::vector<Message>& msgs) {
  ChatResult r;
  Model& m = *impl_->ready(p, msgs, r).first;
  const float* l = llama_get_logits_ith(m.ctx, -1);
  std::vector<float> out(l, l + llama_vocab_n_tokens(m.vocab));
  impl_->after_call();
  return out;
}

ChatResult ModelManager::chat(const Persona& p, const ChatRequest& req) {
  auto turn = impl_->lock.hold();
  return impl_->compute.run([&] { return chat_here(p, req); });
}

ChatResult ModelManager::chat_here(const Persona& p, const ChatRequest& req) {
  ChatResult r;
  auto [mp, sq] = impl_->ready(p, req.messages, r);
  Model& m = *mp;

  std::string grammar = req.grammar;
  if (!req.json_schema.empty()) {
    try {
      grammar = json_schema_to_grammar(common_json::parse(req.json_schema));
    } catch (const std::exception& e) {
      throw Error(std::string("the JSON schema cannot be turned into a grammar: ") + e.what());
    }
  }
  // Without a grammar, our own sampler (no 150k-entry candidate array per token); with
  // one, or with top-p, llama.cpp's chain.
  const Sampling& s = req.sampling;
  std::optional<LogitSampler> fast;
  struct SmplDel { void operator()(llama_sampler* s) const { llama_sampler_free(s); } };
  std::unique_ptr<llama_sampler, SmplDel> smpl;
  if (grammar.empty() && LogitSampler::supports(s)) {
    fast.emplace(s);
  } else {
    smpl.reset(llama_sampler_chain_init(llama_sampler_chain_default_params()));
    if (!grammar.empty()) {
      llama_sampler* g = llama_sampler_init_grammar(m.vocab, grammar.c_str(), "root");
      if (!g) throw Error("the grammar does not parse (GBNF with a 'root' rule expected)");
      llama_sampler_chain_add(smpl.get(), g);
    }
    if (s.temperature > 0) {
      if (s.top_k > 0) llama_sampler_chain_add(smpl.get(), llama_sampler_init_top_k(s.top_k));
      if (s.top_p < 1) llama_sampler_chain_add(smpl.get(), llama_sampler_init_top_p(s.top_p, 1));
      llama_sampler_chain_add(smpl.get(), llama_sampler_init_temp(s.temperature));
      llama_sampler_chain_add(smpl.get(), llama_sampler_init_dist(s.seed));
    } else {
      llama_sampler_chain_add(smpl.get(), llama_sampler_init_greedy());
    }
  }
  const int32_t n_vocab = llama_vocab_n_tokens(m.vocab);

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
    llama_token t = fast ? fast->sample(llama_get_logits_ith(m.ctx, -1), n_vocab) : llama_sampler_sample(smpl.get(), m.ctx, -1);
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
    if (i + 1 == req.max_tokens) break;  // the last token's KV would never be read: skip its decode
    if (sq->tokens.size() + 1 >= llama_n_ctx_seq(m.ctx)) break;  // the context is full: "length"
    Impl::decode(m, *sq, &t, 1, "llama.cpp failed while generating");
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
  return impl_->compute.run([&] { return embed_here(p, text); });
}

std::vector<float> ModelManager::embed_here(const Persona& p, const std::string& text) {
  double load_ms = 0;
  Model& m = impl_->acquire(p, load_ms);
  int k = -llama_tokenize(m.vocab, text.data(), static_cast<int32_t>(text.size()), nullptr, 0, true, false);
  std::vector<llama_token> toks(static_cast<size_t>(std::max(k, 0)));
  if (k > 0) llama_tokenize(m.vocab, text.data(), static_cast<int32_t>(text.size()), toks.data(), k, true, false);
  if (toks.empty() || toks.size() > 2048) throw Error("text to embed must be 1 to 2048 tokens");
  uint32_t want = 256;
  while (want < toks.size()) want *= 2;
  if (!m.embed_ctx || m.embed_n_ctx < want) {
    if (m.embed_ctx) llama_free(m.embed_ctx);
    m.embed_ctx = nullptr;
    auto cp = llama_context_default_params();
    cp.n_ctx = cp.n_batch = cp.n_ubatch = want;
    cp.embeddings = true;
    cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
    // The threads asked for (a core left to another program), else llama.cpp's default.
    if (impl_->opts.n_threads > 0) cp.n_threads = cp.n_threads_batch = impl_->opts.n_threads;
    m.embed_ctx = llama_init_from_model(m.model, cp);
    if (!m.embed_ctx) throw Error("llama.cpp could not create an embedding context");
    m.embed_n_ctx = want;
  }
  llama_context* ctx = m.embed_ctx;
  llama_memory_clear(llama_get_memory(ctx), true);  // each text on its own
  if (llama_decode(ctx, llama_batch_get_one(toks.data(), static_cast<int32_t>(toks.size()))) != 0)
    throw Error("llama.cpp failed to embed the text");
  const float* e = llama_get_embeddings_seq(ctx, 0);
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
