// libFuzzer target: MCP's message parser and tool-argument checks (server/mcp_message.h).
// Whatever bytes a client sends, a message parses or throws McpError with a JSON-RPC code
// and a one-line message; arguments are judged against any schema without crashing.
#include <cstddef>
#include <cstdint>
#include <string>

#include "mcp_message.h"

using namespace a4ps::server;
using json = nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t which = data[0] % 3;
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (which) {
      case 0: {
        McpMessage m = parse_mcp_message(text, 1024);
        (void)negotiate_mcp_version(m.params);
        break;
      }
      case 1: parse_tool_call(json::parse(text, nullptr, false).is_object() ? json::parse(text) : json::object()); break;
      case 2: {  // "SCHEMA\nARGUMENTS"
        auto nl = text.find('\n');
        json schema = json::parse(text.substr(0, nl), nullptr, false);
        json args = json::parse(nl == std::string::npos ? "{}" : text.substr(nl + 1), nullptr, false);
        std::string why = check_tool_arguments(schema, args);
        if (why.find('\n') != std::string::npos) __builtin_trap();
        break;
      }
    }
  } catch (const McpError& e) {
    std::string m = e.what();
    if (e.code() != kParseError && e.code() != kInvalidRequest && e.code() != kInvalidParams) __builtin_trap();
    if (m.empty() || m.find('\n') != std::string::npos) __builtin_trap();
    (void)e.response().dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (...) {
    __builtin_trap();  // a parser let another exception out
  }
  return 0;
}
