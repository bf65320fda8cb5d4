// The main graph: the four personas deliberating over one image.
//
//   route (ALFRED, grammar-constrained JSON: who next + a brief)
//     -> brick (CodeAct in the sandbox; a call to a missing function forges it)
//          -> approve (waits for a human) -> register -> rerun
//          -> robin (accept | revise, with reasons) -> brick ... (at most max_rounds)
//     -> babs (memory search, then a cited summary)
//     -> respond (any persona a user added)
//     -> answer (ALFRED writes the answer) -> end
//
// Every step is a checkpoint in the image; the state (typed in persona/state.h) keeps in
// its transcript each turn with the exact prompt the persona saw, so the learning loop can
// judge and train on it.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "graph/graph.h"
#include "image/image.h"
#include "sandbox/sandbox.h"

namespace a4ps::llm {
class ModelManager;
struct Adapter;
}

namespace a4ps::persona {

inline constexpr const char* kAgentGraph = "agent";

// A persona run with other adapter bytes than its own (a trial; see SessionOptions::adapters),
// checked by the caller against the model it runs on.
struct AdapterOverride {
  std::string sha256;  // the blob in the image; "" = no adapter of its own
  std::string label;   // what its turns name as their adapter
};

struct AgentOptions {
  std::string model;       // model spec for personas without their own; "" = the state's "model"
  std::string sandbox;     // provider name; "" = the strongest that works here
  sandbox::KernelFactory kernel;  // makes the kernel instead (tests: sandbox::fake_kernel_factory())
  int max_rounds = 2;      // times ROBIN may send BRICK back to revise
  int max_turns = 8;       // ALFRED's routing decisions before he must answer
  int max_tokens = 0;      // caps every turn (0: each persona's own max_tokens)
  uint32_t n_ctx = 4096;   // context of embedded models
  int n_threads = 0;       // of embedded models; 0: every core
  // Embedded models shared with other runtimes (one budget, each model loaded once); the
  // runtime makes its own manager when null. Must outlive the graph.
  llm::ModelManager* manager = nullptr;
  // Streaming: pieces of a persona's free text as it is generated (not routing JSON).
  std::function<void(const std::string& persona, std::string_view piece)> on_token;
  // A kernel kept by the caller between runtimes (e.g. one per conversation a server keeps
  // active): used and started here when empty, left running when the runtime ends. Null:
  // the runtime starts its own, which ends with it.
  std::shared_ptr<std::unique_ptr<sandbox::Kernel>> kept_kernel;
  // Each code run in the sandbox, with its wall time (for a server's latency metrics).
  std::function<void(double seconds, bool ok)> on_code_run;
  // The answer turn's pieces alone (what a client streams as the reply).
  std::function<void(std::string_view piece)> on_answer_token;
  // By persona name: adapters to run instead of the persona's own (read-only trials: with
  // any, a call to a missing function is not forged, so no proposal is filed).
  std::map<std::string, AdapterOverride> adapters;
};

// The graph for `img` (which must outlive it). Input: {"task": "...", "model": "spec"}.
graph::StateGraph agent_graph(image::Image& img, AgentOptions opts = {});

// The model spec a run uses: `flag`, else $A4PS_MODEL, else the image's "model" setting,
// else its base model; "" when none is set (the caller then pulls the pinned default).
std::string choose_model(const image::Image& img, const std::string& flag);

// A persona's adapters on `model` as files llama.cpp loads (stored once per sha256 under
// the models directory): the image-wide stack when `model` is the image's base model, then
// the persona's own (or `override`'s bytes instead, when given). `name` gets their names
// and versions ("" when none).
struct Spec;
// Whether `model` (a GGUF path, however spelled) is the image's base model.
bool is_base_model(const image::Image& img, const std::string& model);
std::vector<llm::Adapter> persona_adapters(const image::Image& img, const Spec& p, const std::string& model, std::string& name,
                                           const AdapterOverride* override = nullptr);

// The input that starts a new task on a thread (a chat's next message): it clears the
// previous task's working state and keeps the conversation.
graph::json task_input(const std::string& task, const std::string& model);

}  // namespace a4ps::persona
