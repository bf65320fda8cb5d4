// The image's tools: Python functions the agent forged (every version kept), and code
// run in the sandbox with them, as the agent's own code runs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "a4ps/image.h"

namespace a4ps {

struct ToolInfo {
  std::string name, source;
  int64_t version = 0;
};
std::vector<ToolInfo> list_tools(const Image& image);  // the registered ones, newest versions

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
};
// Runs Python in the sandbox with the image's tools importable; never in this process.
CodeResult run_code(const Image& image, const std::string& code, const CodeOptions& options = {});

}  // namespace a4ps
