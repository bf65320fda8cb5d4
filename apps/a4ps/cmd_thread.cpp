// a4ps thread run | ls | show | history | state | edit | fork | resume
#include <unistd.h>

#include <iostream>
#include <sstream>

#include "cli.h"
#include "codex/codex.h"
#include "graph/graph.h"
#include "graphs.h"
#include "image/image.h"
#include "util/util.h"

namespace a4ps::cli {
namespace {

using graph::json;

std::string path;  // the image argument of the thread command being run

// Values on the command line are JSON; anything that does not parse is a string.
json parse_value(const std::string& s) {
  json j = json::parse(s, nullptr, false);
  return j.is_discarded() ? json(s) : j;
}

std::string clip(const json& j, size_t n = 100) {
  std::string s = j.dump();
  return s.size() > n ? s.substr(0, n - 3) + "..." : s;
}

// Everything a thread command needs: the image, its checkpointer and the thread's graph.
struct Session {
  image::Image img;
  std::unique_ptr<graph::Checkpointer> cp;
  explicit Session(const std::string& path, bool read_only = false, bool full = false)
      : img(image::Image::open(path, {.read_only = read_only})),
        cp(graph::image_checkpointer(img, full ? graph::Durability::Full : graph::Durability::Normal)) {
    if (!read_only) img.set_guard(codex::guard(image_codex(img)));  // every event passes the codex
  }
  graph::ThreadInfo thread(const std::string& id) const {
    auto t = cp->thread(id);
    if (!t) throw Error("no thread '" + id + "' in " + img.path().string() + "; see `a4ps thread ls`");
    return *t;
  }
  graph::CompiledGraph graph_for(const std::string& name) const {
    return builtin_graph(name, const_cast<image::Image&>(img)).compile({.checkpointer = cp.get(), .name = name});
  }
  graph::CompiledGraph graph_of(const std::string& thread_id) const {
    return graph_for(thread(thread_id).meta.value("graph", ""));
  }
};

json checkpoint_json(const graph::Checkpoint& c) {
  return {{"id", c.id}, {"parent_id", c.parent_id}, {"step", c.step}, {"next", c.next},
          {"source", c.meta.value("source", "")}, {"writes", c.meta.value("writes", json::object())},
          {"created_at", c.created_at}, {"state", c.state}};
}

json result_json(const std::string& thread, const graph::RunResult& r) {
  return {{"thread", thread}, {"status", r.status}, {"checkpoint", r.checkpoint_id}, {"steps", r.steps},
          {"state", r.state}, {"interrupts", r.interrupts}};
}

// Prints each step as it happens (text mode), so a long run shows progress.
graph::RunConfig run_config(const Globals& g, const std::string& thread, int limit, const std::string& from) {
  graph::RunConfig cfg{.thread_id = thread, .checkpoint_id = from, .step_limit = limit};
  if (!g.json) {
    bool tty = isatty(1);
    cfg.on_event = [tty](const graph::StreamEvent& e) {
      if (e.type == "node_end")
        std::cout << "  step " << e.step << "  " << (tty ? "\033[1m" : "") << e.node << (tty ? "\033[0m" : "")
                  << "  " << clip(e.data) << "\n" << std::flush;
    };
  }
  return cfg;
}

std::string result_text(const std::string& thread, const graph::RunResult& r) {
  const std::string& image = path;
  std::ostringstream o;
  if (r.done()) {
    o << "thread " << thread << " done after " << r.steps << (r.steps == 1 ? " step" : " steps") << "\nstate " << r.state.dump() << "\n";
  } else {
    o << "thread " << thread << " is waiting for a human (checkpoint " << r.checkpoint_id << "):\n";
    for (auto& i : r.interrupts)
      o << "  " << i.value("kind", "") << " " << i.value("node", "") << (i["payload"].is_null() ? "" : ": " + i["payload"].dump()) << "\n";
    o << "resume with: a4ps thread resume " << image << " " << thread << " --value '<answer>'\n";
  }
  return o.str();
}

}  // namespace

void add_thread_commands(CLI::App& app, Globals& g) {
  auto* th = sub(&app, "thread", "run, inspect, edit, fork and resume graph threads in an image");
  th->require_subcommand(1);
  static std::string thread, ckpt, input = "{}", value = "null", graph_name = "review", as_node, to;
  static int limit = 100;
  static std::string durability = "normal";
  auto durability_option = [](CLI::App* c) {
    c->add_option("--durability", durability,
                  "per-step commits: normal (survives a crash) or full (fsync, survives power loss)")
        ->check(CLI::IsMember({"normal", "full"}));
  };

  {
    auto* c = sub(th, "run", "start a thread of a built-in graph (act, count, review, propose-tool)");
    c->add_option("image", path, "image file")->required();
    c->add_option("--graph", graph_name, "graph to run")->check(CLI::IsMember(builtin_graph_names()));
    c->add_option("--input", input, "input state as JSON");
    c->add_option("--thread", thread, "thread id (default: a new one)");
    c->add_option("--step-limit", limit, "steps before the run stops with an error");
    durability_option(c);
    c->callback([&g] {
      Session s(path, false, durability == "full");
      if (thread.empty()) thread = random_id().substr(0, 8);
      if (s.cp->thread(thread)) throw Error("thread '" + thread + "' already exists; resume it or pick another id");
      json in = json::parse(input, nullptr, false);
      if (in.is_discarded() || !in.is_object()) throw Error("--input must be a JSON object, e.g. '{\"topic\": \"owls\"}'");
      auto r = s.graph_for(graph_name).invoke(in, run_config(g, thread, limit, ""));
      emit(g, result_json(thread, r), result_text(thread, r));
    });
  }
  {
    auto* c = sub(th, "ls", "list threads");
    c->add_option("image", path, "image file")->required();
    c->callback([&g] {
      Session s(path, true);
      json j = json::array();
      std::ostringstream o;
      for (auto& t : s.cp->threads()) {
        j.push_back({{"id", t.id}, {"status", t.status}, {"graph", t.meta.value("graph", "")},
                     {"checkpoints", t.checkpoints}, {"updated_at", t.updated_at}});
        o << t.id << "  " << t.status << "  " << t.meta.value("graph", "") << "  " << t.checkpoints
          << " checkpoints  " << t.updated_at << "\n";
      }
      emit(g, j, j.empty() ? "no threads\n" : o.str());
    });
  }
  {
    auto* c = sub(th, "show", "a thread's status, newest state and what it waits for");
    c->add_option("image", path, "image file")->required();
    c->add_option("thread", thread, "thread id")->required();
    c->callback([&g] {
      Session s(path, true);
      auto t = s.thread(thread);
      auto cp = s.cp->get(thread);
      json j = {{"id", t.id}, {"status", t.status}, {"meta", t.meta}, {"checkpoints", t.checkpoints},
                {"latest", cp ? checkpoint_json(*cp) : json()}};
      std::ostringstream o;
      o << "thread " << t.id << "  " << t.status << "  graph " << t.meta.value("graph", "") << "  " << t.checkpoints << " checkpoints\n";
      if (cp) o << "at     " << cp->id << " (step " << cp->step << "), next: " << json(cp->next).dump() << "\nstate  " << cp->state.dump() << "\n";
      if (t.meta.contains("interrupts")) o << "waits  " << t.meta["interrupts"].dump() << "\n";
      if (t.meta.contains("error")) o << "error  " << t.meta["error"].get<std::string>() << "\n";
      emit(g, j, o.str());
    });
  }
  {
    auto* c = sub(th, "history", "every checkpoint of a thread, newest first");
    c->add_option("image", path, "image file")->required();
    c->add_option("thread", thread, "thread id")->required();
    c->callback([&g] {
      Session s(path, true);
      s.thread(thread);
      json j = json::array();
      std::ostringstream o;
      for (auto& cp : s.cp->list(thread)) {
        j.push_back(checkpoint_json(cp));
        o << cp.id << "  step " << cp.step << "  parent " << (cp.parent_id.empty() ? "-" : cp.parent_id) << "  "
          << cp.meta.value("source", "") << "  next " << json(cp.next).dump() << "  " << clip(cp.meta.value("writes", json::object()), 80) << "\n";
      }
      emit(g, j, o.str());
    });
  }
  {
    auto* c = sub(th, "state", "the state at one checkpoint");
    c->add_option("image", path, "image file")->required();
    c->add_option("thread", thread, "thread id")->required();
    c->add_option("checkpoint", ckpt, "checkpoint id (see history)")->required();
    c->callback([&g] {
      Session s(path, true);
      s.thread(thread);
      auto cp = s.cp->get(thread, ckpt);
      if (!cp) throw Error("no checkpoint " + ckpt + " in thread '" + thread + "'; see `a4ps thread history`");
      emit(g, checkpoint_json(*cp), cp->state.dump(2) + "\n");
    });
  }
  {
    auto* c = sub(th, "edit", "change a thread's state; the edit is a new checkpoint (a branch if not at the newest)");
    c->add_option("image", path, "image file")->required();
    c->add_option("thread", thread, "thread id")->required();
    c->add_option("--set", input, "state values as a JSON object")->required();
    c->add_option("--from", ckpt, "checkpoint to edit (default: the newest)");
    c->add_option("--as-node", as_node, "apply as if this node wrote it (its edges choose what runs next)");
    c->callback([&g] {
      Session s(path);
      json v = json::parse(input, nullptr, false);
      if (v.is_discarded() || !v.is_object()) throw Error("--set must be a JSON object, e.g. '{\"n\": 5}'");
      std::string id = s.graph_of(thread).update_state(thread, v, as_node, ckpt);
      emit(g, {{"thread", thread}, {"checkpoint", id}}, "new checkpoint " + id + " in thread " + thread + "\n");
    });
  }
  {
    auto* c = sub(th, "fork", "start a new thread from a checkpoint of another");
    c->add_option("image", path, "image file")->required();
    c->add_option("thread", thread, "thread id")->required();
    c->add_option("checkpoint", ckpt, "checkpoint id (see history)")->required();
    c->add_option("--to", to, "new thread id (default: a new one)");
    c->callback([&g] {
      Session s(path);
      if (to.empty()) to = random_id().substr(0, 8);
      std::string id = s.graph_of(thread).fork(thread, ckpt, to);
      emit(g, {{"thread", to}, {"checkpoint", id}, {"from", {{"thread", thread}, {"checkpoint", ckpt}}}},
           "forked " + thread + "@" + ckpt + " into thread " + to + "\n");
    });
  }
  {
    auto* c = sub(th, "resume", "continue a thread: answer what it waits for, or go on from a checkpoint");
    c->add_option("image", path, "image file")->required();
    c->add_option("thread", thread, "thread id")->required();
    c->add_option("--value", value, "the answer (JSON, or plain text)");
    c->add_option("--from", ckpt, "continue from this checkpoint instead of the newest");
    c->add_option("--step-limit", limit, "steps before the run stops with an error");
    durability_option(c);
    c->callback([&g] {
      Session s(path, false, durability == "full");
      auto t = s.thread(thread);
      auto graph = s.graph_of(thread);
      auto cfg = run_config(g, thread, limit, ckpt);
      if (t.is(graph::ThreadStatus::Done) && ckpt.empty())
        throw Error("thread '" + thread + "' is done, not waiting for a human; use --from CHECKPOINT to go on from an earlier step");
      bool answered = value != "null";
      graph::RunResult r;
      if (t.is(graph::ThreadStatus::Interrupted)) {
        r = graph.resume(parse_value(value), cfg);
      } else {
        // A forked or edited thread asks its question again when it reaches it; answer at once.
        r = graph.invoke(nullptr, cfg);
        if (answered && r.interrupted()) r = graph.resume(parse_value(value), run_config(g, thread, limit, ""));
      }
      emit(g, result_json(thread, r), result_text(thread, r));
    });
  }
}

}  // namespace a4ps::cli
