// A session: the four personas deliberating over an image. Ask a task on a thread (a
// conversation; every step a checkpoint in the image), watch the turns stream, and when
// the agent stops for a human (a tool it forged, say), decide the proposal and resume —
// in this process or another, now or after a restart.
//
//   a4ps::Image img = a4ps::Image::open("agent.a4ps");
//   a4ps::Session s(img, {.model = "model.gguf"});
//   a4ps::Answer a = s.ask("t1", "What is 17 * 23?");
//   if (a.status == a4ps::RunStatus::WaitingForHuman) { s.decide(a.waiting[0].id, true, "me", "ok"); a = s.resume("t1"); }
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "a4ps/image.h"

namespace a4ps {

enum class RunStatus { Done, WaitingForHuman };
const char* run_status_name(RunStatus s);  // "done", "interrupted" (the graph's word)

// One persona's turn, as the transcript keeps it (the exact prompt is in the image).
struct Turn {
  std::string persona;  // ALFRED, BRICK, ROBIN, BABS, or a persona the image added
  std::string kind;     // route, act, critique, retrieve, respond, answer, decision, ...
  std::string content;  // what it said
  int task = 0;         // which task of the thread (0 = the first)
  std::string adapter;  // the LoRA adapter it ran with, if any
  // route: who is next and why; critique: the verdict and its reasons
  std::string next, brief, verdict, reasons;
  // act: what its code did in the sandbox
  bool ran_code = false, code_ok = false;
  std::string code_stdout, code_value, code_error_type, code_error;
  // act: a tool the forge wrote for a missing function
  bool forged = false, forged_ok = false;
  std::string forged_tool;
  int forged_attempts = 0;
  int64_t forged_proposal = 0;  // the proposal that waits for a human (0: none)
  int memory_hits = -1;         // retrieve: passages found (-1: no search in this turn)
  int tokens = 0;               // tokens the model generated for it (as the transcript counts them)
};
// The turn as one line a person reads ("BRICK: ran: 391").
std::string render_turn(const Turn& t);

// A proposal the agent waits on: a human says yes or no.
struct Pending {
  int64_t id = 0;
  std::string kind;     // tool.register, adapter.activate, persona.change, codex.amend, ...
  std::string target;   // the tool's, adapter's, persona's name
  std::string summary;  // what changes, readable (a diff where there is one)
};

struct Answer {
  std::string thread;
  RunStatus status = RunStatus::Done;
  std::string text;            // ALFRED's answer when done
  std::vector<Turn> turns;     // this task's turns
  std::vector<Pending> waiting;  // what it waits on when WaitingForHuman
  std::string json;              // all of it as JSON (what `a4ps run --json` prints)
};

struct Decided {
  bool applied_now = false;  // approved and not awaited by the thread's run: in effect from the next turn
  bool can_resume = false;   // the thread waits and can go on now
};

struct ModelCacheOptions {
  uint64_t budget_bytes = 0;  // 0: $A4PS_MEMORY_BUDGET (e.g. 8G), else 80% of the memory available now
  int n_threads = 0;          // CPU threads of embedded models (0: every core)
};

// Embedded (GGUF) models loaded once and shared by every session given it, within one
// memory budget (least recently used models are unloaded first). Sessions may run on
// several threads at once: their model calls take turns, in the order they arrive.
// Remote and scripted models hold nothing to share and ignore it.
class ModelCache {
 public:
  explicit ModelCache(const ModelCacheOptions& options = {});
  ~ModelCache();
  ModelCache(const ModelCache&) = delete;
  ModelCache& operator=(const ModelCache&) = delete;
  int64_t loads() const;   // models loaded from disk so far
  int64_t loaded() const;  // models in memory now
  uint64_t budget() const;

  struct Impl;
  Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// A sandbox kernel (one Python process) kept between sessions, e.g. one per conversation a
// server keeps active, so an action does not pay a kernel start and the globals one run's
// code set are there in the next. Empty until a session given it runs code (it starts it
// then); it keeps running when that session ends, until close() or its destruction. One
// session at a time may use it (not thread-safe).
class SandboxKernel {
 public:
  SandboxKernel();
  ~SandboxKernel();
  SandboxKernel(const SandboxKernel&) = delete;
  SandboxKernel& operator=(const SandboxKernel&) = delete;
  bool started() const;
  void close();  // stops the process; a later session starts a fresh one

