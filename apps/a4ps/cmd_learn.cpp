// a4ps learn judge | golden | export | train | eval | activate | rollback
// The learning loop from the command line. Training stores the adapter inert (a blob and
// a learn.trained event with its lineage); only an approved and applied adapter.activate
// proposal makes a persona use it.
#include <cstdio>
#include <sstream>

#include "a4ps/learn.h"
#include "a4ps/text.h"
#include "cli.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

std::string fmt(double v, int prec = 4) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

Image open_existing(const std::string& path, bool read_only) {
  return Image::open(path, {.create_if_missing = false, .read_only = read_only});
}

}  // namespace

void add_learn_commands(CLI::App& app, Globals& g) {
  static std::string path, model, persona, data, out, svg, name, run_id, reviewer, reason, import_file, for_model, adapter_file;
  static std::vector<std::string> threads, probes;
  static bool all = false, approve = false;
  static double min_total = 4.0, min_each = 3.0, split = -1;
  static TrainAdapterOptions topt;
  static std::string targets = "attn_q,attn_v";
  auto* ln = sub(&app, "learn", "the learning loop: judge, golden set, LoRA training, evaluation, activation");
  ln->require_subcommand(1);

  {
    auto* c = sub(ln, "judge", "ALFRED scores threads against the rubric (constrained JSON), stored in the image");
    c->add_option("image", path, "image file")->required();
    c->add_option("threads", threads, "thread ids (or --all)");
    c->add_flag("--all", all, "every finished thread not judged yet");
    c->add_option("--model", model, "judge model: GGUF path, ollama:NAME, openai:URL#MODEL or scripted:FILE");
    c->callback([&g] {
      auto img = open_existing(path, false);
      json arr = json::array();
      std::ostringstream o;
      for (auto& j : judge_threads(img, threads, {.model = model, .all = all})) {
        json scores = json::parse(j.scores_json);
        arr.push_back({{"id", j.id}, {"thread", j.thread}, {"scores", scores}, {"total", j.mean}, {"rationale", j.judgement.rationale}});
        o << "judgement #" << j.id << " thread " << j.thread << ": total " << fmt(j.mean, 2) << "  " << scores.dump() << "\n  "
          << j.judgement.rationale << "\n";
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
      auto img = open_existing(path, false);
      json j;
      std::string text;
      if (!import_file.empty()) {
        auto r = import_golden(img, persona, import_file);
        j = {{"added", r.added}, {"duplicates", r.duplicates}};
        text = "imported " + std::to_string(r.added) + " examples for " + persona + " (" + std::to_string(r.duplicates) + " duplicates)\n";
      } else {
        auto r = select_golden(img, {min_total, min_each});
        j = {{"added", r.added}, {"duplicates", r.duplicates}, {"judgements", r.judgements}};
        text = "golden: " + std::to_string(r.added) + " new examples from " + std::to_string(r.judgements) +
               " judgements passing the thresholds (" + std::to_string(r.duplicates) + " duplicates skipped)\n";
      }
      json per = json::object();
      for (auto& c : golden_counts(img)) {
        per[c.persona] = c.examples;
        text += "  " + c.persona + ": " + std::to_string(c.examples) + " examples\n";
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
      auto img = open_existing(path, true);
      auto e = export_golden(img, persona, for_model);
      if (out.empty()) {
        std::cout << e.jsonl;
        return;
      }
      write_file_bytes(out, e.jsonl);
      emit(g, {{"path", out}, {"examples", e.examples}, {"sha256", e.sha256}},
           "wrote " + std::to_string(e.examples) + " examples for " + persona + " to " + out + "\n");
    });
  }
  auto train_opts = [](CLI::App* c) {
    c->add_option("--rank", topt.rank, "LoRA rank")->capture_default_str();
    c->add_option("--alpha", topt.alpha, "LoRA alpha (scale = alpha / rank)")->capture_default_str();
    c->add_option("--targets", targets, "tensor kinds: attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down")->capture_default_str();
    c->add_option("--lr", topt.lr, "learning rate (AdamW)")->capture_default_str();
    c->add_option("--epochs", topt.epochs, "passes over the training examples")->capture_default_str();
    c->add_option("--steps", topt.steps, "optimizer steps instead of epochs");
    c->add_option("--batch", topt.batch, "examples per micro-batch (computed together)")->capture_default_str();
    c->add_option("--grad-accum", topt.grad_accum, "micro-batches per optimizer step")->capture_default_str();
    c->add_option("--lr-schedule", topt.lr_schedule, "learning rate after warm-up: cosine or constant")->capture_default_str();
    c->add_option("--warmup", topt.warmup, "warm-up steps (default 0; -1: 5% of the steps, none under 20)");
    c->add_option("--min-lr-ratio", topt.min_lr_ratio, "where the cosine ends, as a fraction of --lr")->capture_default_str();
    c->add_option("--weight-decay", topt.weight_decay, "AdamW's decoupled weight decay")->capture_default_str();
    c->add_option("--ctx", topt.ctx, "tokens per example (longer ones are cut)")->capture_default_str();
    c->add_option("--threads", topt.threads, "CPU threads (default: all cores)");
    c->add_option("--seed", topt.seed, "seed for initialisation and example order")->capture_default_str();
    c->add_option("--checkpoint-dir", topt.checkpoint_dir, "where the run checkpoints (default IMAGE.learn/RUN); a re-run resumes there");
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
      auto img = open_existing(path, false);
      topt.persona = persona;
      topt.data_file = data;
      topt.model = model;
      topt.eval_split = split;
      topt.targets.clear();
      std::stringstream in(targets);
      for (std::string t; std::getline(in, t, ',');)
        if (!t.empty()) topt.targets.push_back(t);
      topt.progress_bar = !g.json;
      auto r = train_adapter(img, topt);
      std::string held;
      if (r.heldout_examples)
        held = "held-out loss " + fmt(r.heldout_loss_before) + " -> " + fmt(r.heldout_loss_after) + " (perplexity " +
               fmt(r.heldout_ppl_before, 1) + " -> " + fmt(r.heldout_ppl_after, 1) + ", " + std::to_string(r.heldout_examples) +
               " held out)\n";
      if (!out.empty()) write_file_bytes(out, r.adapter);
      if (!svg.empty()) write_file_bytes(svg, r.loss_svg);
      json j = {{"sha256", r.sha256}, {"persona", persona}, {"steps", r.steps}, {"resumed_from", r.resumed_from},
                {"tokens_per_s", r.tokens_per_s}, {"lineage", json::parse(r.lineage_json)}};
      std::string text = "trained " + r.name + " for " + persona + ": " + std::to_string(r.steps) + " steps" +
                         (r.resumed_from ? " (resumed from step " + std::to_string(r.resumed_from) + ")" : "") + ", train loss " +
                         fmt(r.train_loss_first) + " -> " + fmt(r.train_loss_last) + ", " + fmt(r.tokens_per_s, 0) +
                         " tokens/s\n" + held + "adapter " + short_hash(r.sha256) +
                         " stored inert; propose it with: a4ps learn activate " + path + " --persona " + persona + "\n";
      emit(g, j, text);
    });
  }
  {
    auto* c = sub(ln, "runs", "training runs recorded in the image");
    c->add_option("image", path, "image file")->required();
    c->add_option("--persona", persona, "only this persona's");
    c->callback([&g] {
      auto img = open_existing(path, true);
      json arr = json::array();
      std::string text;
      for (auto& r : training_runs(img, persona)) {
        arr.push_back({{"seq", r.seq}, {"sha256", r.sha256}, {"persona", r.persona}, {"lineage", json::parse(r.lineage_json)}});
        text += short_hash(r.sha256) + "  " + r.persona + "  loss " + fmt(r.train_loss_first) + " -> " + fmt(r.train_loss_last) + "\n";
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
    c->add_option("--ctx", topt.ctx, "tokens per example");
    c->callback([&g] {
      auto img = open_existing(path, true);
      auto e = evaluate_adapter(img, {.persona = persona, .run = run_id, .adapter_file = adapter_file, .data_file = data,
                                      .model = model, .probes = probes, .ctx = topt.ctx});
      json j = {{"examples", e.examples}, {"tokens", e.tokens}, {"loss_before", e.loss_before}, {"loss_after", e.loss_after},
                {"ppl_before", e.ppl_before}, {"ppl_after", e.ppl_after}, {"probes", json::array()}};
      std::string text = "loss " + fmt(e.loss_before) + " -> " + fmt(e.loss_after) + ", perplexity " + fmt(e.ppl_before, 1) +
                         " -> " + fmt(e.ppl_after, 1) + " (" + std::to_string(e.examples) + " examples, " +
                         std::to_string(e.tokens) + " assistant tokens)\n";
      for (auto& p : e.probes) {
        j["probes"].push_back({{"prompt", p.prompt}, {"base", p.base}, {"adapter", p.adapter}});
        text += "probe: " + p.prompt + "\n  base:    " + p.base + "\n  adapter: " + p.adapter + "\n";
      }
      if (!svg.empty()) {
        write_file_bytes(svg, e.loss_svg);
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
      auto img = open_existing(path, false);
      auto a = propose_adapter_activation(img, persona, run_id, name);
      const int64_t id = a.proposal;
      const std::string& nm = a.name;
      emit(g, {{"proposal", id}, {"name", nm}},
           "proposed adapter " + nm + " for " + persona + " as #" + std::to_string(id) +
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
      auto img = open_existing(path, false);
      auto r = rollback_adapter(img, persona, {.name = name, .approve = approve, .reviewer = reviewer, .reason = reason});
      json j = {{"proposal", r.proposal}, {"name", r.name}, {"to_version", r.to_version}};
      std::string text = "proposed rolling " + r.name + " back to version " + std::to_string(r.to_version) + " as #" + std::to_string(r.proposal);
      if (r.applied) {
        j["applied"] = true;
        j["version"] = r.version;
        text += "; approved by " + reviewer + " and applied as version " + std::to_string(r.version) + "\n";
      } else {
        text += ": approve and apply it with `a4ps approvals approve " + path + " " + std::to_string(r.proposal) +
                " --reviewer NAME --reason ...` and `a4ps approvals apply " + path + " " + std::to_string(r.proposal) + "`\n";
      }
      emit(g, j, text);
    });
  }
}

}  // namespace a4ps::cli
