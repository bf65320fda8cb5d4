// The public Session: the agent graph over an image, with the rules a conversation
// follows (which thread may take a task, when an approval is applied, which model runs).
#include <filesystem>
#include <mutex>

#include "api/internal.h"
#include "governance/governance.h"
#include "learn/cycle.h"
#include "llm/llm.h"
#include "llm/model_manager.h"
#include "persona/agent.h"
#include "persona/persona.h"
#include "persona/turn.h"
#include "util/util.h"

namespace a4ps {

using json = nlohmann::json;
namespace fs = std::filesystem;

const char* run_status_name(RunStatus s) {
  return graph::thread_status_name(s == RunStatus::Done ? graph::ThreadStatus::Done : graph::ThreadStatus::Interrupted);
}

// The public Turn and the agent's own, both ways: the only place they meet.
Turn public_turn(const persona::Turn& t) {
  Turn u;
  u.persona = t.persona;
  u.kind = t.kind;
  u.content = t.content;
  u.task = t.task;
  u.adapter = t.adapter.value_or("");
  if (t.kind == "route" || t.route) {
    u.next = t.route ? t.route->next : "?";
    u.brief = t.route ? t.route->brief : "";
  }
  if (t.kind == "critique" || t.critique) {
    u.verdict = t.critique ? persona::verdict_name(t.critique->verdict) : "?";
    u.reasons = t.critique ? t.critique->reasons : "";
  }
  if (auto& r = t.result) {
    u.ran_code = true;
    u.code_ok = r->ok;
    u.code_stdout = r->stdout_text;
    u.code_value = r->value;
    u.code_error_type = r->error_type;
    u.code_error = r->error;
  }
  if (auto& f = t.forged) {
    u.forged = true;
    u.forged_ok = f->ok;
    u.forged_tool = f->name;
    u.forged_attempts = f->attempts;
    u.forged_proposal = f->proposal.value_or(0);
  }
  if (t.hits) u.memory_hits = static_cast<int>(t.hits->size());
  u.tokens = t.tokens.value_or(0);
  return u;
}

namespace {
// Back again, for the renderer: what the public Turn keeps (passages by count only).
persona::Turn internal_turn(const Turn& u) {
  persona::Turn t{.persona = u.persona, .kind = u.kind, .content = u.content, .task = u.task};
  if (!u.adapter.empty()) t.adapter = u.adapter;
  if (u.kind == "route" && u.next != "?") t.route = persona::Route{u.next, u.brief, true};
  if (u.kind == "critique" && u.verdict != "?")
    t.critique = persona::Critique{persona::parse_verdict(u.verdict).value_or(persona::Verdict::Accept), u.reasons};
  if (u.ran_code) t.result = persona::CodeResult{u.code_ok, u.code_stdout, u.code_value, u.code_error_type, u.code_error};
  if (u.forged)
    t.forged = persona::Forged{u.forged_tool, u.forged_ok, u.forged_attempts,
                               u.forged_proposal ? std::optional<int64_t>(u.forged_proposal) : std::nullopt};
  if (u.memory_hits >= 0) t.hits = std::vector<persona::Hit>(static_cast<size_t>(u.memory_hits));
  return t;
}
}  // namespace

Turn turn_from_json(const json& t) { return public_turn(persona::turn_from_json(t)); }

std::string render_turn(const Turn& t) {
  return persona::render_turn(internal_turn(t), {.format = persona::TurnFormat::Summary});
}

struct ModelCache::Impl {
  explicit Impl(const llm::ManagerOptions& o) : mm(o) {}
  llm::ModelManager mm;
};

llm::ModelManager& manager_of(const ModelCache& cache) { return cache.impl().mm; }

namespace {

Answer answer_of(const Session::Impl& s, const std::string& thread, const graph::RunResult& r) {
  Answer a;
  a.thread = thread;
  a.status = r.done() ? RunStatus::Done : RunStatus::WaitingForHuman;
  int task = static_cast<int>(r.state.value("history", json::array()).size()) - (r.done() ? 1 : 0);
  json turns = json::array();
  for (auto& t : r.state.value("transcript", json::array()))
    if (t.value("task", 0) == task) turns.push_back(t), a.turns.push_back(turn_from_json(t));
  if (r.done() && r.state.value("answer", json()).is_string()) a.text = r.state["answer"];
  for (auto& i : r.interrupts) {
    auto p = i.value("payload", json::object());
    if (!p.is_object() || !p.contains("proposal")) continue;
    a.waiting.push_back({p["proposal"].get<int64_t>(), p.value("kind", ""), p.value("target", ""), p.value("summary", "")});
  }
  a.json = json{{"image", s.image->path()}, {"thread", thread}, {"status", r.status}, {"model", s.model},
                {"answer", r.done() ? r.state.value("answer", json()) : json()},
                {"interrupts", r.interrupts}, {"transcript", persona::without_prompts(turns)}}
               .dump(2);
  return a;
}

// A GGUF's sha256, remembered per path, size and time of change: trials open a session
// per goal on the same base, and hashing a real model takes seconds.
std::string model_sha256(const image::Image& img, const std::string& model) {
  if (persona::is_base_model(img, model)) return img.meta("base_model_sha256");
  std::error_code ec;
  static std::mutex mu;
  static std::map<std::string, std::pair<std::string, std::string>> known;  // path -> (size and mtime, sha256)
  const std::string path = fs::absolute(model, ec).string();
  const std::string stamp = std::to_string(fs::file_size(model, ec)) + "@" +
                            std::to_string(fs::last_write_time(model, ec).time_since_epoch().count());
  {
    std::lock_guard<std::mutex> l(mu);
    if (auto it = known.find(path); it != known.end() && it->second.first == stamp) return it->second.second;
  }
  std::string sha = sha256_file(model);
  std::lock_guard<std::mutex> l(mu);
  known[path] = {stamp, sha};
  return sha;
}

// SessionOptions::adapters checked against the image and the model each persona runs on:
// the blob must be a training run's or an adapter version's, trained on that very GGUF.
std::map<std::string, persona::AdapterOverride> adapter_overrides(const image::Image& img,
                                                                  const std::map<std::string, std::string>& want,
                                                                  const std::string& session_model) {
  std::map<std::string, persona::AdapterOverride> out;
  if (want.empty()) return out;
  std::vector<learn::Run> runs;
  bool runs_read = false;
  for (auto& [name, sha] : want) {
    auto spec = persona::find(img, name);
    if (!spec) throw Error("an adapter override names persona '" + name + "', which the image does not hold; see `a4ps persona ls`");
    if (sha == "none") {
      out[spec->name] = {};
      continue;
    }
    // A sha256 or a prefix of one (as `a4ps learn runs` prints them), naming one blob.
    if (sha.size() < 8 || sha.size() > 64 || sha.find_first_not_of("0123456789abcdef") != std::string::npos)
      throw Error("the adapter override for " + name + " names '" + sha +
                  "'; give a training run's sha256 (at least its first 8 characters, see a4ps learn runs) or none");
    // The base it was trained for, and what its turns call it.
    std::string full, base_sha, label;
    auto found = [&](const std::string& blob, const std::string& base, const std::string& what) {
      if (!full.empty() && full != blob)
        throw Error("the adapter override for " + name + " names '" + sha + "', the start of more than one adapter; give more of it");
      if (full.empty() || label.rfind("candidate ", 0) == 0) base_sha = base, label = what;  // a version's name wins
      full = blob;
    };
    for (auto& a : img.list(image::Kind::Adapter))
      for (auto& v : img.history(image::Kind::Adapter, a.name))
        if (!v.removed && v.blob_sha256.rfind(sha, 0) == 0)
          found(v.blob_sha256, v.meta.value("base_sha256", ""), v.name + " v" + std::to_string(v.version));
    if (!runs_read) runs = learn::runs(img), runs_read = true;
    for (auto& r : runs) {
      const std::string run_sha = r.payload.value("sha256", "");
      if (run_sha.rfind(sha, 0) == 0 && run_sha != full)
        found(run_sha, r.payload.value("lineage", json::object()).value("base_sha256", ""), "candidate " + run_sha.substr(0, 12));
    }
    if (full.empty())
      throw Error("the adapter override for " + name + " names '" + sha + "', which is no training run or adapter in " +
                  img.path().string() + "; list them with a4ps learn runs");
    const std::string m = spec->model.empty() ? session_model : spec->model;
    if (std::error_code ec; !llm::is_local_spec(m) || !fs::is_regular_file(m, ec))
      throw Error("the adapter override for " + name + " needs a local GGUF model, and " + name + " runs on '" + m +
                  "'; pass --model with the GGUF the adapter was trained on");
    if (model_sha256(img, m) != base_sha)
      throw Error("the adapter override for " + name + " (" + full.substr(0, 12) + ") was trained on another base than " + m +
                  "; pass --model with the GGUF it was trained on");
    out[spec->name] = {full, label};
  }
  return out;
}

graph::RunConfig config(Session::Impl& s, const std::string& thread) {
  auto* on_turn = &s.opts.on_turn;
  return {.thread_id = thread, .step_limit = s.opts.step_limit, .on_event = [on_turn](const graph::StreamEvent& e) {
            if (*on_turn && e.type == "node_end" && e.data.is_object() && e.data.contains("transcript"))
              for (auto& t : e.data["transcript"]) (*on_turn)(turn_from_json(t));
          },
          .cancelled = s.opts.cancelled};
}

}  // namespace

Session::Session(Image& image, SessionOptions o) : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  s.image = &image;
  s.opts = std::move(o);
  image::Image& img = image.impl().img;
  s.model = persona::choose_model(img, s.opts.model);
  if (s.model.empty()) {
    if (s.opts.on_notice)
      s.opts.on_notice("no model chosen (--model, A4PS_MODEL or the image's model setting); using the default " +
                       llm::default_model().name);
    s.model = llm::ensure_default_model(s.opts.on_download).string();
  }
  bool remote = s.model.rfind("ollama:", 0) == 0 || s.model.rfind("openai:", 0) == 0 || s.model.rfind("scripted:", 0) == 0;
  if (std::error_code ec; !remote && !fs::exists(s.model, ec))
    throw Error("model " + s.model + " does not exist; pass --model with a GGUF file, ollama:NAME or openai:URL#MODEL");
  s.cp = graph::image_checkpointer(img);
  persona::AgentOptions ao{.sandbox = s.opts.sandbox, .max_rounds = s.opts.max_rounds, .max_turns = s.opts.max_turns,
                           .max_tokens = s.opts.max_tokens, .n_threads = s.opts.n_threads,
                           .manager = s.opts.models ? &s.opts.models->impl().mm : nullptr, .on_token = s.opts.on_token,
                           .kept_kernel = s.opts.kernel ? s.opts.kernel->impl().slot : nullptr,
                           .on_code_run = s.opts.on_sandbox_call, .on_answer_token = s.opts.on_answer_token,
                           .adapters = adapter_overrides(img, s.opts.adapters, s.model)};
  s.graph = std::make_unique<graph::CompiledGraph>(
      persona::agent_graph(img, ao).compile({.checkpointer = s.cp.get(), .name = persona::kAgentGraph}));
}

