// a4ps run | chat | persona: the agent you talk to.
#include <unistd.h>

#include <editline/readline.h>  // libedit: line editing and history in chat

#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>

#include "cli.h"
#include "governance/governance.h"
#include "graph/graph.h"
#include "image/image.h"
#include "llm/llm.h"
#include "persona/agent.h"
#include "persona/persona.h"
#include "util/util.h"

namespace a4ps::cli {

std::string chosen_model(const image::Image& img, const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* e = std::getenv("A4PS_MODEL"); e && *e) return e;
  if (auto s = img.setting("model"); !s.empty()) return s;
  return img.meta("base_model_path");
}

namespace {

using graph::json;
namespace fs = std::filesystem;

struct RunFlags {
  std::string image, model, thread, sandbox, resume;
  int max_rounds = 2, max_turns = 8, max_tokens = 0, step_limit = 200, threads = 0;
  bool quiet = false;
};

std::string default_image() {
  const char* e = std::getenv("A4PS_IMAGE");
  return e && *e ? e : "agent.a4ps";
}

// Like `ollama run`: the image is made on first use.
image::Image open_or_create(const std::string& path) {
  if (!fs::exists(path)) {
    image::Image::create(path);
    std::cerr << "created image " << path << "\n";
  }
  return open_guarded(path);
}

// The model spec to run with; pulls the pinned default when none is chosen.
std::string resolve_model(const image::Image& img, const std::string& flag) {
  std::string m = chosen_model(img, flag);
  if (m.empty()) {
    auto d = llm::default_model();
    std::cerr << "no model chosen (--model, A4PS_MODEL or the image's model setting); using the default "
              << d.name << "\n";
    m = llm::ensure_default_model(pull_progress()).string();
  }
  bool remote = m.rfind("ollama:", 0) == 0 || m.rfind("openai:", 0) == 0 || m.rfind("scripted:", 0) == 0;
  if (!remote && !fs::exists(m))
    throw Error("model " + m + " does not exist; pass --model with a GGUF file, ollama:NAME or openai:URL#MODEL");
  return m;
}

const char* ansi(const std::string& colour) {
  static const std::map<std::string, const char*> c = {{"red", "31"}, {"green", "32"}, {"yellow", "33"},
                                                       {"blue", "34"}, {"magenta", "35"}, {"cyan", "36"}};
  auto it = c.find(colour);
  return it == c.end() ? "1" : it->second;
}

std::string clip(std::string_view s, size_t n) { return utf8_clip(s, n); }
std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Prints each persona's turn as it happens: its name (in its colour on a terminal), its
// words streamed as they are generated, what its code did.
struct Printer {
  bool on = true, tty = false;
  std::map<std::string, std::string> colours;
  std::string streaming;  // the persona whose words are being streamed

  Printer(const image::Image& img, bool enabled) : on(enabled), tty(isatty(1)) {
    for (auto& p : persona::load_all(img)) colours[p.name] = p.colour;
  }
  std::string name(const std::string& p) const {
    auto it = colours.find(p);
    std::string c = it == colours.end() ? "" : it->second;
    return tty ? std::string("\033[1;") + ansi(c) + "m" + p + "\033[0m" : p;
  }
  void token(const std::string& persona, std::string_view piece) {
    if (!on) return;
    if (streaming != persona) {
      if (!streaming.empty()) std::cout << "\n";
      std::cout << name(persona) << ": ";
      streaming = persona;
    }
    std::cout << piece << std::flush;
  }
  void turn(const json& t) {
    if (!on) return;
    std::string p = t.value("persona", ""), kind = t.value("kind", "");
    bool streamed = streaming == p;
    if (streamed) std::cout << "\n";
    streaming.clear();
    if (kind == "route") {
      auto r = t.value("route", json::object());
      std::cout << name(p) << " → " << r.value("next", std::string("?")) << ": " << r.value("brief", std::string()) << "\n";
    } else if (kind == "critique") {
      auto c = t.value("critique", json::object());
      std::cout << name(p) << ": " << c.value("verdict", std::string("?")) << " — " << c.value("reasons", std::string()) << "\n";
    } else if (!streamed) {
      std::cout << name(p) << ": " << t.value("content", std::string()) << "\n";
    }
    if (t.contains("result")) {
      auto& r = t["result"];
      std::string out = r.value("ok", false) ? clip(trim(r.value("stdout", std::string()) + r.value("value", std::string())), 300)
                                            : r.value("error_type", std::string()) + ": " + clip(r.value("error", std::string()), 200);
      std::cout << "  [sandbox] " << (r.value("ok", false) ? "ran: " : "failed: ") << out << "\n";
    }
    if (t.contains("forged")) {
      auto& f = t["forged"];
      std::cout << "  [forge] " << (f.value("ok", false) ? "wrote" : "could not write") << " tool " << f.value("name", std::string())
                << " in " << f.value("attempts", 0) << " attempt(s)"
                << (f.contains("proposal") ? "; proposal " + std::to_string(f["proposal"].get<int64_t>()) + " waits for a human" : "")
                << "\n";
    }
    if (t.contains("hits")) std::cout << "  [memory] " << t["hits"].size() << " passage(s) found\n";
    std::cout << std::flush;
  }
};

json without_prompts(json transcript) {
  for (auto& t : transcript) t.erase("prompt");
  return transcript;
}

// One image, its checkpointer and the agent graph, for run and chat.
struct Agent {
  image::Image img;
  std::unique_ptr<graph::Checkpointer> cp;
  std::unique_ptr<graph::CompiledGraph> graph;
  std::string model;
  std::unique_ptr<Printer> printer;

