// The public learning API: judging, the golden set, training, evaluation and the
// proposals that activate or roll back an adapter, over src/learn (cycle.h holds the
// steps that span the image).
#include "a4ps/learn.h"

#include "api/internal.h"
#include "learn/cycle.h"
#include "learn/learn.h"
#include "llm/model_manager.h"
#include "persona/agent.h"
#include "util/util.h"

namespace a4ps {
namespace {

using json = nlohmann::json;

Judgement judgement_of(const learn::Judgement& j) {
  auto score = [&](const char* k) { return j.scores.value(k, 0); };
  return {score("task_success"), score("correctness"), score("grace"), score("justice"), score("codex_adherence"), j.rationale};
}

}  // namespace

Judgement judge(Image& image, const std::string& thread, const JudgeOptions& o) {
  image::Image& img = writable(image);
  std::string spec = persona::choose_model(img, o.model);
  if (spec.empty()) throw Error("no judge model: set JudgeOptions::model (GGUF path, ollama:NAME, openai:URL#MODEL or scripted:FILE)");
  llm::ModelManager mm;
  auto backend = llm::open_backend(spec, mm, {"ALFRED", {}, {}});
  return judgement_of(learn::judge_thread(img, *backend, thread));
}

std::vector<StoredJudgement> judge_threads(Image& image, const std::vector<std::string>& threads, const JudgeThreadsOptions& o) {
  image::Image& img = writable(image);
  std::vector<std::string> ids = threads;
  if (o.all)
    for (auto& t : learn::unjudged_threads(img)) ids.push_back(t);
  if (ids.empty()) throw Error(o.all ? "no finished, unjudged threads in " + image.path() : "name the threads to judge, or pass --all");
  std::string spec = persona::choose_model(img, o.model);
  if (spec.empty()) throw Error("no judge model: pass --model (GGUF path, ollama:NAME, openai:URL#MODEL or scripted:FILE)");
  llm::ModelManager mm;
  auto backend = llm::open_backend(spec, mm, {"ALFRED", {}, {}});
  std::vector<StoredJudgement> out;
  for (auto& t : ids) {
    auto j = learn::judge_thread(img, *backend, t);
    out.push_back({j.id, t, judgement_of(j), j.total, j.scores.dump()});
  }
  return out;
}

GoldenSelection select_golden(Image& image, const GoldenOptions& o) {
  auto r = learn::select_golden(writable(image), {o.min_total, o.min_each});
  return {r.added, r.duplicates, r.judgements};
}

GoldenImport import_golden(Image& image, const std::string& persona, const std::string& jsonl_path) {
  image::Image& img = writable(image);
  auto ex = learn::parse_jsonl(read_file(jsonl_path), jsonl_path);
  int n = learn::import_golden(img, persona, ex);
  return {n, static_cast<int>(ex.size()) - n};
}

std::vector<GoldenCount> golden_counts(const Image& image) {
  std::vector<GoldenCount> out;
  for (auto& [p, n] : learn::golden_counts(image.impl().img)) out.push_back({p, n});
  return out;
}

GoldenExport export_golden(const Image& image, const std::string& persona, const std::string& for_model) {
  auto ex = learn::golden_set(image.impl().img, persona);
  if (!for_model.empty()) {
    std::string fp = learn::tokenizer_fingerprint(for_model);
    for (auto& e : ex) e.tokenizer = fp;
  }
  return {learn::to_jsonl(ex), ex.size(), learn::dataset_hash(ex)};
}

TrainedAdapter train_adapter(Image& image, const TrainAdapterOptions& o) {
  if (o.persona.empty()) throw Error("name the persona the adapter is for (--persona)");
  image::Image& img = writable(image);
  const learn::fs::path base = learn::local_base(persona::choose_model(img, o.model));
  auto data = learn::dataset(img, o.persona, o.data_file);
  learn::CycleOptions co{.persona = o.persona, .eval_split = o.eval_split};
  co.train = {.rank = o.rank, .alpha = o.alpha, .targets = o.targets, .lr = o.lr, .epochs = o.epochs, .max_steps = o.steps,
              .batch_size = o.batch, .grad_accum = o.grad_accum, .schedule = o.lr_schedule, .warmup_steps = o.warmup,
              .min_lr_ratio = o.min_lr_ratio, .weight_decay = o.weight_decay, .n_ctx = o.ctx, .threads = o.threads, .seed = o.seed, .checkpoint_dir = o.checkpoint_dir,
              .checkpoint_every = o.checkpoint_every, .progress = o.progress_bar, .on_step = o.on_step};
  auto c = learn::train_and_store(img, base, data, co);
  const json& m = c.lineage["metrics"];
  TrainedAdapter out{.sha256 = c.sha256, .persona = o.persona, .name = learn::adapter_name(o.persona),
                     .steps = c.run.steps, .resumed_from = c.run.resumed_from, .tokens_per_s = c.run.tokens_per_s,
                     .train_loss_first = m.value("train_loss_first", 0.0), .train_loss_last = m.value("train_loss_last", 0.0),
                     .heldout_examples = static_cast<int>(c.heldout)};
  if (c.heldout) {
    out.heldout_loss_before = c.before.loss;
    out.heldout_loss_after = c.after.loss;
    out.heldout_ppl_before = c.before.ppl;
    out.heldout_ppl_after = c.after.ppl;
  }
  out.losses = c.run.losses;
  out.lineage_json = c.lineage.dump();
  out.loss_svg = learn::loss_svg({{"train loss", c.run.losses}}, "LoRA training loss, " + o.persona);
  out.adapter = std::move(c.run.adapter);
  return out;
}

std::vector<TrainingRun> training_runs(const Image& image, const std::string& persona) {
  std::vector<TrainingRun> out;
  for (auto& r : learn::runs(image.impl().img, persona)) {
    json lin = r.payload.value("lineage", json::object());
    json m = lin.value("metrics", json::object());
    out.push_back({r.seq, r.payload.value("sha256", ""), r.payload.value("persona", ""), m.value("train_loss_first", 0.0),
                   m.value("train_loss_last", 0.0), lin.dump(), {}});
    for (auto& x : r.payload.value("curve", json::array()))
      if (x.is_number()) out.back().losses.push_back(x.get<float>());
  }
  return out;
}

AdapterEvaluation evaluate_adapter(const Image& image, const EvaluateOptions& o) {
  if (o.persona.empty()) throw Error("name the persona whose adapter to evaluate (--persona)");
  const image::Image& img = image.impl().img;
  const learn::fs::path base = learn::local_base(persona::choose_model(img, o.model));
  std::string bytes;
  std::vector<float> curve;
  if (!o.adapter_file.empty()) {
    bytes = read_file(o.adapter_file);
  } else {
    learn::Run r = learn::pick_run(img, o.persona, o.run);
    bytes = img.blob(r.payload.value("sha256", ""));
    for (auto& x : r.payload.value("curve", json::array())) curve.push_back(x.get<float>());
  }
  auto ex = learn::dataset(img, o.persona, o.data_file);
  auto e = learn::evaluate_adapter(base, bytes, ex, o.ctx, o.persona, o.probes);
  AdapterEvaluation out{.examples = ex.size(), .tokens = e.after.tokens, .loss_before = e.before.loss,
                        .loss_after = e.after.loss, .ppl_before = e.before.ppl, .ppl_after = e.after.ppl};
  for (auto& p : e.probes) out.probes.push_back({p.prompt, p.base, p.adapter});
  out.loss_svg = learn::loss_svg({{"train loss", curve}}, "LoRA training loss, " + o.persona);
  return out;
}

AdapterProposal propose_adapter_activation(Image& image, const std::string& persona, const std::string& run,
                                           const std::string& name) {
  if (persona.empty()) throw Error("name the persona the adapter is for (--persona)");
  return {learn::propose_activation(writable(image), persona, run, name), learn::adapter_name(persona, name)};
}

AdapterRollback rollback_adapter(Image& image, const std::string& persona, const RollbackOptions& o) {
  if (o.approve && o.reviewer.empty()) throw Error("--approve needs --reviewer NAME: a person must own the decision");
  if (persona.empty()) throw Error("name the persona whose adapter to roll back (--persona)");
  auto r = learn::rollback_adapter(writable(image), persona, o.name, o.approve ? o.reviewer : "", o.reason);
  return {r.proposal, r.name, r.to_version, r.applied, r.version};
}

}  // namespace a4ps
