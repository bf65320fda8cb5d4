#include "forge/forge.h"

#include <algorithm>
#include <regex>

#include "memory/memory.h"
#include "util/util.h"

namespace a4ps::forge {
namespace {

// A Python expression that evaluates to `j` (JSON strings are Python string literals).
std::string py(const json& j) { return "__import__('json').loads(" + json(j.dump()).dump() + ")"; }

std::string signature(const ToolSpec& s) {
  std::string p;
  for (auto& x : s.params) p += (p.empty() ? "" : ", ") + x;
  return s.name + "(" + p + ")";
}

}  // namespace

std::string extract_code(const std::string& out) {
  static const std::regex block("```(?:python|py)?[ \\t]*\\n([\\s\\S]*?)```");
  std::smatch m;
  if (std::regex_search(out, m, block)) return m[1].str();
  return out;
}

std::vector<std::string> check_source(sandbox::Kernel& k, const ToolSpec& spec, const std::string& source) {
  auto r = k.run("import a4ps_forge\nprint(__import__('json').dumps(a4ps_forge.check(" + py(source) + ", " + py(spec.name) +
                 ", " + py(spec.params) + ")))");
  if (!r.ok) return {"the checker failed: " + r.error_type + ": " + r.error};
  json v = json::parse(r.stdout_text, nullptr, false);
  if (v.is_discarded()) return {"the checker answered something unreadable"};
  return v.get<std::vector<std::string>>();
}

ForgeResult forge(const ToolSpec& spec, llm::Backend& model, sandbox::Kernel& k, image::Image& img, int max_attempts,
                  const std::function<void(const Attempt&)>& on_attempt) {
  ForgeResult res;
  std::vector<llm::Message> msgs = {
      {"system", "You are BRICK, the builder. Write exactly one Python function, in a ```python block. "
                 "Use only the standard library's pure modules (math, re, json, datetime, ...). No I/O."},
      {"user", "Write `def " + signature(spec) + "`: " + spec.doc + "\nIt must pass these tests:\n" + spec.tests}};
  for (int i = 0; i < max_attempts; ++i) {
    llm::ChatResult answer = model.chat({.messages = msgs, .max_tokens = 1024});
    Attempt a;
    a.source = extract_code(answer.text);
    a.problems = check_source(k, spec, a.source);
    if (a.problems.empty()) {
      // A fresh namespace per test run: the agent's own variables stay out of it.
      auto t = k.run("_ns = {}\nexec(" + py(a.source) + ", _ns)\nexec(" + py(spec.tests) + ", _ns)\nTrue");
      a.passed = t.ok;
      if (!t.ok) a.error = t.timed_out ? t.error : (t.traceback.empty() ? t.error_type + ": " + t.error : t.traceback);
    }
    res.attempts.push_back(a);
    if (on_attempt) on_attempt(a);
    if (a.passed) {
      res.ok = true;
      res.source = a.source;
      auto cur = img.get(image::Kind::Tool, spec.name);
      res.proposal = img.propose(image::ProposalKind::ToolRegister, spec.name,
                                 {{"before", cur ? cur->content : ""}, {"after", a.source}, {"tests", spec.tests},
                                  {"attempts", res.attempts.size()}, {"doc", spec.doc}});
      return res;
    }
    // Show the model what went wrong, and ask again.
    msgs.push_back({"assistant", answer.text});
    std::string why;
    for (auto& p : a.problems) why += "- " + p + "\n";
    msgs.push_back({"user", (a.problems.empty() ? "The tests failed:\n" + a.error : "The code was refused:\n" + why) +
                                "\nFix it and answer with the whole function again."});
  }
  return res;
}

std::string transform(sandbox::Kernel& k, const std::string& op, const json& args) {
  if (op != "promote" && op != "document" && op != "rename")
    throw Error("unknown transformation '" + op + "'; use promote, document or rename");
  auto r = k.run("import a4ps_forge\nprint(__import__('json').dumps(a4ps_forge." + op + "(**" + py(args) + ")))");
  if (!r.ok) throw Error(op + " failed: " + r.error_type + ": " + r.error);
  return json::parse(r.stdout_text).get<std::string>();
}

int load_tools(sandbox::Kernel& k, const image::Image& img) {
  json tools = json::object();
  for (auto& t : img.list(image::Kind::Tool)) tools[t.name] = t.content;
  auto r = k.run("import sys, types\n_m = types.ModuleType('a4ps_tools')\nfor _n, _src in " + py(tools) +
                 ".items():\n    exec(_src, _m.__dict__)\nsys.modules['a4ps_tools'] = _m\n"
                 "globals().update({_k: _v for _k, _v in vars(_m).items() if not _k.startswith('_')})\nlen(" + py(tools) + ")");
  if (!r.ok) throw Error("registered tools failed to load in the sandbox: " + r.error_type + ": " + r.error);
  return static_cast<int>(tools.size());
}

std::unique_ptr<sandbox::Kernel> image_kernel(const image::Image& img, const std::string& provider,
                                              sandbox::Limits limits, const sandbox::KernelFactory& make) {
  sandbox::Options o{.limits = limits, .workspace = img.path().string() + ".work"};
  std::unique_ptr<sandbox::Kernel> k;
  if (make) {
    k = make(o);
  } else {
    o.provider = provider.empty() ? sandbox::strongest() : sandbox::parse_provider(provider);
    k = sandbox::Kernel::start(o);
  }
  load_tools(*k, img);
  serve_reflection(*k, img);
  return k;
}

void serve_reflection(sandbox::Kernel& k, const image::Image& img) {
  k.set_reflection([&img](const std::string& op, const json& args) -> json {
    if (op == "list_tools") {
      json out = json::array();
      for (auto& t : img.list(image::Kind::Tool)) out.push_back({{"name", t.name}, {"version", t.version}});
      return out;
    }
    if (op == "tool_source") {
      auto t = img.get(image::Kind::Tool, args.value("name", ""));
      if (!t) throw Error("no tool named '" + args.value("name", "") + "'");
      return t->content;
    }
    if (op == "codex") {
      auto c = img.get(image::Kind::Codex, "codex");
      return c ? c->content : "";
    }
    if (op == "search_memory") {  // ranked full-text search (no embedder inside a sandbox call)
      json out = json::array();
      for (auto& h : memory::search(img, args.value("query", ""), memory::Embedder{}, std::clamp(args.value("limit", 5), 1, 50)))
        out.push_back({{"id", h.id}, {"source", h.source}, {"text", h.text}, {"score", h.score}});
      return out;
    }
    throw Error("a4ps_reflect offers list_tools, tool_source, codex and search_memory (read-only); not '" + op + "'");
  });
}

ToolSpec spec_from_name_error(sandbox::Kernel& k, const std::string& code, const sandbox::Result& failure) {
  ToolSpec s;
  if (failure.error_type != "NameError") return s;
  static const std::regex name_re("name '([A-Za-z_][A-Za-z0-9_]*)' is not defined");
  std::smatch m;
  if (!std::regex_search(failure.error, m, name_re)) return s;
  auto r = k.run("import a4ps_forge\nprint(__import__('json').dumps(a4ps_forge.call_site(" + py(code) + ", " + py(m[1].str()) + ")))");
  if (!r.ok) return s;
  json site = json::parse(r.stdout_text, nullptr, false);
  if (!site.is_object()) return s;  // the name was not called: nothing to forge
  s.name = site["name"];
  for (int i = 0; i < site.value("args", 0); ++i) s.params.push_back("arg" + std::to_string(i + 1));
  for (auto& kw : site["keywords"]) s.params.push_back(kw.is_string() ? kw.get<std::string>() : "kwargs");
  s.doc = "Called as `" + s.name + "(...)` at line " + std::to_string(site.value("line", 0)) + " of the agent's code with " +
          site["literals"].dump() + " as positional values; it does not exist yet.";
  return s;
}

}  // namespace a4ps::forge