  struct Impl;
  Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

struct SessionOptions {
  // A GGUF path, ollama:NAME, openai:URL#MODEL or scripted:FILE. "" = $A4PS_MODEL, the
  // image's "model" setting, its base model, else the pinned default (downloaded once).
  std::string model;
  std::string sandbox;       // gvisor or bwrap; "" = the strongest that works here
  int max_rounds = 2;        // times ROBIN may send BRICK back to revise
  int max_turns = 8;         // ALFRED's routing decisions before he must answer
  int max_tokens = 0;        // cap on every turn (0: each persona's own)
  int n_threads = 0;         // CPU threads of embedded models (0: every core)
  int step_limit = 200;      // graph steps before a run stops with an error
  std::function<void(const std::string& persona, std::string_view piece)> on_token;  // words as generated
  std::function<void(const Turn&)> on_turn;  // each turn once it is done
  std::function<void(uint64_t done, uint64_t total)> on_download;  // the default model's download
  std::function<void(const std::string& line)> on_notice;  // a line a person should see (e.g. which model)
  // Asked before each step of a run (from the thread running it); true stops the run there:
  // ask/resume throw Error, the thread keeps every step so far and resume() goes on from it.
  std::function<bool()> cancelled;
  // Models shared with other sessions (must outlive this one); null: the session loads its own.
  std::shared_ptr<ModelCache> models;
  // The kernel agent code runs in, kept by the caller between sessions (must not be used by
  // another session at the same time); null: the session starts its own, ending with it.
  std::shared_ptr<SandboxKernel> kernel;
  // Each run of agent code in the sandbox, with its wall time in seconds and whether it
  // succeeded (called from the thread running the session; nothing of it enters the transcript).
  std::function<void(double seconds, bool ok)> on_sandbox_call;
  // The words of the run's final answer as they are generated (the answering persona's
  // last turn), for a client that shows the answer live; the Answer still carries it whole.
  std::function<void(std::string_view piece)> on_answer_token;
  // A read-only trial of adapters that are not active: persona name -> the sha256 of an
  // adapter blob in the image (a training run not yet approved, or an adapter version) to
  // run that persona with instead of its own adapter, or "none" for no adapter of its own.
  // Only on a local GGUF model that is the base the adapter was trained on: the
  // constructor throws Error naming the persona otherwise (and for an unknown persona or
  // sha). Nothing of the image's personas or adapters changes (no proposal, no event; a
  // call to a missing function is not forged either); each of the persona's turns names it
  // in Turn::adapter ("candidate <sha12>", or "name vN" when an adapter version holds those
  // bytes).
  std::map<std::string, std::string> adapters;
};

// One step of a conversation (a checkpoint in the image).
struct SessionStep {
  std::string id;
  int64_t step = 0;
  std::string source;             // input, loop, update or fork
  std::vector<std::string> next;  // what runs from here (empty: the run was over)
};

class Session {
 public:
  Session(Image& image, SessionOptions options = {});  // the image must outlive it
  Session(Session&&) noexcept;
  ~Session();

  const std::string& model() const;  // the model spec chosen (after the defaults)
  // A new task on `thread` (a new thread when it does not exist yet). Throws Error when
  // the thread waits for a human, or belongs to another graph.
  Answer ask(const std::string& thread, const std::string& task);
  // Goes on with a thread that waited for a human (or was cut off).
  Answer resume(const std::string& thread);
  // Says yes or no to proposal `id`. A proposal the thread's run waits on is applied by
  // that run when it resumes; any other approved one (an adapter, a persona) is applied
  // now and used from the next turn.
  Decided decide(int64_t id, bool approve, const std::string& reviewer, const std::string& reason,
                 const std::string& thread = "");
  std::vector<Pending> pending() const;  // every proposal that waits for a human
  bool waiting(const std::string& thread) const;  // whether the thread waits for a human

  // What chat shows of a conversation:
  // its newest state as JSON, the prompts left out ("" when it has no step yet);
  std::string state_json(const std::string& thread) const;
  // its steps, newest first;
  std::vector<SessionStep> history(const std::string& thread) const;
  // a copy of it from its newest step, as thread `to`, to go on in (false: nothing to copy yet).
  bool fork(const std::string& thread, const std::string& to);

  struct Impl;
  Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace a4ps