ModelCache::ModelCache(const ModelCacheOptions& o)
    : impl_(std::make_unique<Impl>(llm::ManagerOptions{.budget_bytes = o.budget_bytes, .n_threads = o.n_threads})) {}
ModelCache::~ModelCache() = default;
int64_t ModelCache::loads() const { return static_cast<int64_t>(impl_->mm.loads()); }
int64_t ModelCache::loaded() const { return static_cast<int64_t>(impl_->mm.loaded().size()); }
uint64_t ModelCache::budget() const { return impl_->mm.budget(); }

SandboxKernel::SandboxKernel() : impl_(std::make_unique<Impl>()) {}
SandboxKernel::~SandboxKernel() = default;
bool SandboxKernel::started() const { return *impl_->slot != nullptr; }
void SandboxKernel::close() { impl_->slot->reset(); }

Session::Session(Session&&) noexcept = default;
Session::~Session() = default;

const std::string& Session::model() const { return impl_->model; }

Answer Session::ask(const std::string& thread, const std::string& task) {
  auto& s = *impl_;
  if (thread.empty()) throw Error("a task needs a thread id");
  if (auto t = s.cp->thread(thread)) {
    if (t->meta.value("graph", "") != persona::kAgentGraph)
      throw Error("thread '" + thread + "' belongs to another graph; pick another --thread");
    if (t->is(graph::ThreadStatus::Interrupted))
      throw Error("thread '" + thread + "' waits for a human; decide, then a4ps run --resume " + thread);
  }
  return answer_of(s, thread, s.graph->invoke(persona::task_input(task, s.model), config(s, thread)));
}

