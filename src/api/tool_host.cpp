// ToolHost: the image's tools served from one warm sandbox kernel. Schemas come from
// python/a4ps_tool_schema.py (ast, inside the sandbox); calls go through its call().
#include "a4ps/tool_host.h"

#include <mutex>

#include "a4ps/tools.h"
#include "api/internal.h"
#include "forge/forge.h"
#include "sandbox/sandbox.h"

namespace a4ps {
namespace {

using nlohmann::json;

// A JSON value as a Python expression (JSON text in a Python string literal).
std::string py(const json& j) {
  return "__import__('json').loads(" + json(j.dump(-1, ' ', false, json::error_handler_t::replace)).dump() + ")";
}

// The last line of what the wrapper printed: its JSON report (the tool's own prints were captured).
json last_json_line(const std::string& out) {
  size_t end = out.find_last_not_of("\n");
  if (end == std::string::npos) return json();
  size_t start = out.rfind('\n', end);
  return json::parse(out.substr(start == std::string::npos ? 0 : start + 1, end + 1 - (start == std::string::npos ? 0 : start + 1)),
                     nullptr, false);
}

}  // namespace

struct ToolHost::Impl {
  Impl(const std::string& path, ToolHostOptions opts)
      : o(std::move(opts)),
        image(Image::open(path, {.create_if_missing = false, .read_only = true})),
        watch(Image::open(path, {.create_if_missing = false, .read_only = true})) {}
  ToolHostOptions o;
  Image image;  // what the kernel reads its tools and reflection from
  Image watch;  // revision() reads through its own handle, so watching never waits for a call
  std::mutex mu, watch_mu;
  std::unique_ptr<sandbox::Kernel> kernel;
  std::string kernel_revision;  // the tools the kernel loaded
  std::string schemas_revision;
  std::vector<ToolSchema> schemas;

  static std::string revision_of(const Image& img) {
    std::string r;
    for (auto& t : list_tools(img)) r += t.name + "@" + std::to_string(t.version) + ";";
    return r;
  }

  // A kernel holding the tools as they are now (a new one when they changed).
  sandbox::Kernel& warm(const std::string& rev) {
    if (!kernel || kernel_revision != rev) {
      kernel.reset();
      kernel = forge::image_kernel(image.impl().img, o.sandbox, {.wall_ms = o.wall_ms, .output_bytes = 4u << 20});
      kernel_revision = rev;
    }
    return *kernel;
  }
};

ToolHost::ToolHost(const std::string& path, ToolHostOptions o)
    : impl_(std::make_unique<Impl>(path, std::move(o))) {
  if (impl_->o.wall_ms < 1) throw Error("the tool time limit must be at least 1 ms");
}

ToolHost::~ToolHost() = default;

std::string ToolHost::revision() {
  std::lock_guard lk(impl_->watch_mu);
  return Impl::revision_of(impl_->watch);
}

std::vector<ToolSchema> ToolHost::tools() {
  auto& s = *impl_;
  std::lock_guard lk(s.mu);
  std::string rev = Impl::revision_of(s.image);
  if (rev == s.schemas_revision) return s.schemas;
  auto& k = s.warm(rev);
  auto listed = list_tools(s.image);
  json sources = json::object();
  for (auto& t : listed) sources[t.name] = t.source;
  auto r = k.run("import a4ps_tool_schema\nprint(__import__('json').dumps(a4ps_tool_schema.schemas(" +
                           py(sources) + ")))");
  json derived = r.ok ? last_json_line(r.stdout_text) : json();
  if (!derived.is_object()) {
    s.kernel.reset();
    throw Error("the tools' schemas could not be derived in the sandbox (" +
                (r.ok ? std::string("unreadable answer") : r.error_type + ": " + r.error) + "); check `a4ps doctor`");
  }
  std::vector<ToolSchema> out;
  for (auto& t : listed) {
    if (!derived.contains(t.name)) continue;  // not a function of that name: nothing callable to serve
    auto& d = derived[t.name];
    out.push_back({.name = t.name, .version = t.version, .description = d.value("description", ""),
                   .input_schema_json = d.value("schema", json::object()).dump()});
  }
  s.schemas = out;
  s.schemas_revision = rev;
  return out;
}

ToolCallOutcome ToolHost::call(const std::string& name, const std::string& args_json) {
  auto& s = *impl_;
  json args = json::parse(args_json, nullptr, false);
  if (!args.is_object()) throw Error("a tool's arguments must be a JSON object of parameter names to values");
  std::lock_guard lk(s.mu);
  std::string rev = Impl::revision_of(s.image);
  auto& k = s.warm(rev);
  bool known = false;
  for (auto& t : list_tools(s.image)) known = known || t.name == name;
  if (!known) throw Error("no tool named '" + name + "'; list them with tools/list or `a4ps tool ls`");
  auto r = k.run("import a4ps_tool_schema, a4ps_tools\na4ps_tool_schema.call(getattr(a4ps_tools, " + py(name) +
                           "), " + py(args.dump(-1, ' ', false, json::error_handler_t::replace)) + ")");
  ToolCallOutcome out;
  if (r.timed_out || r.crashed) s.kernel.reset();  // a restarted kernel would lack the tools: start afresh
  if (r.timed_out) {
    out.timed_out = true;
    out.error = "the tool ran longer than " + std::to_string(s.o.wall_ms) + " ms and was stopped";
    return out;
  }
  json rep = r.ok ? last_json_line(r.stdout_text) : json();
  if (!rep.is_object()) {
    out.error = r.ok ? "the tool's answer could not be read"
                     : (r.error_type.empty() ? "" : r.error_type + ": ") + (r.error.empty() ? "the tool stopped" : r.error);
    return out;
  }
  out.ok = rep.value("ok", false);
  out.printed = rep.value("printed", "");
  if (out.ok) out.result_json = rep.contains("result") ? rep["result"].dump(-1, ' ', false, json::error_handler_t::replace) : "null";
  else out.error = rep.value("error", "the tool failed");
  return out;
}

}  // namespace a4ps
