// a4ps tool ls | show | diff | forge | run | rollback
#include <sstream>

#include "cli.h"
#include "codex/codex.h"
#include "forge/forge.h"
#include "image/diff.h"
#include "image/image.h"
#include "llm/model_manager.h"
#include "sandbox/sandbox.h"
#include "util/util.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::unique_ptr<sandbox::Kernel> kernel_for(const std::string& provider, const image::Image& img, bool unsafe) {
  fs::path ws = fs::path(img.path().string() + ".work");
  sandbox::Provider p = provider.empty() ? sandbox::strongest() : sandbox::parse_provider(provider);
  return sandbox::Kernel::start({.provider = p, .workspace = ws, .allow_unsafe = unsafe});
}

std::vector<std::string> split_params(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string x; std::getline(in, x, ',');)
    if (!x.empty()) out.push_back(x);
  return out;
}

std::string attempts_text(const forge::ForgeResult& r) {
  std::ostringstream o;
  for (size_t i = 0; i < r.attempts.size(); ++i) {
    auto& a = r.attempts[i];
    o << "attempt " << i + 1 << ": " << (a.passed ? "passed" : a.problems.empty() ? "tests failed" : "refused by the check") << "\n";
    for (auto& p : a.problems) o << "  - " << p << "\n";
    if (!a.error.empty()) o << "  " << a.error.substr(0, 400) << (a.error.size() > 400 ? "..." : "") << "\n";
  }
  return o.str();
}

json attempts_json(const forge::ForgeResult& r) {
  json a = json::array();
  for (auto& x : r.attempts) a.push_back({{"passed", x.passed}, {"problems", x.problems}, {"error", x.error}, {"source", x.source}});
  return a;
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
      auto img = image::Image::open(path, {.read_only = true});
      json j = json::array();
      std::ostringstream o;
      for (auto& t : img.list(image::Kind::Tool)) {
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
      auto img = image::Image::open(path, {.read_only = true});
      auto t = img.get(image::Kind::Tool, name, va);
      if (!t || t->removed) throw Error("no tool '" + name + "'" + (va ? " version " + std::to_string(va) : "") + "; see `a4ps tool ls`");
      emit(g, {{"name", t->name}, {"version", t->version}, {"source", t->content}}, t->content);
    });
  }
  {
    auto* c = sub(tl, "diff", "compare two versions of a tool");
    c->add_option("image", path, "image file")->required();
    c->add_option("name", name, "tool name")->required();
    c->add_option("a", va, "older version")->required();
    c->add_option("b", vb, "newer version")->required();
    c->callback([&g] {
      auto img = image::Image::open(path, {.read_only = true});
      auto a = img.get(image::Kind::Tool, name, va), b = img.get(image::Kind::Tool, name, vb);
      if (!a || !b) throw Error("tool '" + name + "' has no version " + std::to_string(a ? vb : va));
      std::string d = image::unified_diff(a->content, b->content, name + "@v" + std::to_string(va), name + "@v" + std::to_string(vb));
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
      auto img = open_guarded(path);
      auto k = kernel_for(provider, img, unsafe);
      llm::ModelManager mm;
      auto backend = llm::open_backend(model, mm, {"BRICK", {}, {}});
      forge::ToolSpec spec{name, split_params(params), doc, read_file(tests_file)};
      auto r = forge::forge(spec, *backend, *k, img);
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
      auto img = open_guarded(path);
      auto k = kernel_for(provider, img, unsafe);
      forge::load_tools(*k, img);
      sandbox::Result r = k->run(code);
      json j = {{"ok", r.ok}, {"stdout", r.stdout_text}, {"stderr", r.stderr_text}, {"value", r.value},
                {"error_type", r.error_type}, {"error", r.error}, {"traceback", r.traceback}, {"timed_out", r.timed_out}};
      std::string text = r.stdout_text + (r.value.empty() ? "" : r.value + "\n");
      if (!r.ok) {
        forge::ToolSpec spec = forge::spec_from_name_error(*k, code, r);
        if (!spec.name.empty() && !model.empty()) {  // doesNotUnderstand: build what was called
          llm::ModelManager mm;
          auto backend = llm::open_backend(model, mm, {"BRICK", {}, {}});
          spec.tests = "assert callable(" + spec.name + ")";
          auto f = forge::forge(spec, *backend, *k, img);
          j["forged"] = {{"name", spec.name}, {"ok", f.ok}, {"proposal", f.proposal}, {"attempts", attempts_json(f)}};
          text += spec.name + " does not exist: forged it (" + std::to_string(f.attempts.size()) + " attempts) " +
                  (f.ok ? "and proposed it as #" + std::to_string(f.proposal) + "; approve and apply it, then run again\n"
                        : "but the forge gave up\n");
        } else if (!spec.name.empty()) {
          text += spec.name + " does not exist; pass --model to forge it\n";
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
      auto img = open_guarded(path);
      auto cur = img.get(image::Kind::Tool, name);
      auto old = img.get(image::Kind::Tool, name, va);
      if (!cur || !old || old->removed) throw Error("tool '" + name + "' has no version " + std::to_string(va) + "; see `a4ps tool ls`");
      int64_t id = img.propose(image::ProposalKind::ToolRollback, name, {{"before", cur->content}, {"after", old->content}, {"to_version", va}});
      emit(g, {{"proposal", id}}, "proposed rolling " + name + " back to v" + std::to_string(va) + " as #" + std::to_string(id) + "\n");
    });
  }
}

}  // namespace a4ps::cli