Answer Session::resume(const std::string& thread) {
  auto& s = *impl_;
  auto t = s.cp->thread(thread);
  if (!t) throw Error("no thread '" + thread + "' in " + s.image->path() + "; see `a4ps thread ls`");
  if (t->meta.value("graph", "") != persona::kAgentGraph)
    throw Error("thread '" + thread + "' is not an agent conversation; use `a4ps thread resume`");
  if (t->is(graph::ThreadStatus::Done)) throw Error("thread '" + thread + "' is done; give a new task with --thread " + thread);
  auto r = t->is(graph::ThreadStatus::Interrupted) ? s.graph->resume(nullptr, config(s, thread)) : s.graph->invoke(nullptr, config(s, thread));
  return answer_of(s, thread, r);
}

bool Session::waiting(const std::string& thread) const {
  auto t = impl_->cp->thread(thread);
  return t && t->is(graph::ThreadStatus::Interrupted);
}

Decided Session::decide(int64_t id, bool approve, const std::string& reviewer, const std::string& reason, const std::string& thread) {
  auto& s = *impl_;
  image::Image& img = s.image->impl().img;
  img.decide(id, approve, reviewer, reason);
  bool awaited = false;  // by this conversation's run, which applies it itself when it resumes
  auto t = thread.empty() ? std::nullopt : s.cp->thread(thread);
  if (t && t->is(graph::ThreadStatus::Interrupted))
    for (auto& i : t->meta.value("interrupts", json::array())) {
      json p = i.is_object() ? i.value("payload", json()) : json();
      awaited = awaited || (p.is_object() && p.value("proposal", int64_t{0}) == id);
    }
  Decided d;
  if (approve && !awaited) {
    governance::apply(img, id);  // e.g. an adapter or a persona: in effect from the next turn
    d.applied_now = true;
  }
  d.can_resume = t && t->is(graph::ThreadStatus::Interrupted);
  return d;
}

std::vector<Pending> Session::pending() const {
  std::vector<Pending> out;
  for (auto& p : impl_->image->impl().img.proposals(image::proposal_status_name(image::ProposalStatus::Pending)))
    out.push_back({p.id, p.kind, p.target, governance::describe(p)});
  return out;
}

}  // namespace a4ps
