// a4ps mcp: the image's approved tools over MCP on stdin/stdout, for an MCP client (an
// editor, an agent) that starts the server as a subprocess. stdout carries only protocol
// messages; anything else goes to stderr.
#include <signal.h>

#include <mcp.h>

#include <iostream>

#include "cli.h"

namespace a4ps::cli {

void add_mcp_command(CLI::App& app, Globals&) {
  static server::McpOptions o;
  auto* c = sub(&app, "mcp", "serve the image's approved tools over MCP on stdio (for MCP clients and editors)");
  c->add_option("image", o.image, "the image (*.a4ps)")->required();
  c->add_option("--sandbox", o.sandbox, "gvisor or bwrap (default: the strongest that works)");
  c->add_option("--tool-timeout", o.tool_wall_ms, "milliseconds a tool call may run (default 10000)")
      ->check(CLI::Range(100, 600000));
  c->callback([] {
    o.log = [](const std::string& line) { std::cerr << "a4ps mcp: " << line << "\n" << std::flush; };
    std::ios::sync_with_stdio(false);
    signal(SIGPIPE, SIG_IGN);  // a client that goes away ends the input; writes just fail
    server::McpServer mcp(o);
    server::serve_mcp_stdio(mcp, std::cin, std::cout);
  });
}

}  // namespace a4ps::cli
