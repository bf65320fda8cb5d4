// The image's tools: Python functions the agent forged (every version kept), the forge
// that writes them, and code run in the sandbox with them, as the agent's own code runs.
// Writing a tool or going back to an old version only files a proposal: a human's yes
// (the governance API, `a4ps approvals`) registers it.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "a4ps/image.h"

namespace a4ps {

struct ToolInfo {
  std::string name, source;
  int64_t version = 0;
  std::string created_at;  // ISO-8601, when this version landed
  bool removed = false;    // a version that took the tool away
};
std::vector<ToolInfo> list_tools(const Image& image);  // the registered ones, newest versions

struct ToolListOptions {
  bool all_versions = false;  // every version of each live tool, oldest first (removals included)
};
std::vector<ToolInfo> list_tools(const Image& image, const ToolListOptions& options);

// One version of a tool (0: the newest). Throws Error when there is no such (live) version.
ToolInfo tool_version(const Image& image, const std::string& name, int64_t version = 0);
// A unified diff from version a to b ("" when they are the same). Throws Error when either is missing.
std::string diff_tool(const Image& image, const std::string& name, int64_t a, int64_t b);

// What the forge is asked to write.
struct ToolRequest {
  std::string name;                 // the function's name
  std::vector<std::string> params;  // its parameters
  std::string doc;                  // what it must do
  std::string tests;                // Python asserts that call it
};

struct ForgeAttempt {
  std::string source;
  std::vector<std::string> problems;  // what the static check refused
  std::string error;                  // or how its tests failed
  bool passed = false;
};

struct ForgeOptions {
  std::string model;          // GGUF path, ollama:NAME, openai:URL#MODEL or scripted:FILE (required)
  std::string sandbox;        // gvisor, bwrap or none; "" = the strongest that works here
  bool allow_unsafe = false;  // needed for sandbox "none" (development only)
  int max_attempts = 4;
  std::function<void(const ForgeAttempt&)> on_attempt;  // each attempt once it is judged
};

struct ForgeOutcome {
  bool ok = false;
  std::string source;                 // the passing version
  std::vector<ForgeAttempt> attempts;
  int64_t proposal = 0;               // the tool.register proposal filed on success (a human decides)
};
// The model writes the tool, the sandbox checks and tests it, failures go back to the
// model; a passing tool is only proposed. ok=false when the forge gave up (not an error).
ForgeOutcome forge_tool(Image& image, const ToolRequest& request, const ForgeOptions& options);

struct CodeOptions {
  std::string sandbox;  // gvisor or bwrap; "" = the strongest that works here
  int wall_ms = 10000;  // the run is stopped past it
};

struct CodeResult {
  bool ok = false;
  std::string value;   // repr of the last expression
  std::string output;  // what it printed
  std::string error_type, error;
  bool timed_out = false;
  std::string errors;     // what it wrote to stderr
  std::string traceback;  // on failure
};
// Runs Python in the sandbox with the image's tools importable; never in this process.
CodeResult run_code(const Image& image, const std::string& code, const CodeOptions& options = {});

// Agent code as `a4ps tool run` runs it, with doesNotUnderstand: when the code fails
// calling a function that does not exist, `missing` names it, and with a model the forge
// writes and proposes it (then approve, apply and run again).
struct AgentCodeOptions {
  std::string model;          // with a model, a function the code calls but nobody wrote is forged
  std::string sandbox;        // as ForgeOptions
  bool allow_unsafe = false;
  int wall_ms = 10000;
};
struct AgentCodeResult {
  CodeResult code;
  std::string missing;  // the undefined function the code called ("" otherwise)
  bool forged = false;  // the forge was asked for it
  ForgeOutcome forge;
};
AgentCodeResult run_agent_code(Image& image, const std::string& code, const AgentCodeOptions& options = {});

// Files a proposal to return tool `name` to version `to_version`; returns its id. Throws
// Error when the tool or that version does not exist.
int64_t propose_tool_rollback(Image& image, const std::string& name, int64_t to_version);

}  // namespace a4ps
