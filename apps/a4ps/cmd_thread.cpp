// a4ps thread run | ls | show | history | state | edit | fork | resume
#include <unistd.h>

#include <iostream>
#include <sstream>

#include "a4ps/image.h"
#include "a4ps/threads.h"
#include "cli.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

std::string path;  // the image argument of the thread command being run

std::string clip(const std::string& s, size_t n = 100) { return s.size() > n ? s.substr(0, n - 3) + "..." : s; }

Image open_image(bool read_only) { return Image::open(path, {.create_if_missing = false, .read_only = read_only}); }

json checkpoint_json(const CheckpointInfo& c) {
  return {{"id", c.id}, {"parent_id", c.parent_id}, {"step", c.step}, {"next", c.next}, {"source", c.source},
          {"writes", json::parse(c.writes_json)}, {"created_at", c.created_at}, {"state", json::parse(c.state_json)}};
}

json result_json(const ThreadRun& r) {
  return {{"thread", r.thread}, {"status", r.status}, {"checkpoint", r.checkpoint}, {"steps", r.steps},
          {"state", json::parse(r.state_json)}, {"interrupts", json::parse(r.interrupts_json)}};
}

// Prints each step as it happens (text mode), so a long run shows progress.
ThreadRunOptions run_options(const Globals& g, int limit, bool full) {
  ThreadRunOptions o{.step_limit = limit, .full_durability = full};
  if (!g.json) {
    bool tty = isatty(1);
    o.on_step = [tty](const ThreadStep& e) {
      std::cout << "  step " << e.step << "  " << (tty ? "\033[1m" : "") << e.node << (tty ? "\033[0m" : "")
                << "  " << clip(e.update_json) << "\n" << std::flush;
    };
  }
  return o;
}

std::string result_text(const ThreadRun& r) {
  const std::string& image = path;
  std::ostringstream o;
  if (r.status == "done") {
    o << "thread " << r.thread << " done after " << r.steps << (r.steps == 1 ? " step" : " steps") << "\nstate " << json::parse(r.state_json).dump() << "\n";
  } else {
    o << "thread " << r.thread << " is waiting for a human (checkpoint " << r.checkpoint << "):\n";
    for (auto& i : json::parse(r.interrupts_json))
      o << "  " << i.value("kind", "") << " " << i.value("node", "") << (i["payload"].is_null() ? "" : ": " + i["payload"].dump()) << "\n";
    o << "resume with: a4ps thread resume " << image << " " << r.thread << " --value '<answer>'\n";
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
  // A JSON-object option, checked here so the message names the flag.
  auto object_option = [](const std::string& text, const std::string& flag, const std::string& example) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error(flag + " must be a JSON object, e.g. '" + example + "'");
  };

  {
    auto* c = sub(th, "run", "start a thread of a built-in graph (act, count, review, propose-tool)");
    c->add_option("image", path, "image file")->required();
    c->add_option("--graph", graph_name, "graph to run")->check(CLI::IsMember(graph_names()));
    c->add_option("--input", input, "input state as JSON");
    c->add_option("--thread", thread, "thread id (default: a new one)");
    c->add_option("--step-limit", limit, "steps before the run stops with an error");
    durability_option(c);
    c->callback([&g, object_option] {
      Image img = open_image(false);
      object_option(input, "--input", "{\"topic\": \"owls\"}");
      ThreadRunOptions o = run_options(g, limit, durability == "full");
      o.graph = graph_name;
      o.thread = thread;
      auto r = run_thread(img, input, o);
      emit(g, result_json(r), result_text(r));
    });
  }
  {
    auto* c = sub(th, "ls", "list threads");
    c->add_option("image", path, "image file")->required();
    c->callback([&g] {
      json j = json::array();
      std::ostringstream o;
      for (auto& t : list_threads(open_image(true))) {
        j.push_back({{"id", t.id}, {"status", t.status}, {"graph", t.graph}, {"checkpoints", t.checkpoints},
                     {"updated_at", t.updated_at}});
        o << t.id << "  " << t.status << "  " << t.graph << "  " << t.checkpoints << " checkpoints  " << t.updated_at << "\n";
      }
      emit(g, j, j.empty() ? "no threads\n" : o.str());
    });
  }
  {
    auto* c = sub(th, "show", "a thread's status, newest state and what it waits for");
    c->add_option("image", path, "image file")->required();
    c->add_option("thread", thread, "thread id")->required();
    c->callback([&g] {
      auto t = get_thread(open_image(true), thread);
      const auto& s = t.summary;
      json meta = json::parse(t.meta_json);
      json j = {{"id", s.id}, {"status", s.status}, {"meta", meta}, {"checkpoints", s.checkpoints},
                {"latest", t.has_checkpoint ? checkpoint_json(t.latest) : json()}};
      std::ostringstream o;
      o << "thread " << s.id << "  " << s.status << "  graph " << s.graph << "  " << s.checkpoints << " checkpoints\n";
      if (t.has_checkpoint)
        o << "at     " << t.latest.id << " (step " << t.latest.step << "), next: " << json(t.latest.next).dump()
          << "\nstate  " << json::parse(t.latest.state_json).dump() << "\n";
      if (meta.contains("interrupts")) o << "waits  " << meta["interrupts"].dump() << "\n";
      if (meta.contains("error")) o << "error  " << t.error << "\n";
      emit(g, j, o.str());
    });
  }
  {
    auto* c = sub(th, "history", "every checkpoint of a thread, newest first");
    c->add_option("image", path, "image file")->required();
    c->add_option("thread", thread, "thread id")->required();
    c->callback([&g] {
      json j = json::array();
      std::ostringstream o;
      for (auto& cp : thread_history(open_image(true), thread)) {
        j.push_back(checkpoint_json(cp));
        o << cp.id << "  step " << cp.step << "  parent " << (cp.parent_id.empty() ? "-" : cp.parent_id) << "  "
          << cp.source << "  next " << json(cp.next).dump() << "  " << clip(json::parse(cp.writes_json).dump(), 80) << "\n";
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
      auto cp = thread_checkpoint(open_image(true), thread, ckpt);
      emit(g, checkpoint_json(cp), json::parse(cp.state_json).dump(2) + "\n");
    });
  }
  {
    auto* c = sub(th, "edit", "change a thread's state; the edit is a new checkpoint (a branch if not at the newest)");
    c->add_option("image", path, "image file")->required();
    c->add_option("thread", thread, "thread id")->required();
    c->add_option("--set", input, "state values as a JSON object")->required();
    c->add_option("--from", ckpt, "checkpoint to edit (default: the newest)");
    c->add_option("--as-node", as_node, "apply as if this node wrote it (its edges choose what runs next)");
    c->callback([&g, object_option] {
      Image img = open_image(false);
      object_option(input, "--set", "{\"n\": 5}");
      std::string id = edit_thread(img, thread, input, {.from = ckpt, .as_node = as_node});
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
      Image img = open_image(false);
      auto f = fork_thread(img, thread, ckpt, to);
      emit(g, {{"thread", f.thread}, {"checkpoint", f.checkpoint}, {"from", {{"thread", thread}, {"checkpoint", ckpt}}}},
           "forked " + thread + "@" + ckpt + " into thread " + f.thread + "\n");
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
      Image img = open_image(false);
      ThreadRunOptions o = run_options(g, limit, durability == "full");
      o.from = ckpt;
      auto r = resume_thread(img, thread, value, o);
      emit(g, result_json(r), result_text(r));
    });
  }
}

}  // namespace a4ps::cli
