// a4ps run | chat | persona: the agent you talk to.
#include <unistd.h>

#include <editline/readline.h>  // libedit: line editing and history in chat

#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>

#include "a4ps/personas.h"
#include "a4ps/session.h"
#include "a4ps/text.h"
#include "a4ps/threads.h"
#include "a4ps/tools.h"
#include "cli.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct RunFlags {
  std::string image, model, thread, sandbox, resume;
  int max_rounds = 2, max_turns = 8, max_tokens = 0, step_limit = 200, threads = 0;
  bool quiet = false;
  std::vector<std::string> try_adapters;  // PERSONA=SHA256 (a prefix) or PERSONA=none
};

std::string default_image() {
  const char* e = std::getenv("A4PS_IMAGE");
  return e && *e ? e : "agent.a4ps";
}

const char* ansi(const std::string& colour) {
  static const std::map<std::string, const char*> c = {{"red", "31"}, {"green", "32"}, {"yellow", "33"},
                                                       {"blue", "34"}, {"magenta", "35"}, {"cyan", "36"}};
  auto it = c.find(colour);
  return it == c.end() ? "1" : it->second;
}

std::string clip(std::string_view s, size_t n) { return clip_text(s, n); }
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

  Printer(const a4ps::Image& img, bool enabled) : on(enabled), tty(isatty(1)) {
    for (auto& p : list_personas(img)) colours[p.name] = p.colour;
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
  void turn(const a4ps::Turn& t) {
    if (!on) return;
    const std::string& p = t.persona;
    bool streamed = streaming == p;
    if (streamed) std::cout << "\n";
    streaming.clear();
    if (t.kind == "route") std::cout << name(p) << " → " << t.next << ": " << t.brief << "\n";
    else if (t.kind == "critique") std::cout << name(p) << ": " << t.verdict << " — " << t.reasons << "\n";
    else if (!streamed) std::cout << name(p) << ": " << t.content << "\n";
    if (t.ran_code) {
      std::string out = t.code_ok ? clip(trim(t.code_stdout + t.code_value), 300) : t.code_error_type + ": " + clip(t.code_error, 200);
      std::cout << "  [sandbox] " << (t.code_ok ? "ran: " : "failed: ") << out << "\n";
    }
    if (t.forged)
      std::cout << "  [forge] " << (t.forged_ok ? "wrote" : "could not write") << " tool " << t.forged_tool << " in "
                << t.forged_attempts << " attempt(s)"
                << (t.forged_proposal ? "; proposal " + std::to_string(t.forged_proposal) + " waits for a human" : "") << "\n";
    if (t.memory_hits >= 0) std::cout << "  [memory] " << t.memory_hits << " passage(s) found\n";
    std::cout << std::flush;
  }
};

// The image, made on first use like `ollama run`.
a4ps::Image open_or_create(const std::string& path) {
  bool made = !fs::exists(path);
  auto img = a4ps::Image::open(path);
  if (made) std::cerr << "created image " << path << "\n";
  return img;
}

// --try-adapter PERSONA=SHA256 flags, read before the image is opened (or created).
std::map<std::string, std::string> tried_adapters(const RunFlags& f) {
  std::map<std::string, std::string> out;
  for (auto& t : f.try_adapters) {
    auto eq = t.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == t.size())
      throw a4ps::Error("--try-adapter takes PERSONA=SHA256 (a training run's, see a4ps learn runs) or PERSONA=none; got '" + t + "'");
    out[t.substr(0, eq)] = t.substr(eq + 1);
  }
  return out;
}

// One image and a session of the agent over it, for run and chat.
struct Agent {
  std::map<std::string, std::string> adapters;  // first: a bad flag opens no image
  a4ps::Image image;
  std::unique_ptr<Printer> printer;
  std::unique_ptr<a4ps::Session> session;

  Agent(const RunFlags& f, bool print) : adapters(tried_adapters(f)), image(open_or_create(f.image)) {
    printer = std::make_unique<Printer>(image, print);
    Printer* pr = printer.get();
    a4ps::SessionOptions o{.model = f.model, .sandbox = f.sandbox, .max_rounds = f.max_rounds, .max_turns = f.max_turns,
                           .max_tokens = f.max_tokens, .n_threads = f.threads, .step_limit = f.step_limit};
    o.on_token = [pr](const std::string& p, std::string_view piece) { pr->token(p, piece); };
    o.on_turn = [pr](const a4ps::Turn& t) { pr->turn(t); };
    o.on_download = pull_progress();
    o.on_notice = [](const std::string& line) { std::cerr << line << "\n"; };
    o.adapters = adapters;
    session = std::make_unique<a4ps::Session>(image, o);
  }
};