  Agent(const RunFlags& f, bool print) : img(open_or_create(f.image)), cp(graph::image_checkpointer(img)) {
    printer = std::make_unique<Printer>(img, print);
    persona::AgentOptions o{.sandbox = f.sandbox, .max_rounds = f.max_rounds, .max_turns = f.max_turns, .max_tokens = f.max_tokens, .n_threads = f.threads};
    Printer* pr = printer.get();
    o.on_token = [pr](const std::string& p, std::string_view piece) { pr->token(p, piece); };
    graph = std::make_unique<graph::CompiledGraph>(
        persona::agent_graph(img, o).compile({.checkpointer = cp.get(), .name = persona::kAgentGraph}));
  }
  graph::RunConfig config(const std::string& thread, int limit) {
    Printer* pr = printer.get();
    return {.thread_id = thread, .step_limit = limit, .on_event = [pr](const graph::StreamEvent& e) {
              if (e.type == "node_end" && e.data.is_object() && e.data.contains("transcript"))
                for (auto& t : e.data["transcript"]) pr->turn(t);
            }};
  }
  graph::RunResult ask(const std::string& thread, const std::string& task, int limit) {
    return graph->invoke(persona::task_input(task, model), config(thread, limit));
  }
  graph::RunResult resume(const std::string& thread, int limit) {
    auto t = cp->thread(thread);
    if (!t) throw Error("no thread '" + thread + "' in " + img.path().string() + "; see `a4ps thread ls`");
    if (t->meta.value("graph", "") != persona::kAgentGraph)
      throw Error("thread '" + thread + "' is not an agent conversation; use `a4ps thread resume`");
    if (t->status == "interrupted") return graph->resume(nullptr, config(thread, limit));
    if (t->status == "done") throw Error("thread '" + thread + "' is done; give a new task with --thread " + thread);
    return graph->invoke(nullptr, config(thread, limit));
  }
};

json result_json(const Agent& a, const std::string& thread, const graph::RunResult& r) {
  int task = static_cast<int>(r.state.value("history", json::array()).size()) - (r.status == "done" ? 1 : 0);
  json turns = json::array();
  for (auto& t : r.state.value("transcript", json::array()))
    if (t.value("task", 0) == task) turns.push_back(t);
  return {{"image", a.img.path().string()}, {"thread", thread}, {"status", r.status}, {"model", a.model},
          {"answer", r.status == "done" ? r.state.value("answer", json()) : json()},
          {"interrupts", r.interrupts}, {"transcript", without_prompts(turns)}};
}

// What a person should do when the run stops for them.
std::string waiting_text(const Agent& a, const std::string& thread, const graph::RunResult& r, bool in_chat) {
  std::ostringstream o;
  for (auto& i : r.interrupts) {
    auto p = i.value("payload", json::object());
    if (!p.contains("proposal")) continue;
    int64_t id = p["proposal"];
    o << "\nwaiting for a human: proposal " << id << " (" << p.value("kind", std::string()) << " " << p.value("target", std::string()) << ")\n";
    o << p.value("summary", std::string()) << "\n";
    if (in_chat) o << "say /approve " << id << " REASON or /reject " << id << " REASON\n";
    else
      o << "approve: a4ps approvals approve " << a.img.path().string() << " " << id << " --reason \"...\"\n"
        << "then:    a4ps run --resume " << thread << " -i " << a.img.path().string() << "\n";
  }
  return o.str();
}

void add_agent_options(CLI::App* c, RunFlags& f) {
  c->add_option("-i,--image", f.image, "image file (default: $A4PS_IMAGE or ./agent.a4ps, created when missing)");
  c->add_option("-m,--model", f.model, "GGUF file, ollama:NAME[@URL], openai:URL#MODEL or scripted:FILE (default: $A4PS_MODEL, the image's setting, its base model, else a pinned download)");
  c->add_option("--thread", f.thread, "conversation thread (default: a new one)");
  c->add_option("--sandbox", f.sandbox, "where BRICK's code runs: gvisor or bwrap (default: the strongest that works)");
  c->add_option("--max-rounds", f.max_rounds, "times ROBIN may send BRICK back to revise")->check(CLI::Range(0, 20));
  c->add_option("--max-turns", f.max_turns, "ALFRED's routing decisions before he must answer")->check(CLI::Range(1, 100));
  c->add_option("--max-tokens", f.max_tokens, "cap on every persona's turn (default: each persona's own)")->check(CLI::Range(0, 32768));
  c->add_option("--step-limit", f.step_limit, "graph steps before a run stops with an error")->check(CLI::Range(1, 100000));
  c->add_option("--threads", f.threads, "CPU threads for embedded models (default: every core; leave one free on a busy machine)")
      ->check(CLI::Range(0, 1024));
}

void print_personas(const Globals& g, const image::Image* img) {
  auto specs = img ? persona::load_all(*img) : persona::builtin_specs();
  json j = json::array();
  std::ostringstream o;
  for (auto& s : specs) {
    j.push_back({{"name", s.name}, {"role", s.role}, {"actions", s.actions}, {"model", s.model},
                 {"builtin", s.builtin}, {"version", s.version}});
    std::string act;
    for (auto& a : s.actions) act += (act.empty() ? "" : ",") + a;
    o << s.name << (s.builtin ? "  (built in)" : "  v" + std::to_string(s.version)) << "  [" << act << "]  " << s.role << "\n";
  }
  emit(g, j, o.str());
}

}  // namespace

