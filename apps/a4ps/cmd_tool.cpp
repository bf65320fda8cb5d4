// a4ps tool ls | show | diff | forge | run | rollback
#include <sstream>

#include "a4ps/tools.h"
#include "a4ps/text.h"
#include "cli.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

std::vector<std::string> split_params(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string x; std::getline(in, x, ',');)
    if (!x.empty()) out.push_back(x);
  return out;
}

std::string attempts_text(const ForgeOutcome& r) {
  std::ostringstream o;
  for (size_t i = 0; i < r.attempts.size(); ++i) {
    auto& a = r.attempts[i];
    o << "attempt " << i + 1 << ": " << (a.passed ? "passed" : a.problems.empty() ? "tests failed" : "refused by the check") << "\n";
    for (auto& p : a.problems) o << "  - " << p << "\n";
    if (!a.error.empty()) o << "  " << a.error.substr(0, 400) << (a.error.size() > 400 ? "..." : "") << "\n";
  }
  return o.str();
}

json attempts_json(const ForgeOutcome& r) {
  json a = json::array();
  for (auto& x : r.attempts) a.push_back({{"passed", x.passed}, {"problems", x.problems}, {"error", x.error}, {"source", x.source}});
  return a;
}

Image open_existing(const std::string& path, bool read_only) {
  return Image::open(path, {.create_if_missing = false, .read_only = read_only});
}

}  // namespace

void add_tool_commands(CLI::App& app, Globals& g) {
  static std::string path, name, params, doc, tests_file, model, provider, code;
  static int64_t va = 0, vb = 0;
  static bool unsafe = false;
  auto* tl = sub(&app, "tool", "the agent's tools: list, read, compare, forge, run, roll back");
  tl->require_subcommand(1);
  auto sandbox_opts = [](CLI::App* c) {
    c->add_option("--sandbox", provider, "gvisor, bwrap or none (default: the strongest that works)");
    c->add_flag("--unsafe-no-sandbox", unsafe, "allow --sandbox none: agent code runs unisolated (development only)");
  };
  {
    auto* c = sub(tl, "ls", "registered tools (latest versions)");
    c->add_option("image", path, "image file")->required();
    c->callback([&g] {
      auto img = open_existing(path, true);
      json j = json::array();
      std::ostringstream o;
      for (auto& t : list_tools(img)) {
        j.push_back({{"name", t.name}, {"version", t.version}, {"created_at", t.created_at}});
        o << t.name << "  v" << t.version << "  " << t.created_at << "\n";
      }
      emit(g, j, j.empty() ? "no tools yet (the agent forges them; see `a4ps tool forge`)\n" : o.str());
    });
  }
  {
    auto* c = sub(tl, "show", "a tool's source");
    c->add_option("image", path, "image file")->required();
    c->add_option("name", name, "tool name")->required();
    c->add_option("--version", va, "version (default: the latest)");
    c->callback([&g] {
      auto img = open_existing(path, true);
      auto t = tool_version(img, name, va);
      emit(g, {{"name", t.name}, {"version", t.version}, {"source", t.source}}, t.source);
    });
  }
  {
    auto* c = sub(tl, "diff", "compare two versions of a tool");
    c->add_option("image", path, "image file")->required();
    c->add_option("name", name, "tool name")->required();
    c->add_option("a", va, "older version")->required();
    c->add_option("b", vb, "newer version")->required();
    c->callback([&g] {
      auto img = open_existing(path, true);
      std::string d = diff_tool(img, name, va, vb);
      emit(g, {{"diff", d}}, d.empty() ? "no difference\n" : d);
    });
  }
  {
    auto* c = sub(tl, "forge", "have the model write a tool, check and test it in the sandbox, and propose it");
    c->add_option("image", path, "image file")->required();
    c->add_option("--name", name, "function name")->required();
    c->add_option("--params", params, "comma-separated parameter names");
    c->add_option("--doc", doc, "what it must do")->required();
    c->add_option("--tests", tests_file, "file of Python asserts that call it")->required();
    c->add_option("--model", model, "GGUF path, ollama:NAME, openai:URL#MODEL or scripted:FILE")->required();
    sandbox_opts(c);
    c->callback([&g] {
      auto img = open_existing(path, false);
      ToolRequest q{name, split_params(params), doc, read_file_bytes(tests_file)};
      auto r = forge_tool(img, q, {.model = model, .sandbox = provider, .allow_unsafe = unsafe});
      json j = {{"ok", r.ok}, {"proposal", r.proposal}, {"attempts", attempts_json(r)}};
      emit(g, j, attempts_text(r) + (r.ok ? "proposed as #" + std::to_string(r.proposal) + ": a human approves it with `a4ps approvals approve " +
                                                path + " " + std::to_string(r.proposal) + " --reason ...` and applies it with `a4ps approvals apply`\n"
                                          : ""));
      if (!r.ok) throw Error("the forge gave up on " + name + " after " + std::to_string(r.attempts.size()) + " attempts");
    });
  }
  {
    auto* c = sub(tl, "run", "run agent code in the sandbox with the registered tools; a missing function is forged");
    c->add_option("image", path, "image file")->required();
    c->add_option("code", code, "Python code")->required();
    c->add_option("--model", model, "with a model: forge a function the code calls but nobody wrote (doesNotUnderstand)");
    sandbox_opts(c);
    c->callback([&g] {
      auto img = open_existing(path, false);
      auto a = run_agent_code(img, code, {.model = model, .sandbox = provider, .allow_unsafe = unsafe});
      const CodeResult& r = a.code;
      json j = {{"ok", r.ok}, {"stdout", r.output}, {"stderr", r.errors}, {"value", r.value},
                {"error_type", r.error_type}, {"error", r.error}, {"traceback", r.traceback}, {"timed_out", r.timed_out}};
      std::string text = r.output + (r.value.empty() ? "" : r.value + "\n");
      if (!r.ok) {
        if (a.forged) {
          const ForgeOutcome& f = a.forge;
          j["forged"] = {{"name", a.missing}, {"ok", f.ok}, {"proposal", f.proposal}, {"attempts", attempts_json(f)}};
          text += a.missing + " does not exist: forged it (" + std::to_string(f.attempts.size()) + " attempts) " +
                  (f.ok ? "and proposed it as #" + std::to_string(f.proposal) + "; approve and apply it, then run again\n"
                        : "but the forge gave up\n");
        } else if (!a.missing.empty()) {
          text += a.missing + " does not exist; pass --model to forge it\n";
        }
        emit(g, j, text);
        throw Error("the code failed: " + r.error_type + (r.error.empty() ? "" : ": " + r.error));
      }
      emit(g, j, text);
    });
  }
  {
    auto* c = sub(tl, "rollback", "propose returning a tool to an earlier version");
    c->add_option("image", path, "image file")->required();
    c->add_option("name", name, "tool name")->required();
    c->add_option("--to", va, "version to return to")->required();
    c->callback([&g] {
      auto img = open_existing(path, false);
      int64_t id = propose_tool_rollback(img, name, va);
      emit(g, {{"proposal", id}}, "proposed rolling " + name + " back to v" + std::to_string(va) + " as #" + std::to_string(id) + "\n");
    });
  }
}

}  // namespace a4ps::cli