// What a person should do when the run stops for them.
std::string waiting_text(const Agent& a, const a4ps::Answer& r, bool in_chat) {
  std::ostringstream o;
  for (auto& p : r.waiting) {
    o << "\nwaiting for a human: proposal " << p.id << " (" << p.kind << " " << p.target << ")\n";
    o << p.summary << "\n";
    if (in_chat) o << "say /approve " << p.id << " REASON or /reject " << p.id << " REASON\n";
    else
      o << "approve: a4ps approvals approve " << a.image.path() << " " << p.id << " --reason \"...\"\n"
        << "then:    a4ps run --resume " << r.thread << " -i " << a.image.path() << "\n";
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
  c->add_option("--try-adapter", f.try_adapters,
                "PERSONA=SHA256: run the persona with a training run's adapter not yet approved (a trial; nothing changes), or PERSONA=none")
      ->allow_extra_args(false);  // one per --try-adapter: the task stays the task
}

void print_personas(const Globals& g, const a4ps::Image* img) {
  auto specs = img ? list_personas(*img) : builtin_personas();
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
      std::string thread = f.resume.empty() ? f.thread : f.resume;
      if (thread.empty()) thread = new_id().substr(0, 8);
      a4ps::Answer r = f.resume.empty() ? a.session->ask(thread, task) : a.session->resume(thread);
      if (g.json) {
        std::cout << r.json << "\n";
      } else if (r.status == a4ps::RunStatus::Done) {
        if (f.quiet) std::cout << r.text << "\n";
        std::cerr << "(thread " << thread << " in " << a.image.path() << ")\n";
      } else {
        std::cout << waiting_text(a, r, false);
      }
    });
  }
  {
    auto* c = sub(&app, "chat", "talk with the agent; /help lists the commands");
    add_agent_options(c, f);
    c->callback([&g] {
      if (f.image.empty()) f.image = default_image();
      auto a = std::make_unique<Agent>(f, true);
      std::string thread = f.thread.empty() ? new_id().substr(0, 8) : f.thread;
      bool tty = isatty(0);
      std::cout << "a4ps chat — image " << a->image.path() << ", model " << a->session->model() << ", thread " << thread
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
        auto d = a->session->decide(id, yes, user && *user ? user : "user", reason, thread);
        std::cout << "proposal " << id << (yes ? " approved" : " rejected") << "\n";
        if (d.applied_now) std::cout << "proposal " << id << " applied\n";  // e.g. an adapter: in effect from the next turn
        if (d.can_resume) {
          auto r = a->session->resume(thread);
          if (r.status != a4ps::RunStatus::Done) std::cout << waiting_text(*a, r, true);
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
            if (a->session->waiting(thread)) {
              std::cout << "the agent waits for your decision first (/approve or /reject)\n";
              continue;
            }
            auto r = a->session->ask(thread, line);
            if (r.status != a4ps::RunStatus::Done) std::cout << waiting_text(*a, r, true);
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
            auto tools = list_tools(a->image);
            if (tools.empty()) std::cout << "no tools yet\n";
            for (auto& t : tools) std::cout << t.name << " v" << t.version << "\n";
          } else if (cmd == "state") {
            std::string s = a->session->state_json(thread);
            if (s.empty()) { std::cout << "nothing yet\n"; continue; }
            std::cout << json::parse(s).dump(2) << "\n";
          } else if (cmd == "history") {
            for (auto& c : a->session->history(thread))
              std::cout << c.id << "  step " << c.step << "  " << c.source << "  next " << json(c.next).dump() << "\n";
          } else if (cmd == "fork") {
            std::string to;
            in >> to;
            if (to.empty()) to = new_id().substr(0, 8);
            if (!a->session->fork(thread, to)) { std::cout << "nothing to fork yet\n"; continue; }
            thread = to;
            std::cout << "now in thread " << thread << "\n";
          } else if (cmd == "persona") {
            std::string name;
            in >> name;
            if (name.empty()) print_personas(g, &a->image);
            else if (auto s = find_persona(a->image, name)) std::cout << s->toml;
            else std::cout << "no persona " << name << "\n";
          } else {
            std::cout << "unknown command /" << cmd << "; /help lists them\n";
          }
        } catch (const Error& e) {
          std::cout << "error: " << e.what() << "\n";
        }
      }
      std::cout << "(conversation kept as thread " << thread << " in " << a->image.path() << ")\n";
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
      auto img = a4ps::Image::open(path, {.create_if_missing = false, .read_only = true});
      if (g.json) return emit(g, json::parse(thread_transcript_json(img, thread, prompts)), "");
      std::cout << thread_transcript(img, thread, prompts);
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
      auto img = a4ps::Image::open(path, {.create_if_missing = false, .read_only = true});
      print_personas(g, &img);
    });
  }
  {
    auto* c = sub(pc, "show", "a persona's spec (TOML)");
    c->add_option("image", path, "image file")->required();
    c->add_option("name", name, "persona")->required();
    c->callback([&g] {
      auto img = a4ps::Image::open(path, {.create_if_missing = false, .read_only = true});
      auto s = find_persona(img, name);
      if (!s) throw Error("no persona " + name + " in " + path + "; see `a4ps persona ls " + path + "`");
      emit(g, {{"name", s->name}, {"builtin", s->builtin}, {"version", s->version}, {"toml", s->toml}}, s->toml);
    });
  }
  {
    auto* c = sub(pc, "propose", "propose a new or changed persona from a TOML file (lands once approved and applied)");
    c->add_option("image", path, "image file")->required();
    c->add_option("file", file, "persona spec (TOML)")->required();
    c->add_option("--reason", reason, "why")->required();
    c->callback([&g] {
      std::string toml = read_file_bytes(file);
      auto img = a4ps::Image::open(path, {.create_if_missing = false});
      int64_t id = propose_persona(img, toml, reason);
      emit(g, {{"proposal", id}},
           "proposal " + std::to_string(id) + " filed; a human approves it with `a4ps approvals approve " + path + " " +
               std::to_string(id) + " --reason ...` and lands it with `a4ps approvals apply " + path + " " + std::to_string(id) + "`\n");
    });
  }
}

}  // namespace a4ps::cli
