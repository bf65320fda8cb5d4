// The learning cycle's steps that span the image: a training run evaluated on held-out
// examples and stored inert with its lineage (one transaction), the runs recorded, an
// adapter evaluated against its base, and the proposals that activate or roll back one.
// Built on learn.h's engine and governance's proposals; the public learn API calls these.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "learn/learn.h"

namespace a4ps::image {
class Image;
}
namespace a4ps::llm {
class ModelManager;
}

namespace a4ps::learn {

// The adapter object's name for a persona: `name`, else "<persona in lower case>-lora".
std::string adapter_name(const std::string& persona, const std::string& name = "");

// Training and evaluation need a local GGUF: throws Error for an empty spec or one that
// is not a file (an ollama:/openai: spec, say).
fs::path local_base(const std::string& model_spec);

// A dataset: the JSONL file when given, else the persona's golden set.
std::vector<Example> dataset(const image::Image& img, const std::string& persona, const std::string& file);

// A seeded split: the same seed holds out the same examples (so a re-run resumes).
// frac < 0: 0.25 with four or more examples, else none. Throws Error for frac >= 1.
void split_heldout(const std::vector<Example>& all, double frac, uint64_t seed, std::vector<Example>& train,
                   std::vector<Example>& held);

struct CycleOptions {
  std::string persona;
  double eval_split = -1;  // as split_heldout
  TrainOptions train;      // checkpoint_dir "": IMAGE.learn/<persona>-<hash of base, data and settings>
};
struct CycleResult {
  TrainResult run;
  std::string sha256;  // the adapter's blob in the image
  json lineage;        // the run's lineage, its metrics with the held-out figures
  size_t heldout = 0;
  EvalResult before, after;  // on the held-out examples (when heldout > 0)
};
// Trains on the training part, evaluates base and adapter on the held-out part, then
// stores the adapter blob and a learn.trained event in one transaction. The checkpoint
// folder is removed once the run is in the image.
CycleResult train_and_store(image::Image& img, const fs::path& base, const std::vector<Example>& data,
                            const CycleOptions& opts);

// Training runs recorded in the image (learn.trained events), oldest first.
struct Run {
  int64_t seq = 0;
  json payload;  // sha256, persona, name, size, lineage, curve
};
std::vector<Run> runs(const image::Image& img, const std::string& persona = "");
// The newest run of the persona whose adapter hash starts with `which` ("" the newest).
Run pick_run(const image::Image& img, const std::string& persona, const std::string& which);

// An adapter (GGUF bytes) against its base on the examples; probes answered by both.
struct Probe {
  std::string prompt, base, adapter;
};
struct AdapterEval {
  EvalResult before, after;
  std::vector<Probe> probes;
};
AdapterEval evaluate_adapter(const fs::path& base, const std::string& adapter_bytes, const std::vector<Example>& data,
                             int n_ctx, const std::string& persona, const std::vector<std::string>& probes);
// Probes answered twice by one persona on the base, with adapter bytes `a` and then `b`
// ("" = the base alone); each Probe's `base` holds a's answer and `adapter` b's. `system`
// starts each prompt when given; `tokens` (when given) gets the tokens generated. A
// manager shares models already loaded (null: one of its own).
std::vector<Probe> answer_probes(const fs::path& base, const std::string& a, const std::string& b,
                                 const std::string& persona, const std::vector<std::string>& probes, int max_tokens = 32,
                                 const std::string& system = "", llm::ModelManager* manager = nullptr,
                                 int64_t* tokens = nullptr);
// The adapter alone on the examples (no pass of the base: for comparing two adapters).
EvalResult evaluate_bytes(const fs::path& base, const std::string& adapter_bytes, const std::vector<Example>& data,
                          int n_ctx);

// Files adapter.activate for a training run; returns the proposal id. `evidence` is merged
// into its metrics (what `a4ps approvals show` prints for the person deciding), e.g. the
// live loop's comparison with the active adapter.
int64_t propose_activation(image::Image& img, const std::string& persona, const std::string& run, const std::string& name,
                           const json& evidence = json::object());

struct Rollback {
  int64_t proposal = 0;
  std::string name;
  int64_t to_version = 0;
  bool applied = false;
  int64_t version = 0;  // the new version, when applied
};
// Proposes the persona's previous adapter version (the newest live one with other bytes);
// with a reviewer, approves and applies it at once (a person owns the decision).
Rollback rollback_adapter(image::Image& img, const std::string& persona, const std::string& name,
                          const std::string& reviewer = "", const std::string& reason = "");

}  // namespace a4ps::learn
