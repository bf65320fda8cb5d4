// The learning loop: ALFRED judges interactions, the best become a persona's golden set,
// a LoRA adapter is trained on them in-process on the GGUF base (ggml autodiff + AdamW),
// evaluated through unmodified llama.cpp, and proposed for activation (a human decides).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/backend.h"

namespace a4ps {
class Env;
}

namespace a4ps::image {
class Image;
}

namespace a4ps::learn {

using json = nlohmann::json;
namespace fs = std::filesystem;

// One training example in the chat format common trainers read:
// {"messages":[{"role":"system|user|assistant","content":"..."},...]}. Only assistant
// turns are learned; the rest is context.
struct Example {
  std::vector<llm::Message> messages;
  std::string tokenizer;  // optional: the tokenizer fingerprint it was exported for
};

// JSONL in that format; throws Error naming the line on anything malformed.
std::vector<Example> parse_jsonl(const std::string& text, const std::string& what);
std::string to_jsonl(const std::vector<Example>& data);
std::string dataset_hash(const std::vector<Example>& data);  // sha256 of the canonical JSONL

// ---- judge -------------------------------------------------------------------------
struct Judgement {
  int64_t id = 0;
  std::string thread;
  json scores;       // task_success, correctness, grace, justice, codex_adherence: 1..5
  double total = 0;  // mean of the scores
  std::string rationale;
};
// The rubric as a JSON schema: the judge's output is constrained to it.
const std::string& judge_schema();
// ALFRED scores the latest checkpoint of `thread` with `judge` (constrained JSON), and
// stores the judgement with a learn.judged event.
Judgement judge_thread(image::Image& img, llm::Backend& judge, const std::string& thread);

// ---- golden set ----------------------------------------------------------------------
struct GoldenOptions {
  double min_total = 4.0;  // judgements below this are not golden
  double min_each = 3.0;   // ... nor those with any single score below this
};
struct GoldenResult {
  int added = 0, duplicates = 0, judgements = 0;
};
// Turns well-judged threads into per-persona examples (the persona's prompt + its
// output), de-duplicated by content hash.
GoldenResult select_golden(image::Image& img, const GoldenOptions& opts);
std::vector<Example> golden_set(const image::Image& img, const std::string& persona);
// Examples in the golden set per persona, in name order.
std::vector<std::pair<std::string, int64_t>> golden_counts(const image::Image& img);
// Finished threads that no judgement covers yet (what `learn judge --all` judges); threads
// whose id starts with kTrialThreadPrefix (an adapter's trial runs) are never among them.
inline constexpr const char* kTrialThreadPrefix = "live-trial-";
inline bool is_trial_thread(std::string_view id) { return id.substr(0, std::string_view(kTrialThreadPrefix).size()) == kTrialThreadPrefix; }
std::vector<std::string> unjudged_threads(image::Image& img);
int import_golden(image::Image& img, const std::string& persona, const std::vector<Example>& data);

// ---- training ------------------------------------------------------------------------
// Every projection of a layer a LoRA may adapt (TrainOptions::targets names some of them).
inline const std::vector<std::string> kLoraTargets = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

struct TrainOptions {
  int rank = 8;
  float alpha = 16;
  std::vector<std::string> targets = {"attn_q", "attn_v"};  // tensor kinds of every layer
  float lr = 1e-3f;
  int epochs = 1;
  int max_steps = 0;  // 0: enough optimizer steps for `epochs` passes over the examples
  int batch_size = 1;  // examples per micro-batch: one graph, each padded to the longest
  int grad_accum = 1;  // micro-batches per optimizer step (an optimizer step sees batch_size * grad_accum examples)
  // The learning rate after warm-up: "cosine" (down to min_lr_ratio * lr) or "constant".
  // Cosine and warm-up are opt-in: the short runs the learning cycle makes learn less with them.
  std::string schedule = "constant";
  int warmup_steps = 0;      // linear warm-up to lr; -1: 5% of the steps (none under 20 steps)
  float min_lr_ratio = 0.1f;  // where the cosine ends, as a fraction of lr
  float weight_decay = 0.0f;  // AdamW's decoupled weight decay (0: none, as PEFT's default)
  int n_ctx = 512;    // longer examples are cut
  int threads = 0;    // 0: all cores
  uint64_t seed = 1;
  fs::path checkpoint_dir;   // "" none; a matching checkpoint there is resumed
  int checkpoint_every = 0;  // steps; 0: only at the end
  bool progress = true;      // progress bar with loss on stderr
  std::function<void(int step, float loss)> on_step;
  // On the CPU the backward pass's GEMMs (input gradients through the frozen weights) use
  // bf16 copies of those weights: ~2-3x faster with AVX512-BF16, half the memory of f32
  // copies; the forward pass and the loss keep the base's precision. false: f32 copies.
  bool bf16_backward = true;
  Env* env = nullptr;  // $A4PS_LEARN_PLAIN_BACKWARD (tests); nullptr: Env::Default()
};
struct TrainResult {
  std::string adapter;        // GGUF LoRA bytes, loadable by llama_adapter_lora_init
  std::vector<float> losses;  // per optimizer step (mean over assistant tokens)
  int steps = 0, resumed_from = 0;
  int64_t tokens = 0;         // tokens processed in this run (forward+backward)
  int64_t learned = 0;        // of those, the ones the loss was on (assistant tokens)
  int backward_gemms = 0;     // out_prods of the backward pass done as GEMMs (body, attention; 0: none)
  double seconds = 0, tokens_per_s = 0;
  json lineage;  // base sha256, dataset hash, hyper-parameters, metrics
  std::string device = "CPU";  // where it trained: CPU, or ggml's GPU (CUDA0, Vulkan0, ...)
  std::string device_note;     // one line: which device and why ($A4PS_TRAIN_DEVICE=cpu keeps it on the CPU)
};
TrainResult train_lora(const fs::path& base, const std::vector<Example>& data, const TrainOptions& opts);
// Optimizer steps of a run on n_examples: max_steps, or epochs passes in steps of batch_size * grad_accum examples.
int train_steps(const TrainOptions& opts, int n_examples);
// Warm-up steps as run (warmup_steps, or its default for `total` steps).
int warmup_steps(const TrainOptions& opts, int total);
// The learning rate of optimizer step `step` (1-based) of `total`: linear warm-up to lr over
// the warm-up steps, then lr (constant) or a cosine from lr towards min_lr_ratio * lr.
float lr_at(const TrainOptions& opts, int step, int total);

// ---- evaluation (through unmodified llama.cpp) -----------------------------------------
struct EvalResult {
  double loss = 0, ppl = 0;  // mean negative log-likelihood of assistant tokens, exp(loss)
  int64_t tokens = 0;
};
// adapter: "" for the base alone.
EvalResult evaluate(const fs::path& base, const fs::path& adapter, const std::vector<Example>& data, int n_ctx = 512);
std::string tokenizer_fingerprint(const fs::path& base);
// A loss curve (one or more series) as a standalone SVG.
std::string loss_svg(const std::vector<std::pair<std::string, std::vector<float>>>& series, const std::string& title);

}  // namespace a4ps::learn
