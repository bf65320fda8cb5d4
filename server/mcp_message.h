// MCP's JSON-RPC messages, parsed and checked before anything runs: what a client sends
// over stdio or POST /mcp becomes a typed message or an McpError carrying JSON-RPC's own
// error code and one line (the libFuzzer target fuzz/mcp_parser_fuzz.cpp feeds these).
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace a4ps::server {

// JSON-RPC 2.0 error codes.
enum McpCode { kParseError = -32700, kInvalidRequest = -32600, kMethodNotFound = -32601, kInvalidParams = -32602,
               kInternalError = -32603 };

class McpError : public std::runtime_error {
 public:
  McpError(int code, const std::string& message, nlohmann::json id = nullptr)
      : std::runtime_error(message), code_(code), id_(std::move(id)) {}
  int code() const { return code_; }
  const nlohmann::json& id() const { return id_; }
  // {"jsonrpc": "2.0", "id": ..., "error": {"code", "message"}}
  nlohmann::json response() const;

 private:
  int code_;
  nlohmann::json id_;
};

struct McpMessage {
  enum Kind { Request, Notification, Response } kind = Request;
  nlohmann::json id;  // string or integer (requests and responses)
  std::string method;
  nlohmann::json params = nlohmann::json::object();  // always an object
};
// One message (batches are not part of MCP since 2025-06-18). Throws McpError: -32700 for
// text that is not JSON, -32600 for JSON that is not a JSON-RPC 2.0 message, or a message
// larger than max_bytes.
McpMessage parse_mcp_message(const std::string& text, size_t max_bytes = 1 << 20);

// The protocol versions this server speaks, newest first.
const std::vector<std::string>& mcp_versions();
// The version to answer a client's initialize with: its own when supported, else the newest.
std::string negotiate_mcp_version(const nlohmann::json& params);

// tools/call's params: {"name": string, "arguments"?: object}. Throws McpError -32602.
struct ToolCallParams {
  std::string name;
  nlohmann::json arguments = nlohmann::json::object();
};
ToolCallParams parse_tool_call(const nlohmann::json& params);

// Why `args` does not fit a tool's input schema (types, required, unknown names), as one
// line; "" when it fits. Only the schema shapes the tools' derived schemas use.
std::string check_tool_arguments(const nlohmann::json& schema, const nlohmann::json& args);

}  // namespace a4ps::server