void add_run_commands(CLI::App& app, Globals& g) {
  static RunFlags f;
  static std::string task;
  {
    auto* c = sub(&app, "run", "give the agent one task; prints each persona's turn and exits with the answer");
    c->add_option("task", task, "what to do");
    add_agent_options(c, f);
    c->add_option("--resume", f.resume, "continue a thread that waited for a human");
    c->add_flag("-q,--quiet", f.quiet, "print only the answer");
    c->callback([&g] {
      if (f.image.empty()) f.image = default_image();
      if (task.empty() == f.resume.empty())
        throw Error(task.empty() ? "give a task, e.g. a4ps run \"sum the primes below 100\" (or --resume THREAD)"
                                 : "give either a task or --resume THREAD, not both");
      Agent a(f, !g.json && !f.quiet);
      a.model = resolve_model(a.img, f.model);
      graph::RunResult r;
      std::string thread = f.resume.empty() ? f.thread : f.resume;
      if (!f.resume.empty()) {
        r = a.resume(thread, f.step_limit);
      } else {
        if (thread.empty()) thread = random_id().substr(0, 8);
        auto t = a.cp->thread(thread);
        if (t && t->meta.value("graph", "") != persona::kAgentGraph)
          throw Error("thread '" + thread + "' belongs to another graph; pick another --thread");
        if (t && t->status == "interrupted")
          throw Error("thread '" + thread + "' waits for a human; decide, then a4ps run --resume " + thread);
        r = a.ask(thread, task, f.step_limit);
      }
      if (g.json) {
        std::cout << result_json(a, thread, r).dump(2) << "\n";
      } else if (r.status == "done") {
        if (f.quiet) std::cout << r.state.value("answer", "") << "\n";
        std::cerr << "(thread " << thread << " in " << a.img.path().string() << ")\n";
      } else {
        std::cout << waiting_text(a, thread, r, false);
      }
    });
  }
  {
    auto* c = sub(&app, "chat", "talk with the agent; /help lists the commands");
    add_agent_options(c, f);
    c->callback([&g] {
      if (f.image.empty()) f.image = default_image();
      auto a = std::make_unique<Agent>(f, true);
      a->model = resolve_model(a->img, f.model);
      std::string thread = f.thread.empty() ? random_id().substr(0, 8) : f.thread;
      bool tty = isatty(0);
      std::cout << "a4ps chat — image " << a->img.path().string() << ", model " << a->model << ", thread " << thread
                << "\n/help lists the commands; /quit leaves (the conversation stays in the image)\n";
      std::string line;
      auto decide = [&](bool yes, std::istringstream& args) {
        int64_t id = 0;
        std::string reason;
        args >> id;
        std::getline(args, reason);
        if (auto p = reason.find_first_not_of(' '); p != std::string::npos) reason = reason.substr(p);
        if (id <= 0 || reason.empty()) {
          std::cout << "usage: /" << (yes ? "approve" : "reject") << " ID REASON\n";
          return;
        }
        const char* user = std::getenv("USER");
        a->img.decide(id, yes, user && *user ? user : "user", reason);
        std::cout << "proposal " << id << (yes ? " approved" : " rejected") << "\n";
        auto t = a->cp->thread(thread);
        bool awaited = false;  // by this conversation's graph, which applies it itself
        if (t && t->status == "interrupted")
          for (auto& i : t->meta.value("interrupts", json::array())) {
            json p = i.is_object() ? i.value("payload", json()) : json();
            awaited = awaited || (p.is_object() && p.value("proposal", int64_t{0}) == id);
          }
        if (yes && !awaited) {
          // E.g. an adapter or a persona: it takes effect now, at the next turn.
          governance::apply(a->img, id);
          std::cout << "proposal " << id << " applied\n";
        }
        if (t && t->status == "interrupted") {
          auto r = a->resume(thread, f.step_limit);
          if (r.status != "done") std::cout << waiting_text(*a, thread, r, true);
        }
      };
      // On a terminal: line editing, and history kept across sessions.
      const char* home = std::getenv("HOME");
      fs::path hist = fs::path(home && *home ? home : "/tmp") / ".cache" / "a4ps" / "chat_history";
      if (tty) {
        std::error_code ec;
        fs::create_directories(hist.parent_path(), ec);
        read_history(hist.c_str());
      }
      auto next_line = [&]() -> bool {
        if (!tty) return static_cast<bool>(std::getline(std::cin, line));
        char* l = readline("you> ");
        if (!l) return false;
        line = l;
        free(l);
        if (!line.empty()) {
          add_history(line.c_str());
          write_history(hist.c_str());
        }
        return true;
      };
      for (;;) {
        if (!next_line()) break;
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        try {
          if (line[0] != '/') {
            auto t = a->cp->thread(thread);
            if (t && t->status == "interrupted") {
              std::cout << "the agent waits for your decision first (/approve or /reject)\n";
              continue;
            }
            auto r = a->ask(thread, line, f.step_limit);
            if (r.status != "done") std::cout << waiting_text(*a, thread, r, true);
            continue;
          }
          std::istringstream in(line.substr(1));
          std::string cmd;
          in >> cmd;
          if (cmd == "quit" || cmd == "exit") break;
          if (cmd == "help") {
            std::cout << "/approve ID REASON   say yes to a proposal (a forged tool, an adapter, a persona) and go on\n"
                         "/reject ID REASON    say no\n"
                         "/tools               the image's tools\n"
                         "/state               the conversation's current state\n"
                         "/history             its checkpoints, newest first\n"
                         "/fork [THREAD]       continue in a copy of this conversation\n"
                         "/persona [NAME]      the personas, or one's spec\n"
                         "/quit                leave\n";
          } else if (cmd == "approve" || cmd == "reject") {
            decide(cmd == "approve", in);
          } else if (cmd == "tools") {
            auto tools = a->img.list(image::Kind::Tool);
            if (tools.empty()) std::cout << "no tools yet\n";
            for (auto& t : tools) std::cout << t.name << " v" << t.version << "\n";
          } else if (cmd == "state") {
            auto cp = a->cp->get(thread);
            if (!cp) { std::cout << "nothing yet\n"; continue; }
            json s = cp->state;
            s["transcript"] = without_prompts(s.value("transcript", json::array()));
            std::cout << s.dump(2) << "\n";
          } else if (cmd == "history") {
            for (auto& c : a->cp->list(thread))
              std::cout << c.id << "  step " << c.step << "  " << c.meta.value("source", "") << "  next " << json(c.next).dump() << "\n";
          } else if (cmd == "fork") {
            std::string to;
            in >> to;
            if (to.empty()) to = random_id().substr(0, 8);
            auto cp = a->cp->get(thread);
            if (!cp) { std::cout << "nothing to fork yet\n"; continue; }
            a->graph->fork(thread, cp->id, to);
            thread = to;
            std::cout << "now in thread " << thread << "\n";
          } else if (cmd == "persona") {
            std::string name;
            in >> name;
            if (name.empty()) print_personas(g, &a->img);
            else if (auto s = persona::find(a->img, name)) std::cout << persona::to_toml(*s);
            else std::cout << "no persona " << name << "\n";
          } else {
            std::cout << "unknown command /" << cmd << "; /help lists them\n";
          }
        } catch (const Error& e) {
          std::cout << "error: " << e.what() << "\n";
        }
      }
      std::cout << "(conversation kept as thread " << thread << " in " << a->img.path().string() << ")\n";
    });
  }

}

