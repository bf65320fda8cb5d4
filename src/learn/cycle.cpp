// The learning cycle's steps that span the image (see cycle.h).
#include "learn/cycle.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <random>

#include "governance/governance.h"
#include "image/image.h"
#include "llm/llm.h"
#include "llm/model_manager.h"
#include "util/util.h"

namespace a4ps::learn {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A scratch copy of bytes on disk (llama.cpp loads adapters from files), removed on exit.
struct ScratchFile {
  fs::path path;
  explicit ScratchFile(const std::string& bytes) : path(fs::temp_directory_path() / ("a4ps-adapter-" + random_id() + ".gguf")) {
    write_file(path, bytes);
  }
  ~ScratchFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
};

}  // namespace

std::string adapter_name(const std::string& persona, const std::string& name) {
  return name.empty() ? lower(persona) + "-lora" : name;
}

fs::path local_base(const std::string& m) {
  std::error_code ec;
  if (m.empty() || !fs::is_regular_file(m, ec))
    throw Error(m.empty() ? "no base model: pass --model PATH.gguf (or set the image's base model)"
                          : "training needs a local GGUF base model, not '" + m + "'; pass --model PATH.gguf");
  return m;
}

std::vector<Example> dataset(const image::Image& img, const std::string& persona, const std::string& file) {
  if (!file.empty()) return parse_jsonl(read_file(file), file);
  if (persona.empty()) throw Error("name the persona to train (--persona) or pass a dataset (--data FILE.jsonl)");
  return golden_set(img, persona);
}

