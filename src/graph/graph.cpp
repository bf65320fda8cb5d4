#include "graph/graph.h"

#include <algorithm>

namespace a4ps::graph {
namespace {

// Thrown by NodeContext::interrupt; deliberately not a std::exception so that a node's
// own catch-all for errors does not swallow it.
struct NodeInterrupt {
  json payload;
};

const std::string kResume = "__resume__";

// Thread meta for a status change; clears what belonged to the previous status.
json status_meta(const std::string& graph, json extra = json::object()) {
  json m = {{"graph", graph}, {"interrupts", nullptr}, {"checkpoint", nullptr}, {"error", nullptr}, {"node", nullptr}};
  for (auto& [k, v] : extra.items()) m[k] = v;
  return m;
}
const std::string kUpdate = "__update__";

}  // namespace

// ---- reducers -------------------------------------------------------------------

Reducer replace() {
  return [](const json&, const json& u) { return u; };
}
Reducer append() {
  return [](const json& cur, const json& u) {
    json out = cur.is_array() ? cur : json::array();
    if (u.is_array()) out.insert(out.end(), u.begin(), u.end());
    else out.push_back(u);
    return out;
  };
}
Reducer merge() {
  return [](const json& cur, const json& u) {
    json out = cur.is_object() ? cur : json::object();
    if (!u.is_object()) throw Error("merge reducer needs an object update, got " + std::string(u.type_name()));
    for (auto& [k, v] : u.items()) out[k] = v;
    return out;
  };
}
Reducer add() {
  return [](const json& cur, const json& u) -> json {
    if (!u.is_number()) throw Error("add reducer needs a number, got " + std::string(u.type_name()));
    if (cur.is_number_integer() && u.is_number_integer()) return cur.get<int64_t>() + u.get<int64_t>();
    return (cur.is_number() ? cur.get<double>() : 0.0) + u.get<double>();
  };
}

// ---- node context -------------------------------------------------------------

json NodeContext::interrupt(const json& payload) {
  if (interrupts_seen_ < resume_values_.size()) return resume_values_[interrupts_seen_++];
  throw NodeInterrupt{payload};
}

void NodeContext::emit(const json& data) {
  if (emit_) emit_(data);
}

// ---- builder --------------------------------------------------------------------

StateGraph& StateGraph::channel(const std::string& key, Reducer reducer, json initial) {
  channels_[key] = {std::move(reducer), std::move(initial)};
  return *this;
}

StateGraph& StateGraph::node(const std::string& name, NodeFn fn) {
  if (name.empty() || name == START || name == END || name.rfind("__", 0) == 0)
    throw Error("node name '" + name + "' is reserved or empty; choose another");
  if (nodes_.count(name)) throw Error("node '" + name + "' is defined twice");
  nodes_[name] = std::move(fn);
  return *this;
}

StateGraph& StateGraph::subgraph(const std::string& name, std::shared_ptr<const CompiledGraph> g) {
  return node(name, [g](const json& state, NodeContext& ctx) { return g->run_inline(state, ctx); });
}

StateGraph& StateGraph::edge(const std::string& from, const std::string& to) {
  edges_[from].push_back(to);
  return *this;
}

StateGraph& StateGraph::conditional(const std::string& from, RouterFn router) {
  if (routers_.count(from)) throw Error("node '" + from + "' already has a conditional edge");
  routers_[from] = std::move(router);
  return *this;
}

CompiledGraph StateGraph::compile(CompileOptions opts) const {
  auto known = [&](const std::string& n) { return n == END || nodes_.count(n) > 0; };
  if (!edges_.count(START) && !routers_.count(START))
    throw Error("graph '" + opts.name + "' has no entry: add an edge from START");
  for (auto& [from, tos] : edges_) {
    if (from != START && !nodes_.count(from)) throw Error("edge from unknown node '" + from + "'");
    for (auto& to : tos)
      if (!known(to)) throw Error("edge from '" + from + "' to unknown node '" + to + "'");
  }
  for (auto& [from, r] : routers_)
    if (from != START && !nodes_.count(from)) throw Error("conditional edge from unknown node '" + from + "'");
  for (auto& [name, fn] : nodes_)
    if (!edges_.count(name) && !routers_.count(name))
      throw Error("node '" + name + "' has no outgoing edge; add edge(\"" + name + "\", END) if it ends the run");
  for (auto* list : {&opts.interrupt_before, &opts.interrupt_after})
    for (auto& n : *list)
      if (!nodes_.count(n)) throw Error("interrupt on unknown node '" + n + "'");
  return CompiledGraph(*this, std::move(opts));
}

// ---- execution --------------------------------------------------------------------

Checkpointer& CompiledGraph::cp() const {
  if (!opts_.checkpointer) throw Error("graph '" + opts_.name + "' was compiled without a checkpointer");
  return *opts_.checkpointer;
}

json CompiledGraph::initial_state() const {
  json s = json::object();
  for (auto& [k, c] : g_.channels_)
    if (!c.initial.is_null()) s[k] = c.initial;
  return s;
}

json CompiledGraph::apply(json state, const json& update) const {
  if (update.is_null()) return state;
  if (!update.is_object()) throw Error("a node must return an object of state updates, got " + std::string(update.type_name()));
  for (auto& [k, v] : update.items()) {
    auto it = g_.channels_.find(k);
    if (it == g_.channels_.end())
      throw Error("update to unknown state key '" + k + "'; declare it with channel(\"" + k + "\")");
    state[k] = it->second.reducer(state.contains(k) ? state[k] : json(), v);
  }
  return state;
}

std::vector<std::string> CompiledGraph::next_after(const std::vector<std::string>& ran, const json& state) const {
  std::vector<std::string> next;  // sorted and unique below, as a set would keep them
  for (auto& n : ran) {
    if (auto e = g_.edges_.find(n); e != g_.edges_.end()) next.insert(next.end(), e->second.begin(), e->second.end());
    if (auto r = g_.routers_.find(n); r != g_.routers_.end())
      for (auto& to : r->second(state)) {
        if (to != END && !g_.nodes_.count(to))
          throw Error("conditional edge from '" + n + "' chose unknown node '" + to + "'");
        next.push_back(std::move(to));
      }
  }
  std::sort(next.begin(), next.end());
  next.erase(std::unique(next.begin(), next.end()), next.end());
  next.erase(std::remove(next.begin(), next.end(), END), next.end());
  return next;
}

json CompiledGraph::run_inline(const json& input, NodeContext& ctx) const {
  json state = initial_state();
  for (auto& [k, v] : input.items())
    if (g_.channels_.count(k)) state[k] = v;
  auto next = next_after({START}, state);
  for (int steps = 0; !next.empty(); ++steps) {
    if (steps >= 1000) throw StepLimitError("subgraph '" + opts_.name + "' ran 1000 steps without ending");
    json merged = json::object();
    for (auto& n : next) {
      json u = g_.nodes_.at(n)(state, ctx);
      state = apply(state, u);
    }
    next = next_after(next, state);
  }
  return state;
}

RunResult CompiledGraph::loop(Checkpoint cur, const RunConfig& cfg, bool skip_before) const {
  Checkpointer& c = cp();
  const std::string& thread = cfg.thread_id;
  auto emit = [&](StreamEvent e) {
    if (cfg.on_event) cfg.on_event(e);
  };
  auto in = [](const std::vector<std::string>& v, const std::vector<std::string>& nodes) {
    for (auto& n : nodes)
      if (std::find(v.begin(), v.end(), n) != v.end()) return n;
    return std::string();
  };
  RunResult r;
  for (;;) {
    if (cur.next.empty()) {
      c.set_thread(thread, thread_status_name(ThreadStatus::Done), status_meta(opts_.name), "thread.finished");
      r.status = thread_status_name(ThreadStatus::Done);
      r.state = cur.state;
      r.checkpoint_id = cur.id;
      emit({"done", "", cur.id, cur.step, cur.state});
      return r;
    }
    if (std::string n = in(opts_.interrupt_before, cur.next); !n.empty() && !skip_before) {
      r.interrupts = json::array({{{"node", n}, {"kind", "before"}, {"payload", nullptr}}});
      break;
    }
    skip_before = false;
    if (cfg.cancelled && cfg.cancelled()) {
      std::string msg = "the run on thread '" + thread + "' was cancelled before step " + std::to_string(cur.step + 1) +
                        "; resume the thread to go on from there";
      c.set_thread(thread, thread_status_name(ThreadStatus::Error), status_meta(opts_.name, {{"error", msg}}), "thread.failed");
      throw CancelledError(msg);
    }
    if (r.steps >= cfg.step_limit) {
      std::string msg = "thread '" + thread + "' hit the step limit of " + std::to_string(cfg.step_limit) +
                        " steps at step " + std::to_string(cur.step) + "; raise the limit or check the graph's exit condition";
      c.set_thread(thread, thread_status_name(ThreadStatus::Error), status_meta(opts_.name, {{"error", msg}}), "thread.failed");
      throw StepLimitError(msg);
    }
    // Work finished earlier inside this step (before a crash or an interrupt) is reused.
    std::map<std::string, json> done;
    std::map<std::string, std::vector<json>> resume;
    for (auto& w : c.writes(thread, cur.id)) {
      if (w.channel == kUpdate) done[w.task] = w.value;
      else if (w.channel == kResume) resume[w.task].push_back(w.value);
    }
    std::vector<std::pair<std::string, json>> updates;
    updates.reserve(cur.next.size());
    for (auto& n : cur.next) {
      if (auto d = done.find(n); d != done.end()) {
        updates.emplace_back(n, d->second);
        continue;
      }
      NodeContext ctx;
      ctx.node_ = n;
      ctx.thread_ = thread;
      ctx.step_ = cur.step + 1;
      if (auto rv = resume.find(n); rv != resume.end()) ctx.resume_values_ = std::move(rv->second);
      // Events are built only for someone watching (a step's hot path otherwise).
      if (cfg.on_event) {
        ctx.emit_ = [&](const json& d) { emit({"custom", n, cur.id, cur.step + 1, d}); };
        emit({"node_start", n, cur.id, cur.step + 1, nullptr});
      }
      json u;
      try {
        u = g_.nodes_.at(n)(cur.state, ctx);
      } catch (NodeInterrupt& i) {
        r.interrupts.push_back({{"node", n}, {"kind", "dynamic"}, {"payload", i.payload}});
        continue;
      } catch (const std::exception& e) {
        std::string msg = "node '" + n + "' failed at step " + std::to_string(cur.step + 1) + ": " + e.what();
        c.set_thread(thread, thread_status_name(ThreadStatus::Error), status_meta(opts_.name, {{"error", msg}, {"node", n}}), "thread.failed");
        throw Error(msg);
      }
      if (cfg.on_event) emit({"node_end", n, cur.id, cur.step + 1, u});
      // With several tasks in a step, each finished one is kept so it is not redone.
      if (cur.next.size() > 1) c.put_writes(thread, cur.id, {{n, kUpdate, u}});
      updates.emplace_back(n, std::move(u));
    }
    if (!r.interrupts.empty()) break;
    Checkpoint nx;
    nx.thread_id = thread;
    nx.parent_id = cur.id;
    nx.step = cur.step + 1;
    nx.state = std::move(cur.state);
    json writes = json::object();
    for (auto& [n, u] : updates) {
      nx.state = apply(std::move(nx.state), u);
      writes[n] = std::move(u);  // applied: no longer needed here
    }
    nx.next = next_after(cur.next, nx.state);
    const std::vector<std::string> ran = std::move(cur.next);
    {
      // The saver gets its own copy of the state; the meta is not needed here afterwards.
      Checkpoint saved{thread, "", nx.parent_id, nx.step, nx.state, nx.next, json::object(), ""};
      saved.meta["source"] = "loop";  // (an initializer list would copy the writes)
      saved.meta["writes"] = std::move(writes);
      nx.id = c.put(std::move(saved));
    }
    cur = std::move(nx);
    ++r.steps;
    if (cfg.on_event) emit({"checkpoint", "", cur.id, cur.step, cur.state});
    if (std::string n = in(opts_.interrupt_after, ran); !n.empty()) {
      r.interrupts = json::array({{{"node", n}, {"kind", "after"}, {"payload", nullptr}}});
      break;
    }
  }
  c.set_thread(thread, thread_status_name(ThreadStatus::Interrupted), status_meta(opts_.name, {{"interrupts", r.interrupts}, {"checkpoint", cur.id}}),
               "thread.interrupted");
  r.status = thread_status_name(ThreadStatus::Interrupted);
  r.state = cur.state;
  r.checkpoint_id = cur.id;
  emit({"interrupt", "", cur.id, cur.step, r.interrupts});
  return r;
}

RunResult CompiledGraph::invoke(const json& input, const RunConfig& cfg) const {
  if (cfg.thread_id.empty()) throw Error("a run needs a thread id");
  Checkpointer& c = cp();
  auto base = c.get(cfg.thread_id, cfg.checkpoint_id);
  if (!cfg.checkpoint_id.empty() && !base)
    throw Error("thread '" + cfg.thread_id + "' has no checkpoint " + cfg.checkpoint_id + "; see its history");
  if (input.is_null()) {
    if (!base) throw Error("thread '" + cfg.thread_id + "' has no checkpoints; start it with input");
    c.set_thread(cfg.thread_id, thread_status_name(ThreadStatus::Running), status_meta(opts_.name), "thread.resumed");
    return loop(*base, cfg, true);
  }
  if (!input.is_object()) throw Error("graph input must be a JSON object of state keys");
  c.set_thread(cfg.thread_id, thread_status_name(ThreadStatus::Running), status_meta(opts_.name), base ? "thread.resumed" : "thread.started");
  Checkpoint first;
  first.thread_id = cfg.thread_id;
  first.parent_id = base ? base->id : "";
  first.step = base ? base->step + 1 : 0;
  first.state = apply(base ? base->state : initial_state(), input);
  first.next = next_after({START}, first.state);
  first.meta = {{"source", "input"}, {"writes", {{START, input}}}};
  first.id = c.put(first);
  if (cfg.on_event) cfg.on_event({"checkpoint", "", first.id, first.step, first.state});
  return loop(first, cfg, false);
}

RunResult CompiledGraph::resume(const json& value, const RunConfig& cfg) const {
  Checkpointer& c = cp();
  auto t = c.thread(cfg.thread_id);
  if (!t) throw Error("no thread '" + cfg.thread_id + "' in this image; see `a4ps thread ls`");
  auto base = c.get(cfg.thread_id, cfg.checkpoint_id);
  if (!base) throw Error("thread '" + cfg.thread_id + "' has no checkpoint to resume from");
  if (!t->is(ThreadStatus::Interrupted) && cfg.checkpoint_id.empty())
    throw Error("thread '" + cfg.thread_id + "' is " + t->status + ", not waiting for a human; nothing to resume");
  std::vector<PendingWrite> answers;
  for (auto& i : t->meta.value("interrupts", json::array()))
    if (i.value("kind", "") == "dynamic") answers.push_back({i["node"].get<std::string>(), kResume, value});
  if (!answers.empty()) c.put_writes(cfg.thread_id, base->id, answers);
  c.set_thread(cfg.thread_id, thread_status_name(ThreadStatus::Running), status_meta(opts_.name), "thread.resumed");
  return loop(*base, cfg, true);
}

Snapshot CompiledGraph::state(const std::string& thread, const std::string& id) const {
  auto cpt = cp().get(thread, id);
  if (!cpt) throw Error("no checkpoint " + (id.empty() ? std::string("at all") : id) + " in thread '" + thread + "'");
  Snapshot s{*cpt, json::array()};
  auto t = cp().thread(thread);
  if (t && t->is(ThreadStatus::Interrupted) && t->meta.value("checkpoint", "") == cpt->id)
    s.pending_interrupts = t->meta.value("interrupts", json::array());
  return s;
}

std::vector<Checkpoint> CompiledGraph::history(const std::string& thread) const { return cp().list(thread); }

std::string CompiledGraph::update_state(const std::string& thread, const json& values, const std::string& as_node,
                                        const std::string& id) const {
  Checkpointer& c = cp();
  auto base = c.get(thread, id);
  if (!base) throw Error("no checkpoint " + (id.empty() ? std::string("at all") : id) + " in thread '" + thread + "'");
  if (!as_node.empty() && !g_.nodes_.count(as_node)) throw Error("no node '" + as_node + "' in graph '" + opts_.name + "'");
  Checkpoint nx;
  nx.thread_id = thread;
  nx.parent_id = base->id;
  nx.step = base->step + 1;
  nx.state = apply(base->state, values);
  nx.next = as_node.empty() ? base->next : next_after({as_node}, nx.state);
  nx.meta = {{"source", "update"}, {"writes", {{as_node.empty() ? "__human__" : as_node, values}}}};
  std::string new_id = c.put(nx);
  auto t = c.thread(thread);
  c.set_thread(thread, t ? t->status : thread_status_name(ThreadStatus::Idle), {{"graph", opts_.name}}, "thread.state_updated");
  return new_id;
}

std::string CompiledGraph::fork(const std::string& from, const std::string& id, const std::string& to) const {
  Checkpointer& c = cp();
  if (c.thread(to)) throw Error("thread '" + to + "' already exists; choose another name");
  auto base = c.get(from, id);
  if (!base) throw Error("no checkpoint " + id + " in thread '" + from + "'");
  c.set_thread(to, thread_status_name(ThreadStatus::Idle), {{"graph", opts_.name}, {"forked_from", {{"thread", from}, {"checkpoint", base->id}}}},
               "thread.forked");
  Checkpoint nx = *base;
  nx.thread_id = to;
  nx.parent_id = "";
  nx.meta = {{"source", "fork"}, {"from_thread", from}, {"from_checkpoint", base->id}};
  return c.put(nx);
}

}  // namespace a4ps::graph
