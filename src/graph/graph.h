// The state graph: personas and tools are nodes passing one shared JSON state.
//
// Build a StateGraph (channels with reducers, nodes, edges), compile it with a
// checkpointer, then invoke/resume runs on named threads. Every step is checkpointed;
// a run can stop for a human (interrupt), be inspected, edited, forked and resumed,
// also from another process.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "graph/checkpoint.h"
#include "util/util.h"

namespace a4ps::graph {

inline const std::string START = "__start__";
inline const std::string END = "__end__";

// How a node's update to one state key combines with the current value.
using Reducer = std::function<json(const json& current, const json& update)>;
Reducer replace();  // the update wins (the default)
Reducer append();   // arrays: concatenate; a non-array update is appended as one item
Reducer merge();    // objects: shallow merge, update's keys win
Reducer add();      // numbers: sum

class NodeContext {
 public:
  const std::string& node() const { return node_; }
  const std::string& thread() const { return thread_; }
  int64_t step() const { return step_; }
  // Stops the run for a human. When the run is resumed, the node runs again from its
  // start and this call returns the human's answer instead of stopping.
  json interrupt(const json& payload);
  // A custom stream event (progress, tokens) for whoever watches the run.
  void emit(const json& data);

 private:
  friend class CompiledGraph;
  std::string node_, thread_;
  int64_t step_ = 0;
  std::vector<json> resume_values_;
  size_t interrupts_seen_ = 0;
  std::function<void(const json&)> emit_;
};

// A node reads the state and returns its update: an object of key -> value (or null).
using NodeFn = std::function<json(const json& state, NodeContext& ctx)>;
// A conditional edge names the next node(s) (or END) from the updated state.
using RouterFn = std::function<std::vector<std::string>(const json& state)>;

struct StreamEvent {
  std::string type;  // node_start | node_end | checkpoint | interrupt | custom | done
  std::string node, checkpoint_id;
  int64_t step = 0;
  json data;         // node_end: the update; checkpoint: the state; interrupt: payloads
};

struct RunConfig {
  std::string thread_id;
  std::string checkpoint_id;  // resume or branch from here instead of the newest
  int step_limit = 100;       // steps per call; a loop that never ends hits this
  std::function<void(const StreamEvent&)> on_event;
  // Asked before each step; true stops the run there with CancelledError (the thread keeps
  // its checkpoints, is marked error and resumes from its newest step).
  std::function<bool()> cancelled;
};

struct RunResult {
  std::string status;  // thread_status_name(Done) or (Interrupted)
  bool done() const { return status == thread_status_name(ThreadStatus::Done); }
  bool interrupted() const { return status == thread_status_name(ThreadStatus::Interrupted); }
  json state;
  std::string checkpoint_id;
  json interrupts = json::array();  // [{node, payload}] when interrupted
  int64_t steps = 0;                // steps run by this call
};

struct Snapshot {
  Checkpoint checkpoint;
  json pending_interrupts = json::array();
};

// Thrown when a run exceeds RunConfig::step_limit; the thread keeps its checkpoints.
class StepLimitError : public Error {
 public:
  using Error::Error;
};

// Thrown when RunConfig::cancelled said stop; the thread keeps its checkpoints.
class CancelledError : public Error {
 public:
  using Error::Error;
};

class CompiledGraph;

struct CompileOptions {
  Checkpointer* checkpointer = nullptr;  // required to run
  std::vector<std::string> interrupt_before, interrupt_after;
  std::string name = "graph";
};

class StateGraph {
 public:
  StateGraph& channel(const std::string& key, Reducer reducer = replace(), json initial = nullptr);
  StateGraph& node(const std::string& name, NodeFn fn);
  // A compiled graph as one node: it runs to its end inside the parent's step on the
  // parent's state and returns its final values for the parent's keys.
  StateGraph& subgraph(const std::string& name, std::shared_ptr<const CompiledGraph> g);
  StateGraph& edge(const std::string& from, const std::string& to);
  StateGraph& conditional(const std::string& from, RouterFn router);
  // Checks the wiring (unknown nodes, an entry from START, reachability); throws Error.
  CompiledGraph compile(CompileOptions opts = {}) const;

 private:
  friend class CompiledGraph;
  struct Channel {
    Reducer reducer;
    json initial;
  };
  std::map<std::string, Channel> channels_;
  std::map<std::string, NodeFn> nodes_;
  std::map<std::string, std::vector<std::string>> edges_;
  std::map<std::string, RouterFn> routers_;
};

class CompiledGraph {
 public:
  // Starts a run with input (or, with null input, continues the thread where it stands).
  RunResult invoke(const json& input, const RunConfig& cfg) const;
  // Answers the pending interrupt(s) with value and continues.
  RunResult resume(const json& value, const RunConfig& cfg) const;

  Snapshot state(const std::string& thread, const std::string& checkpoint_id = "") const;
  std::vector<Checkpoint> history(const std::string& thread) const;  // newest first
  // Applies values as if node as_node had written them (through the reducers), on top of
  // checkpoint_id (default: newest); the new checkpoint is a branch when that is older.
  std::string update_state(const std::string& thread, const json& values, const std::string& as_node = "",
                           const std::string& checkpoint_id = "") const;
  // Starts thread `to` from a copy of a checkpoint of thread `from`.
  std::string fork(const std::string& from, const std::string& checkpoint_id, const std::string& to) const;

  const std::string& name() const { return opts_.name; }
  // Runs without checkpoints (used for subgraphs): to the end, or throws on interrupt.
  json run_inline(const json& state, NodeContext& ctx) const;

 private:
  friend class StateGraph;
  CompiledGraph(StateGraph g, CompileOptions o) : g_(std::move(g)), opts_(std::move(o)) {}
  Checkpointer& cp() const;
  json initial_state() const;
  json apply(json state, const json& update) const;
  std::vector<std::string> next_after(const std::vector<std::string>& ran, const json& state) const;
  RunResult loop(Checkpoint cur, const RunConfig& cfg, bool skip_before) const;

  StateGraph g_;
  CompileOptions opts_;
};

}  // namespace a4ps::graph
