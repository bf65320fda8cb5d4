// a4ps learn judge | golden | export | train | eval | activate | rollback
// The learning loop from the command line. Training stores the adapter inert (a blob and
// a learn.trained event with its lineage); only an approved and applied adapter.activate
// proposal makes a persona use it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <sstream>

#include "cli.h"
#include "governance/governance.h"
#include "graph/checkpoint.h"
#include "image/image.h"
#include "learn/learn.h"
#include "llm/model_manager.h"
#include "util/util.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string adapter_name_for(const std::string& persona, const std::string& flag) {
  return flag.empty() ? lower(persona) + "-lora" : flag;
}

// Training and evaluation need a GGUF file: --model, else the image's model choice.
fs::path base_gguf(const image::Image& img, const std::string& flag) {
  std::string m = chosen_model(img, flag);
  std::error_code ec;
  if (m.empty() || !fs::is_regular_file(m, ec))
    throw Error(m.empty() ? "no base model: pass --model PATH.gguf (or set the image's base model)"
                          : "training needs a local GGUF base model, not '" + m + "'; pass --model PATH.gguf");
  return m;
}

std::vector<learn::Example> dataset(const image::Image& img, const std::string& persona, const std::string& file) {
  if (!file.empty()) return learn::parse_jsonl(read_file(file), file);
  if (persona.empty()) throw Error("name the persona to train (--persona) or pass a dataset (--data FILE.jsonl)");
  return learn::golden_set(img, persona);
}


// A scratch copy of bytes on disk (llama.cpp loads adapters from files), removed on exit.
struct ScratchFile {
  fs::path path;
  explicit ScratchFile(const std::string& bytes)
      : path(fs::temp_directory_path() / ("a4ps-adapter-" + random_id() + ".gguf")) {
    write_file(path, bytes);
  }
  ~ScratchFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

struct Run {
  int64_t seq = 0;
  json payload;
};

// Training runs recorded in the image (learn.trained events), newest last.
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

std::string fmt(double v, int prec = 4) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

}  // namespace

