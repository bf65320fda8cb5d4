// bench_mcp: what an MCP tools/call costs on a warm sandbox. The same small tool called
// through McpServer (parse, argument check against the derived schema, the sandbox
// kernel's round trip, the answer) against the bare warm kernel round trip underneath it
// (ToolHost::call), p50 and p99. The image is made with the CLI (forge with a scripted
// model, then approve and apply), as a user would.
//
//   bench_mcp [--n N] [--sandbox gvisor|bwrap]
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "a4ps/tool_host.h"
#include "bench_util.h"
#include "mcp.h"

using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

using a4ps::bench::ms_since;
using a4ps::bench::Stats;
using a4ps::bench::stats;

bool sh(const std::string& cmd) { return std::system((cmd + " >/dev/null").c_str()) == 0; }

}  // namespace

int main(int argc, char** argv) {
  int n = 300;
  std::string sandbox = "bwrap";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--n") n = std::max(10, std::atoi(argv[i + 1]));
    else if (std::string(argv[i]) == "--sandbox") sandbox = argv[i + 1];
  }
  std::string dir = "/tmp/a4ps-bench-mcp-XXXXXX";
  if (!mkdtemp(dir.data())) return 1;
  chmod(dir.c_str(), 0755);
  std::string img = dir + "/b.a4ps", a4ps = A4PS_BIN;
  std::ofstream(dir + "/m.jsonl") << json{{"text", "```python\ndef add(a: int, b: int = 1) -> int:\n    return a + b\n```"}}.dump()
                                  << "\n";
  std::ofstream(dir + "/t.py") << "assert add(1, 2) == 3\n";
  if (!sh(a4ps + " image init " + img) ||
      !sh(a4ps + " tool forge " + img + " --name add --params a,b --doc add --tests " + dir + "/t.py --sandbox " + sandbox +
          " --model scripted:" + dir + "/m.jsonl") ||
      !sh(a4ps + " approvals approve " + img + " 1 --reason bench") || !sh(a4ps + " approvals apply " + img + " 1")) {
    std::fprintf(stderr, "bench_mcp: could not make the image with a tool (is %s usable here?)\n", sandbox.c_str());
    return 1;
  }
  a4ps::server::McpServer mcp({.image = img, .sandbox = sandbox});
  a4ps::ToolHost host(img, {.sandbox = sandbox});
  std::string call = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":20,"b":22}}})";
  for (int i = 0; i < 5; ++i) {  // warm: kernels started, schemas derived
    if (mcp.handle(call).find("\"42\"") == std::string::npos) return 1;
    host.call("add", R"({"a":20,"b":22})");
  }
  std::vector<double> via_mcp, bare;
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    std::string r = mcp.handle(call);
    via_mcp.push_back(ms_since(t0));
    if (r.find("\"42\"") == std::string::npos) return 1;
    t0 = Clock::now();
    host.call("add", R"({"a":20,"b":22})");
    bare.push_back(ms_since(t0));
  }
  Stats m = stats(via_mcp), b = stats(bare);
  std::printf("warm tools/call, %s, %d calls      %10s %10s\n", sandbox.c_str(), n, "p50 ms", "p99 ms");
  std::printf("%-38s %10.3f %10.3f\n", "MCP tools/call (McpServer::handle)", m.p50, m.p99);
  std::printf("%-38s %10.3f %10.3f\n", "kernel round trip (ToolHost::call)", b.p50, b.p99);
  std::printf("%-38s %10.2f %10.2f\n", "ratio MCP/kernel", m.p50 / b.p50, m.p99 / b.p99);
  sh("rm -rf " + dir);
  return 0;
}
