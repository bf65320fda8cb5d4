// The learning loop: ALFRED judges conversations (task success, correctness, grace,
// justice, codex adherence; 1–5 each), the well-judged ones become a persona's golden set,
// a LoRA adapter is trained on it (on the GGUF base, in this process), evaluated against
// the base on held-out examples, stored inert in the image, and only *proposed* for
// activation: a human decides (see the governance API / `a4ps approvals`).
//
// Contract: a training run lands in the image in one transaction (the adapter and its
// lineage) or not at all; evaluation and export only read the image.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "a4ps/image.h"

namespace a4ps {

struct Judgement {
  int task_success = 0, correctness = 0, grace = 0, justice = 0, codex_adherence = 0;
  int total() const { return task_success + correctness + grace + justice + codex_adherence; }
  std::string rationale;
};

struct JudgeOptions {
  std::string model;  // the judge's model spec (as SessionOptions::model; "" = the same defaults)
};
Judgement judge(Image& image, const std::string& thread, const JudgeOptions& options = {});

// ---- judging many threads (`a4ps learn judge`) ---------------------------------------
struct JudgeThreadsOptions {
  std::string model;      // as JudgeOptions
  bool all = false;       // also every finished thread no judgement covers yet
};
struct StoredJudgement {
  int64_t id = 0;          // the judgement's id in the image
  std::string thread;
  Judgement judgement;
  double mean = 0;         // mean of the five scores (what the golden thresholds compare)
  std::string scores_json; // the scores as the judge gave them (a JSON object)
};
// Judges each thread in turn, each judgement stored as it is made. Throws Error when
// there is nothing to judge or no judge model.
std::vector<StoredJudgement> judge_threads(Image& image, const std::vector<std::string>& threads,
                                           const JudgeThreadsOptions& options = {});

// ---- the golden set ------------------------------------------------------------------
struct GoldenOptions {
  double min_total = 4.0;  // lowest mean score that counts as golden (1..5)
  double min_each = 3.0;   // lowest single score that counts as golden (1..5)
};
struct GoldenSelection {
  int added = 0, duplicates = 0, judgements = 0;
};
// Turns well-judged threads into per-persona examples, de-duplicated by content.
GoldenSelection select_golden(Image& image, const GoldenOptions& options = {});
struct GoldenImport {
  int added = 0, duplicates = 0;
};
// Adds the examples of a JSONL chat-format file ({"messages":[...]} per line) for a persona.
// Throws Error naming the line of anything malformed; then nothing is added.
GoldenImport import_golden(Image& image, const std::string& persona, const std::string& jsonl_path);
struct GoldenCount {
  std::string persona;
  int64_t examples = 0;
};
std::vector<GoldenCount> golden_counts(const Image& image);  // in name order

struct GoldenExport {
  std::string jsonl;   // one example per line, the common chat format
  size_t examples = 0;
  std::string sha256;  // of the canonical JSONL: the dataset's identity in lineages
};
// A persona's golden set; for_model (a GGUF) stamps each line with its tokenizer fingerprint.
GoldenExport export_golden(const Image& image, const std::string& persona, const std::string& for_model = "");

// ---- training ------------------------------------------------------------------------
struct TrainAdapterOptions {
  std::string persona;    // the persona the adapter is for (required)
  std::string data_file;  // a JSONL dataset; "" = the persona's golden set
  std::string model;      // the base GGUF; "" = $A4PS_MODEL, the image's model setting, its base model
  double eval_split = -1; // fraction held out for evaluation; <0: 0.25 with 4+ examples, else none
  int rank = 8;
  float alpha = 16;       // scale = alpha / rank
  std::vector<std::string> targets = {"attn_q", "attn_v"};  // attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down
  float lr = 1e-3f;       // AdamW
  int epochs = 1;
  int steps = 0;          // optimizer steps instead of epochs; 0: epochs
  int batch = 1;          // examples per micro-batch (one graph, padded to the longest)
  int grad_accum = 1;     // micro-batches per optimizer step: a step sees batch * grad_accum examples
  std::string lr_schedule = "constant";  // after warm-up: "constant" or "cosine" (down to min_lr_ratio * lr); opt-in
  int warmup = 0;         // warm-up steps (linear, up to lr); -1: 5% of the steps (none under 20)
  float min_lr_ratio = 0.1f;  // where the cosine ends, as a fraction of lr
  float weight_decay = 0;     // AdamW's decoupled weight decay
  int ctx = 512;          // tokens per example (longer ones are cut)
  int threads = 0;        // 0: every core
  uint64_t seed = 1;      // initialisation, example order and the held-out choice
  std::string checkpoint_dir;  // "" = IMAGE.learn/RUN; a re-run with the same settings resumes there
  int checkpoint_every = 0;    // steps; 0: about ten per run
  bool progress_bar = false;   // a progress bar with the loss on stderr
  std::function<void(int step, float loss)> on_step;
};
struct TrainedAdapter {
  std::string sha256;     // the adapter's blob in the image (stored inert)
  std::string persona, name;  // name: the adapter object it would become (PERSONA-lora)
  int steps = 0, resumed_from = 0;
  double tokens_per_s = 0;
  double train_loss_first = 0, train_loss_last = 0;
  int heldout_examples = 0;  // 0: no held-out evaluation
  double heldout_loss_before = 0, heldout_loss_after = 0, heldout_ppl_before = 0, heldout_ppl_after = 0;
  std::vector<float> losses;  // per optimizer step
  std::string lineage_json;   // base sha256, dataset hash, hyper-parameters, metrics
  std::string adapter;        // the GGUF LoRA bytes
  std::string loss_svg;       // the loss curve as a standalone SVG
};
TrainedAdapter train_adapter(Image& image, const TrainAdapterOptions& options);

struct TrainingRun {
  int64_t seq = 0;  // its learn.trained event
  std::string sha256, persona;
  double train_loss_first = 0, train_loss_last = 0;
  std::string lineage_json;
  std::vector<float> losses;  // per optimizer step: the loss curve
};
std::vector<TrainingRun> training_runs(const Image& image, const std::string& persona = "");  // oldest first

// ---- evaluation ------------------------------------------------------------------------
struct EvaluateOptions {
  std::string persona;       // required
  std::string run;           // a training run (adapter sha256 prefix); "" = the newest
  std::string adapter_file;  // an adapter GGUF file instead of a training run
  std::string data_file;     // a JSONL evaluation set; "" = the persona's golden set
  std::string model;         // the base GGUF, as TrainAdapterOptions
  std::vector<std::string> probes;  // prompts answered with and without the adapter
  int ctx = 512;
};
struct ProbeAnswer {
  std::string prompt, base, adapter;
};
struct AdapterEvaluation {
  size_t examples = 0;
  int64_t tokens = 0;  // assistant tokens scored
  double loss_before = 0, loss_after = 0, ppl_before = 0, ppl_after = 0;
  std::vector<ProbeAnswer> probes;
  std::string loss_svg;  // the run's training loss curve (empty series for an adapter file)
};
AdapterEvaluation evaluate_adapter(const Image& image, const EvaluateOptions& options);

// ---- activation and rollback (proposals; a human decides) -------------------------------
struct AdapterProposal {
  int64_t proposal = 0;
  std::string name;  // the adapter object it would become
};
// Proposes a training run's adapter (run "" = the newest) as the persona's adapter object
// `name` ("" = PERSONA-lora, in lower case). Throws Error when there is no such run.
AdapterProposal propose_adapter_activation(Image& image, const std::string& persona, const std::string& run = "",
                                           const std::string& name = "");

struct RollbackOptions {
  std::string name;      // the adapter object; "" = PERSONA-lora
  bool approve = false;  // the person calling approves and applies it now (needs reviewer)
  std::string reviewer, reason;
};
struct AdapterRollback {
  int64_t proposal = 0;
  std::string name;
  int64_t to_version = 0;  // the earlier version it returns to
  bool applied = false;
  int64_t version = 0;     // the new version, when applied
};
// Proposes returning the persona's adapter to its previous version (the newest earlier
// one with other weights). Throws Error when there is none.
AdapterRollback rollback_adapter(Image& image, const std::string& persona, const RollbackOptions& options = {});

}  // namespace a4ps