void split_heldout(const std::vector<Example>& all, double frac, uint64_t seed, std::vector<Example>& train,
                   std::vector<Example>& held) {
  if (frac < 0) frac = all.size() >= 4 ? 0.25 : 0.0;
  if (frac >= 1) throw Error("--eval-split must be below 1");
  std::vector<size_t> idx(all.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::mt19937_64 rng(seed);
  std::shuffle(idx.begin(), idx.end(), rng);
  size_t nh = static_cast<size_t>(std::floor(frac * static_cast<double>(idx.size())));
  std::vector<bool> is_held(idx.size(), false);
  for (size_t i = 0; i < nh; ++i) is_held[idx[i]] = true;
  for (size_t i = 0; i < all.size(); ++i) (is_held[i] ? held : train).push_back(all[i]);
}

CycleResult train_and_store(image::Image& img, const fs::path& base, const std::vector<Example>& data, const CycleOptions& o) {
  CycleResult out;
  std::vector<Example> train, held;
  split_heldout(data, o.eval_split, o.train.seed, train, held);
  TrainOptions topt = o.train;
  const int total = train_steps(topt, static_cast<int>(train.size()));
  if (topt.checkpoint_every == 0) topt.checkpoint_every = std::max(1, total / 10);
  const bool default_dir = topt.checkpoint_dir.empty();
  const std::string image_path = img.path().string();
  if (default_dir) {
    // Same base, data and settings, same folder: a re-run resumes there.
    std::error_code ec;
    json key = {{"base", fs::absolute(base).string()}, {"size", fs::file_size(base, ec)}, {"data", dataset_hash(train)},
                {"rank", topt.rank}, {"alpha", topt.alpha}, {"targets", topt.targets}, {"lr", topt.lr}, {"steps", total},
                {"ctx", topt.n_ctx}, {"seed", topt.seed}};
    key["batch"] = {topt.batch_size, topt.grad_accum, topt.schedule, topt.warmup_steps, topt.min_lr_ratio, topt.weight_decay};
    topt.checkpoint_dir = image_path + ".learn/" + lower(o.persona) + "-" + sha256_hex(key.dump()).substr(0, 12);
  }
  out.run = train_lora(base, train, topt);
  json metrics = out.run.lineage["metrics"];
  out.heldout = held.size();
  if (!held.empty()) {
    out.before = evaluate(base, "", held, topt.n_ctx);
    out.after = evaluate_bytes(base, out.run.adapter, held, topt.n_ctx);
    metrics["heldout_examples"] = held.size();
    metrics["heldout_loss_before"] = out.before.loss;
    metrics["heldout_loss_after"] = out.after.loss;
    metrics["heldout_ppl_before"] = out.before.ppl;
    metrics["heldout_ppl_after"] = out.after.ppl;
  }
  out.lineage = out.run.lineage;
  out.lineage["metrics"] = metrics;
  json curve = json::array();
  for (float l : out.run.losses) curve.push_back(std::round(static_cast<double>(l) * 1e4) / 1e4);
  {
    image::Image::Tx tx(img);  // the blob and its event, or neither
    out.sha256 = img.store_blob(out.run.adapter);
    img.append_event("learn.trained", "human",
                     {{"sha256", out.sha256}, {"persona", o.persona}, {"name", adapter_name(o.persona)},
                      {"size", static_cast<int64_t>(out.run.adapter.size())}, {"lineage", out.lineage}, {"curve", curve}});
    tx.commit();
  }
  std::error_code ec;
  fs::remove_all(topt.checkpoint_dir, ec);  // the run is in the image now
  if (default_dir) fs::remove(fs::path(image_path + ".learn"), ec);  // only when empty
  return out;
}

std::vector<Run> runs(const image::Image& img, const std::string& persona) {
  std::vector<Run> out;
  for (auto& e : img.events())
    if (e.kind == "learn.trained") {
      json p = json::parse(e.payload);
      if (persona.empty() || p.value("persona", "") == persona) out.push_back({e.seq, p});
    }
  return out;
}

Run pick_run(const image::Image& img, const std::string& persona, const std::string& which) {
  auto rs = runs(img, persona);
  for (auto it = rs.rbegin(); it != rs.rend(); ++it)
    if (which.empty() || it->payload.value("sha256", "").rfind(which, 0) == 0) return *it;
  throw Error(which.empty() ? "no trained adapter for " + persona + " in the image; run a4ps learn train first"
                            : "no training run " + which + " for " + persona + "; list them with a4ps learn runs");
}

AdapterEval evaluate_adapter(const fs::path& base, const std::string& bytes, const std::vector<Example>& data, int n_ctx,
                             const std::string& persona, const std::vector<std::string>& probes) {
  AdapterEval out;
  out.before = evaluate(base, "", data, n_ctx);
  out.after = evaluate_bytes(base, bytes, data, n_ctx);
  out.probes = answer_probes(base, "", bytes, persona, probes);
  return out;
}

std::vector<Probe> answer_probes(const fs::path& base, const std::string& a, const std::string& b, const std::string& persona,
                                 const std::vector<std::string>& probes, int max_tokens, const std::string& system,
                                 llm::ModelManager* manager, int64_t* tokens) {
  std::vector<Probe> out;
  if (probes.empty()) return out;
  std::optional<llm::ModelManager> own;
  llm::ModelManager& mm = manager ? *manager : own.emplace();
  // A shared manager keeps the adapters it loaded by path: give it the adapter cache's
  // file for the bytes (as sessions do), not a scratch name it would hold on to each time.
  std::optional<ScratchFile> fa, fb;
  auto file_for = [&](const std::string& bytes, std::optional<ScratchFile>& scratch) -> fs::path {
    if (!manager) return scratch.emplace(bytes).path;
    return llm::adapter_file(sha256_hex(bytes), [&] { return bytes; });
  };
  // Named apart so a shared manager keeps each with its own adapter.
  auto persona_with = [&](const std::string& bytes, std::optional<ScratchFile>& scratch, const std::string& tag) {
    llm::Persona p{persona + "+" + tag, base, {}};
    if (!bytes.empty()) p.adapters.push_back({file_for(bytes, scratch), 1.0f});
    return p;
  };
  llm::Persona pa = persona_with(a, fa, "probe-a"), pb = persona_with(b, fb, "probe-b");
  for (auto& q : probes) {
    llm::ChatRequest req;
    if (!system.empty()) req.messages.push_back({"system", system});
    req.messages.push_back({"user", q});
    req.max_tokens = max_tokens;
    auto ra = mm.chat(pa, req), rb = mm.chat(pb, req);
    if (tokens) *tokens += ra.completion_tokens + rb.completion_tokens;
    out.push_back({q, ra.text, rb.text});
  }
  return out;
}

EvalResult evaluate_bytes(const fs::path& base, const std::string& bytes, const std::vector<Example>& data, int n_ctx) {
  ScratchFile f(bytes);
  return evaluate(base, f.path, data, n_ctx);
}

int64_t propose_activation(image::Image& img, const std::string& persona, const std::string& run, const std::string& name,
                           const json& evidence) {
  Run r = pick_run(img, persona, run);
  const json& lin = r.payload["lineage"];
  json metrics = lin.value("metrics", json::object());
  metrics["lineage"] = lin;
  if (evidence.is_object()) metrics.update(evidence);
  return governance::propose_adapter(img, adapter_name(persona, name), img.blob(r.payload.value("sha256", "")),
                                     lin.value("base_sha256", ""), persona, metrics);
}

Rollback rollback_adapter(image::Image& img, const std::string& persona, const std::string& name, const std::string& reviewer,
                          const std::string& reason) {
  Rollback out;
  out.name = adapter_name(persona, name);
  auto hist = img.history(image::Kind::Adapter, out.name);  // oldest first
  if (hist.empty()) throw Error("persona " + persona + " has no adapter '" + out.name + "'; nothing to roll back");
  const image::Object& cur = hist.back();
  const image::Object* prev = nullptr;
  for (auto it = hist.rbegin() + 1; it != hist.rend(); ++it)
    if (!it->removed && it->blob_sha256 != cur.blob_sha256) {
      prev = &*it;
      break;
    }
  if (!prev) throw Error("adapter '" + out.name + "' has no earlier version to roll back to");
  json metrics = prev->meta.value("metrics", json::object());
  metrics["rollback_from_version"] = cur.version;
  metrics["rollback_to_version"] = prev->version;
  out.to_version = prev->version;
  out.proposal = governance::propose_adapter(img, out.name, img.blob(prev->blob_sha256), prev->meta.value("base_sha256", ""),
                                             prev->meta.value("persona", persona), metrics);
  if (!reviewer.empty()) {
    img.decide(out.proposal, true, reviewer, reason.empty() ? "rollback" : reason);
    out.version = governance::apply(img, out.proposal);
    out.applied = true;
  }
  return out;
}

}  // namespace a4ps::learn
