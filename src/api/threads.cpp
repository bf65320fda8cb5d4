// The public threads API: graph runs in an image, their checkpoints, edits, forks, and
// runs of the built-in graphs by name.
#include "a4ps/threads.h"

#include <algorithm>
#include <cctype>

#include "api/internal.h"
#include "persona/agent.h"
#include "persona/graphs.h"
#include "persona/turn.h"
#include "util/util.h"

namespace a4ps {

using json = nlohmann::json;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Everything a thread call needs: the image's checkpointer and the graph of a thread.
struct Threads {
  const Image& image;
  std::unique_ptr<graph::Checkpointer> cp;
  explicit Threads(const Image& im, bool full = false)
      : image(im), cp(graph::image_checkpointer(im.impl().img, full ? graph::Durability::Full : graph::Durability::Normal)) {}

  graph::ThreadInfo thread(const std::string& id) const {
    auto t = cp->thread(id);
    if (!t) throw Error("no thread '" + id + "' in " + image.path() + "; see `a4ps thread ls`");
    return *t;
  }
  void writable() const {
    if (image.impl().read_only) throw Error("the image " + image.path() + " was opened read-only");
  }
  graph::CompiledGraph graph_for(const std::string& name) const {
    return persona::builtin_graph(name, image.impl().img).compile({.checkpointer = cp.get(), .name = name});
  }
  graph::CompiledGraph graph_of(const std::string& id) const { return graph_for(thread(id).meta.value("graph", "")); }
};

// Agent conversations: how many tasks were asked, and the first one (as a title).
void describe_tasks(const json& state, ThreadSummary& s) {
  if (!state.is_object()) return;
  auto history = state.value("history", json::array());
  bool open = state.value("task", json()).is_string() && !state.value("answer", json()).is_string();
  s.tasks = static_cast<int64_t>(history.size()) + (open ? 1 : 0);
  if (!history.empty() && history[0].is_object()) s.title = history[0].value("task", "");
  else if (open) s.title = state["task"].get<std::string>();
}

ThreadSummary summary_of(const graph::ThreadInfo& t, const graph::Checkpointer& cp) {
  ThreadSummary s{.id = t.id, .graph = t.meta.value("graph", ""), .status = t.status, .created_at = t.created_at,
                  .updated_at = t.updated_at, .checkpoints = t.checkpoints};
  if (s.graph == persona::kAgentGraph)
    if (auto c = cp.get(t.id)) describe_tasks(c->state, s);
  return s;
}

CheckpointInfo checkpoint_of(const graph::Checkpoint& c) {
  CheckpointInfo i{.thread = c.thread_id, .id = c.id, .parent_id = c.parent_id, .step = c.step,
                   .source = c.meta.value("source", ""), .next = c.next, .created_at = c.created_at,
                   .state_json = c.state.dump()};
  json writes = c.meta.value("writes", json::object());
  i.writes_json = writes.dump();
  if (writes.is_object())
    for (auto& [node, _] : writes.items()) i.node += (i.node.empty() ? "" : ",") + node;
  return i;
}

std::vector<int64_t> proposals_in(const json& interrupts) {
  std::vector<int64_t> ids;
  if (!interrupts.is_array()) return ids;
  for (auto& i : interrupts) {
    json p = i.is_object() ? i.value("payload", json()) : json();
    if (p.is_object() && p.value("proposal", json()).is_number_integer()) ids.push_back(p["proposal"].get<int64_t>());
  }
  return ids;
}

graph::RunConfig config(const std::string& thread, const ThreadRunOptions& o, const std::string& from) {
  graph::RunConfig cfg{.thread_id = thread, .checkpoint_id = from, .step_limit = o.step_limit};
  if (o.on_step) {
    auto on_step = o.on_step;
    cfg.on_event = [on_step](const graph::StreamEvent& e) {
      if (e.type == "node_end") on_step({.step = e.step, .node = e.node, .update_json = e.data.dump()});
    };
  }
  return cfg;
}

ThreadRun run_of(const std::string& thread, const graph::RunResult& r) {
  return {.thread = thread, .status = r.status, .checkpoint = r.checkpoint_id, .steps = r.steps,
          .state_json = r.state.dump(), .interrupts_json = r.interrupts.dump(), .waiting_for = proposals_in(r.interrupts)};
}

json object_arg(const std::string& text, const std::string& what, const std::string& example) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(what + " must be a JSON object, e.g. '" + example + "'");
  return j;
}

}  // namespace

std::vector<std::string> graph_names() { return persona::builtin_graph_names(); }

std::vector<ThreadSummary> list_threads(const Image& image, const ThreadFilter& f) {
  static const char* statuses[] = {"idle", "running", "interrupted", "done", "error"};
  if (!f.status.empty() && std::find(std::begin(statuses), std::end(statuses), f.status) == std::end(statuses))
    throw Error("no thread status '" + f.status + "'; use idle, running, interrupted, done or error");
  if (f.offset < 0) throw Error("a thread listing's offset cannot be negative");
  Threads ts(image);
  std::string needle = lower(f.text);
  std::vector<ThreadSummary> out;
  int skipped = 0;
  for (auto& t : ts.cp->threads()) {
    if (f.limit >= 0 && static_cast<int>(out.size()) >= f.limit) break;
    if (!f.status.empty() && t.status != f.status) continue;
    if (!f.graph.empty() && t.meta.value("graph", "") != f.graph) continue;
    ThreadSummary s = summary_of(t, *ts.cp);
    if (!needle.empty() && lower(s.id + "\n" + s.graph + "\n" + s.title).find(needle) == std::string::npos) continue;
    if (skipped++ < f.offset) continue;
    out.push_back(std::move(s));
  }
  return out;
}

