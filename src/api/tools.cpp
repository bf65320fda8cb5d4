// The public tools API: the image's tools, the forge, and code run in the sandbox with them.
#include "a4ps/tools.h"

#include "api/internal.h"
#include "forge/forge.h"
#include "image/diff.h"
#include "llm/model_manager.h"
#include "sandbox/sandbox.h"

namespace a4ps {
namespace {

ToolInfo info_of(const image::Object& o) { return {o.name, o.content, o.version, o.created_at, o.removed}; }

ForgeAttempt attempt_of(const forge::Attempt& a) { return {a.source, a.problems, a.error, a.passed}; }

ForgeOutcome outcome_of(const forge::ForgeResult& r) {
  ForgeOutcome o{.ok = r.ok, .source = r.source, .proposal = r.proposal};
  for (auto& a : r.attempts) o.attempts.push_back(attempt_of(a));
  return o;
}

// A kernel for agent code on the image; "none" only when the caller allowed it.
std::unique_ptr<sandbox::Kernel> kernel(const image::Image& img, const std::string& provider, bool unsafe, int wall_ms) {
  return forge::image_kernel(img, provider, {.wall_ms = wall_ms}, [&](sandbox::Options o) {
    o.provider = provider.empty() ? sandbox::strongest() : sandbox::parse_provider(provider);
    o.allow_unsafe = unsafe;
    return sandbox::Kernel::start(o);
  });
}

ForgeOutcome run_forge(image::Image& img, sandbox::Kernel& k, const forge::ToolSpec& spec, const std::string& model,
                       int max_attempts, const std::function<void(const ForgeAttempt&)>& on_attempt) {
  llm::ModelManager mm;
  auto backend = llm::open_backend(model, mm, {"BRICK", {}, {}});
  auto r = forge::forge(spec, *backend, k, img, max_attempts, [&](const forge::Attempt& a) {
    if (on_attempt) on_attempt(attempt_of(a));
  });
  return outcome_of(r);
}

}  // namespace

std::vector<ToolInfo> list_tools(const Image& image) { return list_tools(image, {}); }

std::vector<ToolInfo> list_tools(const Image& image, const ToolListOptions& o) {
  const image::Image& img = image.impl().img;
  std::vector<ToolInfo> out;
  for (auto& t : img.list(image::Kind::Tool)) {
    if (!o.all_versions) {
      out.push_back(info_of(t));
      continue;
    }
    for (auto& v : img.history(image::Kind::Tool, t.name)) out.push_back(info_of(v));
  }
  return out;
}

ToolInfo tool_version(const Image& image, const std::string& name, int64_t version) {
  auto t = image.impl().img.get(image::Kind::Tool, name, version);
  if (!t || t->removed)
    throw Error("no tool '" + name + "'" + (version ? " version " + std::to_string(version) : "") + "; see `a4ps tool ls`");
  return info_of(*t);
}

std::string diff_tool(const Image& image, const std::string& name, int64_t va, int64_t vb) {
  const image::Image& img = image.impl().img;
  auto a = img.get(image::Kind::Tool, name, va), b = img.get(image::Kind::Tool, name, vb);
  if (!a || !b) throw Error("tool '" + name + "' has no version " + std::to_string(a ? vb : va));
  return image::unified_diff(a->content, b->content, name + "@v" + std::to_string(va), name + "@v" + std::to_string(vb));
}

ForgeOutcome forge_tool(Image& image, const ToolRequest& q, const ForgeOptions& o) {
  if (q.name.empty()) throw Error("name the function to forge");
  if (o.model.empty()) throw Error("the forge needs a model: GGUF path, ollama:NAME, openai:URL#MODEL or scripted:FILE");
  image::Image& img = writable(image);
  auto k = kernel(img, o.sandbox, o.allow_unsafe, 10000);
  return run_forge(img, *k, {q.name, q.params, q.doc, q.tests}, o.model, o.max_attempts, o.on_attempt);
}

CodeResult run_code(const Image& image, const std::string& code, const CodeOptions& o) {
  auto k = forge::image_kernel(image.impl().img, o.sandbox, {.wall_ms = o.wall_ms});
  auto r = k->run(code);
  return {.ok = r.ok, .value = r.value, .output = r.stdout_text, .error_type = r.error_type, .error = r.error,
          .timed_out = r.timed_out, .errors = r.stderr_text, .traceback = r.traceback};
}

AgentCodeResult run_agent_code(Image& image, const std::string& code, const AgentCodeOptions& o) {
  image::Image& img = o.model.empty() ? image.impl().img : writable(image);
  auto k = kernel(img, o.sandbox, o.allow_unsafe, o.wall_ms);
  sandbox::Result r = k->run(code);
  AgentCodeResult out;
  out.code = {.ok = r.ok, .value = r.value, .output = r.stdout_text, .error_type = r.error_type, .error = r.error,
              .timed_out = r.timed_out, .errors = r.stderr_text, .traceback = r.traceback};
  if (r.ok) return out;
  forge::ToolSpec spec = forge::spec_from_name_error(*k, code, r);
  out.missing = spec.name;
  if (spec.name.empty() || o.model.empty()) return out;
  // doesNotUnderstand: build what was called, from its call site.
  spec.tests = "assert callable(" + spec.name + ")";
  out.forged = true;
  out.forge = run_forge(img, *k, spec, o.model, 4, {});
  return out;
}

int64_t propose_tool_rollback(Image& image, const std::string& name, int64_t to_version) {
  image::Image& img = writable(image);
  auto cur = img.get(image::Kind::Tool, name);
  auto old = img.get(image::Kind::Tool, name, to_version);
  if (!cur || !old || old->removed)
    throw Error("tool '" + name + "' has no version " + std::to_string(to_version) + "; see `a4ps tool ls`");
  return img.propose(image::ProposalKind::ToolRollback, name,
                     {{"before", cur->content}, {"after", old->content}, {"to_version", to_version}});
}

}  // namespace a4ps