void add_persona_commands(CLI::App& app, Globals& g) {
  {
    // A conversation as a person reads it (Markdown); the data stays in the checkpoints.
    auto* c = sub(app.get_subcommand("thread"), "transcript", "an agent conversation as Markdown (with --prompts: what each persona saw)");
    static std::string path, thread;
    static bool prompts = false;
    c->add_option("image", path, "image file")->required();
    c->add_option("thread", thread, "thread id")->required();
    c->add_flag("--prompts", prompts, "include the exact prompt of every turn");
    c->callback([&g] {
      auto img = image::Image::open(path, {.read_only = true});
      auto cp = graph::image_checkpointer(img);
      auto last = cp->get(thread);
      if (!last) throw Error("no thread '" + thread + "' in " + path + "; see `a4ps thread ls " + path + "`");
      const json& st = last->state;
      if (!st.contains("transcript")) throw Error("thread '" + thread + "' is not an agent conversation");
      if (g.json) return emit(g, prompts ? st["transcript"] : without_prompts(st["transcript"]), "");
      std::ostringstream o;
      o << "# Thread " << thread << "\n";
      auto history = st.value("history", json::array());
      int task = -1;
      for (auto& t : st["transcript"]) {
        int n = t.value("task", 0);
        if (n != task) {
          task = n;
          std::string q = n < static_cast<int>(history.size()) ? history[n].value("task", "") : st.value("task", "");
          o << "\n## Task " << n + 1 << ": " << q << "\n";
        }
        std::string kind = t.value("kind", ""), who = t.value("persona", "");
        o << "\n**" << who << "** (" << kind << ")";
        if (kind == "route") o << " → " << t["route"].value("next", "") << ": " << t["route"].value("brief", "") << "\n";
        else if (kind == "critique") o << ": " << t["critique"].value("verdict", "") << " — " << t["critique"].value("reasons", "") << "\n";
        else o << "\n\n" << t.value("content", "") << "\n";
        if (t.contains("result")) o << "\n> sandbox: " << trim(t["result"].value("ok", false) ? t["result"].value("stdout", "") : t["result"].value("error", "")) << "\n";
        if (prompts && t.contains("prompt"))
          for (auto& m : t["prompt"]) o << "\n<details><summary>" << m.value("role", "") << "</summary>\n\n```\n" << m.value("content", "") << "\n```\n</details>\n";
      }
      if (st.value("answer", json()).is_string()) o << "\n## Answer\n\n" << st["answer"].get<std::string>() << "\n";
      std::cout << o.str();
    });
  }

  auto* pc = sub(&app, "persona", "the personas: list, show, propose a new or changed one");
  pc->require_subcommand(1);
  static std::string path, name, file, reason;
  {
    auto* c = sub(pc, "ls", "the personas of an image (or the built-in ones)");
    c->add_option("image", path, "image file");
    c->callback([&g] {
      if (path.empty()) return print_personas(g, nullptr);
      auto img = image::Image::open(path, {.read_only = true});
      print_personas(g, &img);
    });
  }
  {
    auto* c = sub(pc, "show", "a persona's spec (TOML)");
    c->add_option("image", path, "image file")->required();
    c->add_option("name", name, "persona")->required();
    c->callback([&g] {
      auto img = image::Image::open(path, {.read_only = true});
      auto s = persona::find(img, name);
      if (!s) throw Error("no persona " + name + " in " + path + "; see `a4ps persona ls " + path + "`");
      emit(g, {{"name", s->name}, {"builtin", s->builtin}, {"version", s->version}, {"toml", persona::to_toml(*s)}},
           persona::to_toml(*s));
    });
  }
  {
    auto* c = sub(pc, "propose", "propose a new or changed persona from a TOML file (lands once approved and applied)");
    c->add_option("image", path, "image file")->required();
    c->add_option("file", file, "persona spec (TOML)")->required();
    c->add_option("--reason", reason, "why")->required();
    c->callback([&g] {
      auto img = open_guarded(path);
      int64_t id = persona::propose_change(img, read_file(file), reason);
      emit(g, {{"proposal", id}},
           "proposal " + std::to_string(id) + " filed; a human approves it with `a4ps approvals approve " + path + " " +
               std::to_string(id) + " --reason ...` and lands it with `a4ps approvals apply " + path + " " + std::to_string(id) + "`\n");
    });
  }
}

}  // namespace a4ps::cli
