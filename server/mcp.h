// The MCP door: the image's registered tools served over the Model Context Protocol, as
// Streamable HTTP at /mcp on `a4ps serve` and over stdio as `a4ps mcp IMAGE`. One
// transport-neutral core (McpServer) answers each JSON-RPC message; the transports only
// carry text, and tell clients with notifications/tools/list_changed when a tool is
// approved or rolled back (they watch the image's tool list, a cheap read).
#pragma once
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>

#include "a4ps/tool_host.h"

namespace httplib {
class Server;
}

namespace a4ps::server {

struct McpOptions {
  std::string image;                 // must exist
  std::string sandbox;               // gvisor or bwrap; "" = the strongest that works
  int tool_wall_ms = 10000;          // a tools/call running longer ends as an isError result
  size_t max_message = 1 << 20;      // bytes of one JSON-RPC message
  int watch_ms = 500;                // how often the tool list is looked at for changes
  std::function<void(const std::string&)> log;  // one line per notable thing
};

class McpServer {
 public:
  explicit McpServer(McpOptions o);  // opens the image; throws a4ps::Error (one line)
  ~McpServer();
  // One JSON-RPC message in, its answer out ("" for notifications and responses). Never
  // throws: bad input is answered with JSON-RPC's error shape, a failing tool with an
  // isError result.
  std::string handle(const std::string& message);
  // Changes whenever the tool list does (cheap: no sandbox).
  std::string revision();
  const McpOptions& options() const { return o_; }

 private:
  McpOptions o_;
  std::unique_ptr<ToolHost> host_;
};

// The notification sent when the tool list changed.
std::string mcp_list_changed();

// POST /mcp (a message; the answer as JSON), GET /mcp (an SSE stream of notifications),
// DELETE /mcp (ends a session) on a server whose pre-routing handler has already applied
// the Host, Origin and token rules. The stream ends once `stopping` says so.
void add_mcp_routes(httplib::Server& http, McpServer& mcp, std::function<bool()> stopping);

// stdio: newline-delimited messages from `in`, answers and notifications on `out` (and
// nothing else: logs go to o.log). Returns when `in` ends.
void serve_mcp_stdio(McpServer& mcp, std::istream& in, std::ostream& out);

}  // namespace a4ps::server