ThreadDetail get_thread(const Image& image, const std::string& thread) {
  Threads ts(image);
  auto t = ts.thread(thread);
  ThreadDetail d{.summary = summary_of(t, *ts.cp), .meta_json = t.meta.dump()};
  if (auto c = ts.cp->get(thread)) {
    d.has_checkpoint = true;
    d.latest = checkpoint_of(*c);
  }
  if (t.meta.contains("interrupts")) {
    d.interrupts_json = t.meta["interrupts"].dump();
    d.waiting_for = proposals_in(t.meta["interrupts"]);
  }
  if (t.meta.contains("error")) d.error = t.meta["error"].is_string() ? t.meta["error"].get<std::string>() : t.meta["error"].dump();
  return d;
}

std::vector<CheckpointInfo> thread_history(const Image& image, const std::string& thread) {
  Threads ts(image);
  ts.thread(thread);
  std::vector<CheckpointInfo> out;
  for (auto& c : ts.cp->list(thread)) out.push_back(checkpoint_of(c));
  return out;
}

CheckpointInfo thread_checkpoint(const Image& image, const std::string& thread, const std::string& checkpoint) {
  Threads ts(image);
  ts.thread(thread);
  auto c = ts.cp->get(thread, checkpoint);
  if (!c) {
    if (checkpoint.empty()) throw Error("thread '" + thread + "' has no checkpoint yet");
    throw Error("no checkpoint " + checkpoint + " in thread '" + thread + "'; see `a4ps thread history`");
  }
  return checkpoint_of(*c);
}

std::string edit_thread(Image& image, const std::string& thread, const std::string& values_json, const EditOptions& o) {
  Threads ts(image);
  ts.writable();
  json v = object_arg(values_json, "the values of an edit", "{\"n\": 5}");
  return ts.graph_of(thread).update_state(thread, v, o.as_node, o.from);
}

ForkResult fork_thread(Image& image, const std::string& thread, const std::string& checkpoint, const std::string& to) {
  Threads ts(image);
  ts.writable();
  std::string from = checkpoint;
  if (from.empty()) from = thread_checkpoint(image, thread, "").id;
  std::string dest = to.empty() ? random_id().substr(0, 8) : to;
  return {dest, ts.graph_of(thread).fork(thread, from, dest)};
}

ThreadRun run_thread(Image& image, const std::string& input_json, const ThreadRunOptions& o) {
  auto names = graph_names();
  if (std::find(names.begin(), names.end(), o.graph) == names.end())
    throw Error("no graph named '" + o.graph + "'; built-in graphs: act, agent, count, propose-tool, review");
  Threads ts(image, o.full_durability);
  ts.writable();
  std::string thread = o.thread.empty() ? random_id().substr(0, 8) : o.thread;
  if (ts.cp->thread(thread)) throw Error("thread '" + thread + "' already exists; resume it or pick another id");
  json in = object_arg(input_json, "a thread's input", "{\"topic\": \"owls\"}");
  return run_of(thread, ts.graph_for(o.graph).invoke(in, config(thread, o, "")));
}

ThreadRun resume_thread(Image& image, const std::string& thread, const std::string& value, const ThreadRunOptions& o) {
  Threads ts(image, o.full_durability);
  ts.writable();
  auto t = ts.thread(thread);
  auto graph = ts.graph_of(thread);
  if (t.is(graph::ThreadStatus::Done) && o.from.empty())
    throw Error("thread '" + thread + "' is done, not waiting for a human; use --from CHECKPOINT to go on from an earlier step");
  // An answer is JSON; anything that does not parse is a string.
  bool answered = !value.empty() && value != "null";
  json answer = answered ? json::parse(value, nullptr, false) : json();
  if (answer.is_discarded()) answer = value;
  graph::RunResult r;
  if (t.is(graph::ThreadStatus::Interrupted)) {
    r = graph.resume(answer, config(thread, o, o.from));
  } else {
    // A forked or edited thread asks its question again when it reaches it; answer at once.
    r = graph.invoke(nullptr, config(thread, o, o.from));
    if (answered && r.interrupted()) r = graph.resume(answer, config(thread, o, ""));
  }
  return run_of(thread, r);
}

namespace {

// The newest state of an agent conversation; Error (one line) when there is none.
graph::json conversation_state(const Image& image, const std::string& thread) {
  auto last = graph::image_checkpointer(image.impl().img)->get(thread);
  if (!last)
    throw Error("no thread '" + thread + "' in " + image.path() + "; see `a4ps thread ls " + image.path() + "`");
  if (!last->state.contains("transcript")) throw Error("thread '" + thread + "' is not an agent conversation");
  return last->state;
}

}  // namespace

std::string thread_transcript(const Image& image, const std::string& thread, bool prompts) {
  return persona::transcript_markdown(conversation_state(image, thread), thread, prompts);
}

std::string thread_transcript_json(const Image& image, const std::string& thread, bool prompts) {
  graph::json st = conversation_state(image, thread);
  return (prompts ? st["transcript"] : persona::without_prompts(st["transcript"])).dump();
}

}  // namespace a4ps
