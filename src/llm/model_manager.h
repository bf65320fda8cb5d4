// The ModelManager runs personas on embedded llama.cpp within a memory budget.
//
// Personas that share a base model share one loaded model and one context, in which each
// keeps its own KV sequence (up to four, as the budget allows; the least recently used
// persona's goes first): switching persona sets its LoRA adapter(s) and goes on from its
// resident prefix instead of prefilling its conversation again. Models beyond the budget
// are unloaded least-recently-used.
// Policy::Reload instead loads and frees the model on every call: the seed's design
// (Ollama keep_alive 0), kept for comparison.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llm/backend.h"
#include "llm/offload_plan.h"

namespace a4ps {
class Env;
}

namespace a4ps::llm {

namespace fs = std::filesystem;

struct Adapter {
  fs::path path;  // a GGUF LoRA adapter made for the persona's base model
  float scale = 1.0f;
};

struct Persona {
  std::string name;
  fs::path model;  // base GGUF
  std::vector<Adapter> adapters;
};

enum class Policy { Switch, Reload };

// When a model needs VRAM that loaded models hold: Evict unloads them, least recently used
// first, so the model in use gets every layer it can (personas on different models take
// turns on the GPU); Share keeps them and gives the new model what is left.
enum class VramPolicy { Evict, Share };

struct ManagerOptions {
  uint64_t budget_bytes = 0;  // 0: $A4PS_MEMORY_BUDGET (e.g. 8G), else 80% of the memory available now
  Policy policy = Policy::Switch;
  uint32_t n_ctx = 4096;
  int n_threads = 0;  // 0: all cores
  Env* env = nullptr;  // $A4PS_MEMORY_BUDGET, $OLLAMA_HOST, $OPENAI_API_KEY; nullptr: Env::Default()
  // GPU offload (llama.cpp built with a GPU backend): each load offloads as many layers as
  // fit (plan_offload), the rest run on the CPU.
  uint64_t vram_budget_bytes = 0;  // 0: $A4PS_VRAM_BUDGET (0 there: CPU only), else default_vram_budget()
  std::optional<VramPolicy> vram_policy;  // unset: $A4PS_VRAM_POLICY (evict or share), else Evict
  std::optional<DeviceMemory> gpu;  // unset: ggml's first GPU, if any; set: plan for this described device
};

struct LoadedModel {
  std::string path;
  uint64_t bytes = 0;  // weights + KV cache, as budgeted
  std::vector<std::string> personas_cached;  // personas with a saved KV prefix here
  int gpu_layers = 0;       // as planned at load (n_gpu_layers); 0: all on the CPU
  uint64_t gpu_bytes = 0;   // VRAM the plan gives it
  std::string placement;    // the plan in one line
};

// Safe to share between threads: calls are served one at a time, in the order they arrive
// (a model's context holds one conversation's state at a time).
class ModelManager {
 public:
  explicit ModelManager(ManagerOptions opts = {});
  ~ModelManager();
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  ChatResult chat(const Persona& p, const ChatRequest& req);
  // The next-token logits after the templated prompt (for tests and evaluation).
  std::vector<float> next_logits(const Persona& p, const std::vector<Message>& messages);
  std::vector<float> embed(const Persona& p, const std::string& text);

  std::vector<LoadedModel> loaded() const;  // most recently used first
  uint64_t budget() const;
  uint64_t vram_budget() const;  // 0 when loads stay on the CPU (no GPU, or a budget of 0)
  Env* env() const;  // where the manager and the backends it opens read the environment
  void forget(const std::string& persona);  // drop a persona's cached prefix
  uint64_t loads() const;  // models loaded from disk so far (a reload after eviction counts again)

 private:
  // The bodies of the calls above, run on the manager's compute thread.
  ChatResult chat_here(const Persona& p, const ChatRequest& req);
  std::vector<float> next_logits_here(const Persona& p, const std::vector<Message>& messages);
  std::vector<float> embed_here(const Persona& p, const std::string& text);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A Backend bound to one persona of a manager (the manager must outlive it).
std::unique_ptr<Backend> llama_backend(ModelManager& mm, Persona p);

// "8G", "512M", "8GiB" -> bytes; throws Error on anything else.
uint64_t parse_bytes(const std::string& s);

// Picks a backend from a model spec, the way --model / A4PS_MODEL are written:
//   path/to/model.gguf        embedded llama.cpp through mm (with the persona's adapters)
//   ollama:NAME[@URL]         Ollama (URL default: $OLLAMA_HOST or http://127.0.0.1:11434)
//   openai:URL#MODEL          an OpenAI-compatible server
//   scripted:FILE             the scripted fake
std::unique_ptr<Backend> open_backend(const std::string& spec, ModelManager& mm, const Persona& persona);
// Whether a spec names a GGUF path (embedded llama.cpp) rather than a server or the fake.
inline bool is_local_spec(const std::string& spec) {
  return spec.find(':') == std::string::npos || spec.rfind("/", 0) == 0 || spec.rfind(".", 0) == 0;
}

// Estimated bytes a model needs at a context size (weights + KV cache).
uint64_t estimate_bytes(const fs::path& gguf, uint32_t n_ctx);

}  // namespace a4ps::llm
