#include "mcp_message.h"

#include <cmath>

#include <algorithm>

#include "request.h"

namespace a4ps::server {

using json = nlohmann::json;

json McpError::response() const {
  return {{"jsonrpc", "2.0"}, {"id", id_}, {"error", {{"code", code_}, {"message", what()}}}};
}

McpMessage parse_mcp_message(const std::string& text, size_t max_bytes) {
  if (text.size() > max_bytes)
    throw McpError(kInvalidRequest, "the message is " + std::to_string(text.size()) + " bytes; the limit is " +
                                        std::to_string(max_bytes));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) throw McpError(kParseError, "the message is not JSON; send one JSON-RPC 2.0 object");
  if (j.is_array()) throw McpError(kInvalidRequest, "batches are not supported (MCP 2025-06-18 and later); send one message at a time");
  if (!j.is_object()) throw McpError(kInvalidRequest, "a JSON-RPC message must be a JSON object");
  McpMessage m;
  bool has_id = j.contains("id");
  if (has_id) {
    m.id = j["id"];
    if (!m.id.is_string() && !m.id.is_number_integer() && !m.id.is_number_unsigned())
      throw McpError(kInvalidRequest, "'id' must be a string or an integer", nullptr);
  }
  json id = has_id ? m.id : json(nullptr);
  if (j.value("jsonrpc", json()) != "2.0") throw McpError(kInvalidRequest, "'jsonrpc' must be \"2.0\"", id);
  if (!j.contains("method")) {
    if (has_id && (j.contains("result") || j.contains("error"))) {
      m.kind = McpMessage::Response;  // an answer to something we asked (we ask nothing): ignored
      return m;
    }
    throw McpError(kInvalidRequest, "a request needs 'method' (and 'id' unless it is a notification)", id);
  }
  if (!j["method"].is_string() || j["method"].get_ref<const std::string&>().empty())
    throw McpError(kInvalidRequest, "'method' must be a non-empty string", id);
  m.method = j["method"];
  m.kind = has_id ? McpMessage::Request : McpMessage::Notification;
  if (j.contains("params")) {
    if (!j["params"].is_object()) throw McpError(kInvalidParams, "'params' must be an object", id);
    m.params = j["params"];
  }
  return m;
}

const std::vector<std::string>& mcp_versions() {
  static const std::vector<std::string> v = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};
  return v;
}

std::string negotiate_mcp_version(const json& params) {
  auto asked = params.find("protocolVersion");
  if (asked != params.end() && asked->is_string())
    for (auto& v : mcp_versions())
      if (v == *asked) return v;
  return mcp_versions().front();
}

ToolCallParams parse_tool_call(const json& params) {
  ToolCallParams p;
  auto name = params.find("name");
  if (name == params.end() || !name->is_string() || name->get_ref<const std::string&>().empty())
    throw McpError(kInvalidParams, "tools/call needs 'name': the tool's name (see tools/list)");
  p.name = *name;
  if (p.name.size() > 200) throw McpError(kInvalidParams, "the tool name is longer than 200 characters");
  if (auto a = params.find("arguments"); a != params.end() && !a->is_null()) {
    if (!a->is_object()) throw McpError(kInvalidParams, "'arguments' must be an object of parameter names to values");
    p.arguments = *a;
  }
  return p;
}

namespace {

bool has_type(const json& v, const std::string& t) {
  if (t == "integer") {  // JSON Schema: a number without a fractional part (1.0 and 1e42 too)
    if (v.is_number_integer() || v.is_number_unsigned()) return true;
    if (!v.is_number_float()) return false;
    const double d = v.get<double>();
    return std::isfinite(d) && std::trunc(d) == d;  // no cast: a double past long long's range is UB
  }
  if (t == "number") return v.is_number();
  if (t == "string") return v.is_string();
  if (t == "boolean") return v.is_boolean();
  if (t == "array") return v.is_array();
  if (t == "object") return v.is_object();
  if (t == "null") return v.is_null();
  return true;
}

std::string kind_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_float: return "a number";
    default: return "an integer";
  }
}

// Why v does not fit s ("" when it does); `where` names the value in the message.
std::string mismatch(const json& s, const json& v, const std::string& where, int depth) {
  if (!s.is_object() || depth > 32) return "";
  if (auto t = s.find("type"); t != s.end()) {
    std::vector<std::string> types;
    if (t->is_string()) types.push_back(*t);
    else if (t->is_array())
      for (auto& x : *t)
        if (x.is_string()) types.push_back(x);
    bool any = types.empty();
    for (auto& x : types) any = any || has_type(v, x);
    if (!any) {
      std::string want;
      for (auto& x : types) want += (want.empty() ? "" : " or ") + printable(x, 20);
      return where + " must be " + want + ", not " + kind_of(v);
    }
  }
  if (auto e = s.find("enum"); e != s.end() && e->is_array() && std::find(e->begin(), e->end(), v) == e->end())
    return where + " must be one of " + printable(e->dump(), 200);
  if (auto a = s.find("anyOf"); a != s.end() && a->is_array()) {
    bool fits = a->empty();
    for (auto& alt : *a) fits = fits || mismatch(alt, v, where, depth + 1).empty();
    if (!fits) return where + " fits none of the types it may have (" + printable(a->dump(), 200) + ")";
  }
  if (v.is_array())
    if (auto items = s.find("items"); items != s.end())
      for (size_t i = 0; i < v.size(); ++i)
        if (auto m = mismatch(*items, v[i], where + "[" + std::to_string(i) + "]", depth + 1); !m.empty()) return m;
  if (v.is_object())
    if (auto ap = s.find("additionalProperties"); ap != s.end() && ap->is_object())
      for (auto& [k, x] : v.items())
        if (auto m = mismatch(*ap, x, where + "." + printable(k, 40), depth + 1); !m.empty()) return m;
  return "";
}

}  // namespace

std::string check_tool_arguments(const json& schema, const json& args) {
  if (!args.is_object()) return "the arguments must be an object of parameter names to values";
  if (!schema.is_object()) return "";
  json props = schema.value("properties", json::object());
  if (!props.is_object()) props = json::object();
  for (auto& r : schema.value("required", json::array()))
    if (r.is_string() && !args.contains(r.get<std::string>()))
      return "missing the argument '" + printable(r.get<std::string>(), 60) + "'";
  bool closed = schema.value("additionalProperties", json(true)) == json(false);
  for (auto& [k, v] : args.items()) {
    auto p = props.find(k);
    if (p == props.end()) {
      if (closed) {
        std::string known;
        for (auto& [n, _] : props.items()) known += (known.empty() ? "" : ", ") + printable(n, 60);
        return "the tool takes no argument '" + printable(k, 60) + "' (it takes: " + (known.empty() ? "none" : known) + ")";
      }
      continue;
    }
    if (auto m = mismatch(*p, v, "'" + printable(k, 60) + "'", 0); !m.empty()) return "the argument " + m;
  }
  return "";
}

}  // namespace a4ps::server