void add_learn_commands(CLI::App& app, Globals& g) {
  static std::string path, model, persona, data, out, svg, name, run_id, reviewer, reason, import_file, for_model, adapter_file;
  static std::vector<std::string> threads, probes;
  static bool all = false, approve = false;
  static double min_total = 4.0, min_each = 3.0, split = -1;
  static learn::TrainOptions topt;
  static std::string targets = "attn_q,attn_v", ckdir;
  auto* ln = sub(&app, "learn", "the learning loop: judge, golden set, LoRA training, evaluation, activation");
  ln->require_subcommand(1);

  {
    auto* c = sub(ln, "judge", "ALFRED scores threads against the rubric (constrained JSON), stored in the image");
    c->add_option("image", path, "image file")->required();
    c->add_option("threads", threads, "thread ids (or --all)");
    c->add_flag("--all", all, "every finished thread not judged yet");
    c->add_option("--model", model, "judge model: GGUF path, ollama:NAME, openai:URL#MODEL or scripted:FILE");
    c->callback([&g] {
      auto img = open_guarded(path);
      std::vector<std::string> ids = threads;
      if (all)
        for (auto& t : learn::unjudged_threads(img)) ids.push_back(t);
      if (ids.empty()) throw Error(all ? "no finished, unjudged threads in " + path : "name the threads to judge, or pass --all");
      std::string spec = chosen_model(img, model);
      if (spec.empty()) throw Error("no judge model: pass --model (GGUF path, ollama:NAME, openai:URL#MODEL or scripted:FILE)");
      llm::ModelManager mm;
      auto backend = llm::open_backend(spec, mm, {"ALFRED", {}, {}});
      json arr = json::array();
      std::ostringstream o;
      for (auto& t : ids) {
        auto j = learn::judge_thread(img, *backend, t);
        arr.push_back({{"id", j.id}, {"thread", t}, {"scores", j.scores}, {"total", j.total}, {"rationale", j.rationale}});
        o << "judgement #" << j.id << " thread " << t << ": total " << fmt(j.total, 2) << "  " << j.scores.dump() << "\n  "
          << j.rationale << "\n";
      }
      emit(g, arr, o.str());
    });
  }
  {
    auto* c = sub(ln, "golden", "select golden examples from well-judged threads (or import JSONL) per persona");
    c->add_option("image", path, "image file")->required();
    c->add_option("--min-total", min_total, "lowest mean score that counts as golden (1..5)");
    c->add_option("--min-each", min_each, "lowest single score that counts as golden (1..5)");
    c->add_option("--import", import_file, "add the examples of a JSONL chat-format file instead (needs --persona)");
    c->add_option("--persona", persona, "persona the imported examples are for");
    c->callback([&g] {
      auto img = open_guarded(path);
      json j;
      std::string text;
      if (!import_file.empty()) {
        auto ex = learn::parse_jsonl(read_file(import_file), import_file);
        int n = learn::import_golden(img, persona, ex);
        j = {{"added", n}, {"duplicates", static_cast<int>(ex.size()) - n}};
        text = "imported " + std::to_string(n) + " examples for " + persona + " (" + std::to_string(ex.size() - static_cast<size_t>(n)) + " duplicates)\n";
      } else {
        auto r = learn::select_golden(img, {min_total, min_each});
        j = {{"added", r.added}, {"duplicates", r.duplicates}, {"judgements", r.judgements}};
        text = "golden: " + std::to_string(r.added) + " new examples from " + std::to_string(r.judgements) +
               " judgements passing the thresholds (" + std::to_string(r.duplicates) + " duplicates skipped)\n";
      }
      json per = json::object();
      for (auto& [p, n] : learn::golden_counts(img)) {
        per[p] = n;
        text += "  " + p + ": " + std::to_string(n) + " examples\n";
      }
      j["personas"] = per;
      emit(g, j, text);
    });
  }
  {
    auto* c = sub(ln, "export", "write a persona's golden set as JSONL in the common chat format");
    c->add_option("image", path, "image file")->required();
    c->add_option("--persona", persona, "persona")->required();
    c->add_option("-o,--out", out, "output file (default: stdout)");
    c->add_option("--for-model", for_model, "stamp each line with this GGUF's tokenizer fingerprint");
    c->callback([&g] {
      auto img = image::Image::open(path, {.read_only = true});
      auto ex = learn::golden_set(img, persona);
      if (!for_model.empty()) {
        std::string fp = learn::tokenizer_fingerprint(for_model);
        for (auto& e : ex) e.tokenizer = fp;
      }
      std::string text = learn::to_jsonl(ex);
      if (out.empty()) {
        std::cout << text;
        return;
      }
      write_file(out, text);
      emit(g, {{"path", out}, {"examples", ex.size()}, {"sha256", learn::dataset_hash(ex)}},
           "wrote " + std::to_string(ex.size()) + " examples for " + persona + " to " + out + "\n");
    });
  }
  auto train_opts = [](CLI::App* c) {
    c->add_option("--rank", topt.rank, "LoRA rank")->capture_default_str();
    c->add_option("--alpha", topt.alpha, "LoRA alpha (scale = alpha / rank)")->capture_default_str();
    c->add_option("--targets", targets, "tensor kinds: attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down")->capture_default_str();
    c->add_option("--lr", topt.lr, "learning rate (AdamW)")->capture_default_str();
    c->add_option("--epochs", topt.epochs, "passes over the training examples")->capture_default_str();
    c->add_option("--steps", topt.max_steps, "optimizer steps instead of epochs (one example per step)");
    c->add_option("--ctx", topt.n_ctx, "tokens per example (longer ones are cut)")->capture_default_str();
    c->add_option("--threads", topt.threads, "CPU threads (default: all cores)");
    c->add_option("--seed", topt.seed, "seed for initialisation and example order")->capture_default_str();
    c->add_option("--checkpoint-dir", ckdir, "where the run checkpoints (default IMAGE.learn/RUN); a re-run resumes there");
    c->add_option("--checkpoint-every", topt.checkpoint_every, "checkpoint every N steps (default: about 10 per run)");
  };
  {
    auto* c = sub(ln, "train", "train a persona's LoRA adapter on its golden set (or a JSONL file); stored inert in the image");
    c->add_option("image", path, "image file")->required();
    c->add_option("--persona", persona, "persona the adapter is for")->required();
    c->add_option("--data", data, "JSONL chat-format dataset (default: the persona's golden set)");
    c->add_option("--model", model, "base GGUF (default: the image's model)");
    c->add_option("--eval-split", split, "fraction held out for evaluation (default 0.25 with 4+ examples)");
    c->add_option("-o,--out", out, "also write the adapter GGUF here");
    c->add_option("--svg", svg, "write the loss curve here");
    train_opts(c);
    c->callback([&g] {
      auto img = open_guarded(path);
      const fs::path base = base_gguf(img, model);
      auto all_ex = dataset(img, persona, data);
      // Held-out examples: a seeded choice, so a re-run (resume) holds out the same ones.
      double frac = split >= 0 ? split : all_ex.size() >= 4 ? 0.25 : 0.0;
      if (frac >= 1) throw Error("--eval-split must be below 1");
      std::vector<learn::Example> train, held;
      {
        std::vector<size_t> idx(all_ex.size());
        for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
        std::mt19937_64 rng(topt.seed);
        std::shuffle(idx.begin(), idx.end(), rng);
        size_t nh = static_cast<size_t>(std::floor(frac * static_cast<double>(idx.size())));
        std::vector<bool> is_held(idx.size(), false);
        for (size_t i = 0; i < nh; ++i) is_held[idx[i]] = true;
        for (size_t i = 0; i < all_ex.size(); ++i) (is_held[i] ? held : train).push_back(all_ex[i]);
      }
      topt.targets.clear();
      std::stringstream in(targets);
      for (std::string t; std::getline(in, t, ',');)
        if (!t.empty()) topt.targets.push_back(t);
      topt.progress = !g.json;
      const int total = topt.max_steps > 0 ? topt.max_steps : std::max(1, topt.epochs) * static_cast<int>(train.size());
      if (topt.checkpoint_every == 0) topt.checkpoint_every = std::max(1, total / 10);
      bool default_dir = ckdir.empty();
      if (default_dir) {
        std::error_code ec;
        json key = {{"base", fs::absolute(base).string()}, {"size", fs::file_size(base, ec)}, {"data", learn::dataset_hash(train)},
                    {"rank", topt.rank}, {"alpha", topt.alpha}, {"targets", topt.targets}, {"lr", topt.lr}, {"steps", total},
                    {"ctx", topt.n_ctx}, {"seed", topt.seed}};
        ckdir = path + ".learn/" + lower(persona) + "-" + sha256_hex(key.dump()).substr(0, 12);
      }
      topt.checkpoint_dir = ckdir;
      auto r = learn::train_lora(base, train, topt);
      json metrics = r.lineage["metrics"];
      std::string text;
      if (!held.empty()) {
        ScratchFile f(r.adapter);
        auto before = learn::evaluate(base, "", held, topt.n_ctx), after = learn::evaluate(base, f.path, held, topt.n_ctx);
        metrics["heldout_examples"] = held.size();
        metrics["heldout_loss_before"] = before.loss;
        metrics["heldout_loss_after"] = after.loss;
        metrics["heldout_ppl_before"] = before.ppl;
        metrics["heldout_ppl_after"] = after.ppl;
        text += "held-out loss " + fmt(before.loss) + " -> " + fmt(after.loss) + " (perplexity " + fmt(before.ppl, 1) + " -> " +
                fmt(after.ppl, 1) + ", " + std::to_string(held.size()) + " held out)\n";
      }
      json lineage = r.lineage;
      lineage["metrics"] = metrics;
      json curve = json::array();
      for (float l : r.losses) curve.push_back(std::round(static_cast<double>(l) * 1e4) / 1e4);
      std::string sha;
      {
        image::Image::Tx tx(img);
        sha = img.store_blob(r.adapter);
        img.append_event("learn.trained", "human",
                         {{"sha256", sha}, {"persona", persona}, {"name", adapter_name_for(persona, "")},
                          {"size", static_cast<int64_t>(r.adapter.size())}, {"lineage", lineage}, {"curve", curve}});
        tx.commit();
      }
      if (!out.empty()) write_file(out, r.adapter);
      if (!svg.empty()) write_file(svg, learn::loss_svg({{"train loss", r.losses}}, "LoRA training loss, " + persona));
      std::error_code ec;
      fs::remove_all(ckdir, ec);  // the run is in the image now
      if (default_dir) fs::remove(fs::path(path + ".learn"), ec);  // only when empty
      json j = {{"sha256", sha}, {"persona", persona}, {"steps", r.steps}, {"resumed_from", r.resumed_from},
                {"tokens_per_s", r.tokens_per_s}, {"lineage", lineage}};
      text = "trained " + adapter_name_for(persona, "") + " for " + persona + ": " + std::to_string(r.steps) + " steps" +
             (r.resumed_from ? " (resumed from step " + std::to_string(r.resumed_from) + ")" : "") + ", train loss " +
             fmt(metrics.value("train_loss_first", 0.0)) + " -> " + fmt(metrics.value("train_loss_last", 0.0)) + ", " +
             fmt(r.tokens_per_s, 0) + " tokens/s\n" + text + "adapter " + short_hash(sha) +
             " stored inert; propose it with: a4ps learn activate " + path + " --persona " + persona + "\n";
      emit(g, j, text);
    });
  }
  {
    auto* c = sub(ln, "runs", "training runs recorded in the image");
    c->add_option("image", path, "image file")->required();
    c->add_option("--persona", persona, "only this persona's");
    c->callback([&g] {
      auto img = image::Image::open(path, {.read_only = true});
      json arr = json::array();
      std::string text;
      for (auto& r : runs(img, persona)) {
        json m = r.payload["lineage"].value("metrics", json::object());
        arr.push_back({{"seq", r.seq}, {"sha256", r.payload["sha256"]}, {"persona", r.payload["persona"]}, {"lineage", r.payload["lineage"]}});
        text += short_hash(r.payload.value("sha256", "")) + "  " + r.payload.value("persona", "") + "  loss " +
                fmt(m.value("train_loss_first", 0.0)) + " -> " + fmt(m.value("train_loss_last", 0.0)) + "\n";
      }
      emit(g, arr, text.empty() ? "no training runs\n" : text);
    });
  }
  {
    auto* c = sub(ln, "eval", "held-out loss/perplexity before vs after an adapter, probe prompts, loss curve SVG");
    c->add_option("image", path, "image file")->required();
    c->add_option("--persona", persona, "persona")->required();
    c->add_option("--run", run_id, "training run (adapter sha256 prefix; default: the latest)");
    c->add_option("--adapter", adapter_file, "an adapter GGUF file instead of a training run");
    c->add_option("--data", data, "JSONL evaluation set (default: the persona's golden set)");
    c->add_option("--model", model, "base GGUF (default: the image's model)");
    c->add_option("--probe", probes, "a prompt to answer with and without the adapter (repeatable)");
    c->add_option("--svg", svg, "write the run's loss curve here");
    c->add_option("--ctx", topt.n_ctx, "tokens per example");
    c->callback([&g] {
      auto img = image::Image::open(path, {.read_only = true});
      const fs::path base = base_gguf(img, model);
      std::string bytes;
      json curve = json::array();
      if (!adapter_file.empty()) bytes = read_file(adapter_file);
      else {
        Run r = pick_run(img, persona, run_id);
        bytes = img.blob(r.payload.value("sha256", ""));
        curve = r.payload.value("curve", json::array());
      }
      ScratchFile f(bytes);
      auto ex = dataset(img, persona, data);
      auto before = learn::evaluate(base, "", ex, topt.n_ctx), after = learn::evaluate(base, f.path, ex, topt.n_ctx);
      json j = {{"examples", ex.size()}, {"tokens", after.tokens}, {"loss_before", before.loss}, {"loss_after", after.loss},
                {"ppl_before", before.ppl}, {"ppl_after", after.ppl}, {"probes", json::array()}};
      std::string text = "loss " + fmt(before.loss) + " -> " + fmt(after.loss) + ", perplexity " + fmt(before.ppl, 1) + " -> " +
                         fmt(after.ppl, 1) + " (" + std::to_string(ex.size()) + " examples, " + std::to_string(after.tokens) +
                         " assistant tokens)\n";
      if (!probes.empty()) {
        llm::ModelManager mm;
        llm::Persona p0{persona, base, {}}, p1{persona + "+adapter", base, {{f.path, 1.0f}}};
        for (auto& q : probes) {
          llm::ChatRequest req;
          req.messages = {{"user", q}};
          req.max_tokens = 32;
          std::string a = mm.chat(p0, req).text, b = mm.chat(p1, req).text;
          j["probes"].push_back({{"prompt", q}, {"base", a}, {"adapter", b}});
          text += "probe: " + q + "\n  base:    " + a + "\n  adapter: " + b + "\n";
        }
      }
      if (!svg.empty()) {
        std::vector<float> c;
        for (auto& x : curve) c.push_back(x.get<float>());
        write_file(svg, learn::loss_svg({{"train loss", c}}, "LoRA training loss, " + persona));
        j["svg"] = svg;
      }
      emit(g, j, text);
    });
  }
  {
    auto* c = sub(ln, "activate", "propose a trained adapter for a persona (adapter.activate); a human approves it");
    c->add_option("image", path, "image file")->required();
    c->add_option("--persona", persona, "persona")->required();
    c->add_option("--run", run_id, "training run (adapter sha256 prefix; default: the latest)");
    c->add_option("--name", name, "adapter object name (default: PERSONA-lora)");
    c->callback([&g] {
      auto img = open_guarded(path);
      Run r = pick_run(img, persona, run_id);
      const json& lin = r.payload["lineage"];
      json metrics = lin.value("metrics", json::object());
      metrics["lineage"] = lin;
      int64_t id = governance::propose_adapter(img, adapter_name_for(persona, name), img.blob(r.payload.value("sha256", "")),
                                               lin.value("base_sha256", ""), persona, metrics);
      emit(g, {{"proposal", id}, {"name", adapter_name_for(persona, name)}},
           "proposed adapter " + adapter_name_for(persona, name) + " for " + persona + " as #" + std::to_string(id) +
               ": a human approves it with `a4ps approvals approve " + path + " " + std::to_string(id) +
               " --reviewer NAME --reason ...` and applies it with `a4ps approvals apply " + path + " " + std::to_string(id) + "`\n");
    });
  }
  {
    auto* c = sub(ln, "rollback", "propose going back to a persona's previous adapter version (one command with --approve)");
    c->add_option("image", path, "image file")->required();
    c->add_option("--persona", persona, "persona")->required();
    c->add_option("--name", name, "adapter object name (default: PERSONA-lora)");
    c->add_flag("--approve", approve, "the human running this approves and applies it now (needs --reviewer)");
    c->add_option("--reviewer", reviewer, "who approves");
    c->add_option("--reason", reason, "why");
    c->callback([&g] {
      if (approve && reviewer.empty()) throw Error("--approve needs --reviewer NAME: a person must own the decision");
      auto img = open_guarded(path);
      const std::string nm = adapter_name_for(persona, name);
      auto hist = img.history(image::Kind::Adapter, nm);  // oldest first
      if (hist.empty()) throw Error("persona " + persona + " has no adapter '" + nm + "'; nothing to roll back");
      const image::Object& cur = hist.back();
      const image::Object* prev = nullptr;
      for (auto it = hist.rbegin() + 1; it != hist.rend(); ++it)
        if (!it->removed && it->blob_sha256 != cur.blob_sha256) {
          prev = &*it;
          break;
        }
      if (!prev) throw Error("adapter '" + nm + "' has no earlier version to roll back to");
      json metrics = prev->meta.value("metrics", json::object());
      metrics["rollback_from_version"] = cur.version;
      metrics["rollback_to_version"] = prev->version;
      int64_t id = governance::propose_adapter(img, nm, img.blob(prev->blob_sha256), prev->meta.value("base_sha256", ""),
                                               prev->meta.value("persona", persona), metrics);
      json j = {{"proposal", id}, {"name", nm}, {"to_version", prev->version}};
      std::string text = "proposed rolling " + nm + " back to version " + std::to_string(prev->version) + " as #" + std::to_string(id);
      if (approve) {
        img.decide(id, true, reviewer, reason.empty() ? "rollback" : reason);
        int64_t v = governance::apply(img, id);
        j["applied"] = true;
        j["version"] = v;
        text += "; approved by " + reviewer + " and applied as version " + std::to_string(v) + "\n";
      } else {
        text += ": approve and apply it with `a4ps approvals approve " + path + " " + std::to_string(id) +
                " --reviewer NAME --reason ...` and `a4ps approvals apply " + path + " " + std::to_string(id) + "`\n";
      }
      emit(g, j, text);
    });
  }
}

}  // namespace a4ps::cli
