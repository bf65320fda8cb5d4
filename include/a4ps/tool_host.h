// The image's registered tools as callable services (what the MCP door serves): each
// tool's JSON input schema, derived from its signature and type hints by Python's `ast`
// inside the sandbox (agent code is never imported here), and calls run in one warm
// sandbox kernel, restarted when the image's tools change or a call breaks it.
//
//   a4ps::ToolHost host("agent.a4ps", {.sandbox = "bwrap"});
//   for (auto& t : host.tools()) show(t.name, t.input_schema_json);
//   auto r = host.call("slugify", R"({"arg1": "Hello World", "sep": "-"})");
//
// JSON travels as std::string holding JSON text, so this header needs no JSON library.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace a4ps {

struct ToolHostOptions {
  std::string sandbox;  // gvisor or bwrap; "" = the strongest that works here
  int wall_ms = 10000;  // a call running longer is stopped (timed_out)
};

struct ToolSchema {
  std::string name;
  int64_t version = 0;
  std::string description;        // the docstring's first paragraph ("" without one)
  std::string input_schema_json;  // {"type": "object", "properties": {...}, "required": [...]}
};

struct ToolCallOutcome {
  bool ok = false;
  std::string result_json;  // the return value as JSON (its repr as a JSON string when not JSON-able)
  std::string printed;      // what the tool printed
  std::string error;        // "Type: message" when it raised, or why it did not run
  bool timed_out = false;
};

class ToolHost {
 public:
  // Opens the image (read-only). Throws Error (one line) when it cannot be opened.
  explicit ToolHost(const std::string& image_path, ToolHostOptions options = {});
  ~ToolHost();
  ToolHost(const ToolHost&) = delete;
  ToolHost& operator=(const ToolHost&) = delete;

  // Cheap (one read of the image, no sandbox): changes whenever a tool is registered,
  // gets a new version, is rolled back or removed. Poll it to notice tool-list changes.
  std::string revision();
  // The registered tools with their schemas (derived once per revision). Throws Error
  // when the sandbox cannot start.
  std::vector<ToolSchema> tools();
  // Runs tool `name` with keyword arguments `args_json` (a JSON object). A tool that raises,
  // runs too long or is given arguments it does not take is a failed outcome, not an
  // exception; throws Error for an unknown tool or arguments that are not a JSON object.
  ToolCallOutcome call(const std::string& name, const std::string& args_json);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace a4ps
