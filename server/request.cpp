// Request parsers: strict about types, quiet about unknown keys (clients of the Agent
// Protocol send fields this server does not use, such as assistant_id or config).
#include "request.h"

#include <arpa/inet.h>

#include <cctype>
#include <charconv>

namespace a4ps::server {

namespace {

[[noreturn]] void bad(const std::string& detail) { throw HttpError(400, "bad_request", detail); }

std::string quoted(const std::string& s) { return printable(s, 40); }

std::string opt_string(const json& body, const char* key, size_t max = 4096) {
  if (!body.contains(key) || body[key].is_null()) return "";
  if (!body[key].is_string()) bad(std::string("'") + key + "' must be a string");
  std::string s = body[key];
  if (s.size() > max) bad(std::string("'") + key + "' is longer than " + std::to_string(max) + " bytes");
  return s;
}

int opt_int(const json& body, const char* key, int lo, int hi, int fallback) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  const json& v = body[key];
  if (!v.is_number_integer()) bad(std::string("'") + key + "' must be an integer");
  auto n = v.get<int64_t>();
  if (n < lo || n > hi) bad(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return static_cast<int>(n);
}

}  // namespace

std::string printable(const std::string& s, size_t max) {
  std::string out = s.substr(0, max);
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out + (s.size() > max ? "..." : "");
}

json parse_body(const std::string& body) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) bad("the body is not valid JSON; send a JSON object");
  if (!j.is_object()) bad("the body must be a JSON object");
  return j;
}

CreateThread parse_create_thread(const json& body) {
  CreateThread c;
  c.thread_id = opt_string(body, "thread_id", 128);
  if (!c.thread_id.empty()) check_id(c.thread_id, "thread_id");
  if (body.contains("metadata") && !body["metadata"].is_null() && !body["metadata"].is_object())
    bad("'metadata' must be an object");
  return c;
}

SearchThreads parse_search_threads(const json& body) {
  SearchThreads s;
  s.status = opt_string(body, "status", 32);
  s.graph = opt_string(body, "graph", 64);
  s.text = opt_string(body, "text", 256);
  s.limit = opt_int(body, "limit", 1, 1000, 100);
  s.offset = opt_int(body, "offset", 0, 1 << 30, 0);
  if (!s.status.empty() && s.status != "idle" && s.status != "running" && s.status != "interrupted" &&
      s.status != "done" && s.status != "error")
    bad("'status' must be one of idle, running, interrupted, done, error");
  return s;
}

CreateRun parse_create_run(const json& body) {
  CreateRun r;
  bool has_input = body.contains("input") && !body["input"].is_null();
  bool has_command = body.contains("command") && !body["command"].is_null();
  if (has_input == has_command) bad("a run needs either 'input' (a task) or 'command' ({\"resume\": true}), not both");
  if (has_input) {
    const json& in = body["input"];
    if (in.is_string()) r.task = in.get<std::string>();
    else if (in.is_object() && in.contains("task")) {
      if (!in["task"].is_string()) bad("'input.task' must be a string");
      r.task = in["task"];
    } else if (in.is_object() && in.contains("messages")) {
      if (!in["messages"].is_array()) bad("'input.messages' must be an array of {role, content}");
      for (auto& m : in["messages"]) {
        if (!m.is_object() || !m.contains("content") || !m["content"].is_string())
          bad("each of 'input.messages' must be an object with a string 'content'");
        if (m.value("role", std::string("user")) == "user") r.task = m["content"];
      }
    } else {
      bad("'input' must be a string, {\"task\": \"...\"} or {\"messages\": [...]}");
    }
    if (r.task.find_first_not_of(" \t\r\n") == std::string::npos) bad("the task is empty; say what the agent should do");
    if (r.task.size() > 65536) bad("the task is longer than 65536 bytes");
  } else {
    const json& c = body["command"];
    if (!c.is_object() || !c.contains("resume")) bad("'command' must be {\"resume\": true}");
    if (!c["resume"].is_boolean() && !c["resume"].is_null() && !c["resume"].is_string())
      bad("'command.resume' must be true");
    if (c["resume"].is_boolean() && !c["resume"].get<bool>()) bad("'command.resume' must be true");
    r.resume = true;
  }
  std::string strategy = opt_string(body, "multitask_strategy", 32);
  if (strategy.empty() || strategy == "reject") r.enqueue = false;
  else if (strategy == "enqueue") r.enqueue = true;
  else bad("'multitask_strategy' must be reject (409 on a busy thread) or enqueue (wait for it)");
  std::string ine = opt_string(body, "if_not_exists", 16);
  if (ine == "create") r.create = true;
  else if (!ine.empty() && ine != "reject") bad("'if_not_exists' must be create or reject");
  if (r.create && r.resume) bad("a resume needs a thread that exists; drop 'if_not_exists'");
  return r;
}

CopyThread parse_copy_thread(const json& body) {
  CopyThread c;
  c.checkpoint = opt_string(body, "checkpoint", 64);
  c.thread_id = opt_string(body, "thread_id", 128);
  if (!c.thread_id.empty()) check_id(c.thread_id, "thread_id");
  if (!c.checkpoint.empty()) check_id(c.checkpoint, "checkpoint");
  return c;
}

Decision parse_decision(const json& body) {
  Decision d;
  d.reason = opt_string(body, "reason", 4096);
  d.reviewer = opt_string(body, "reviewer", 128);
  if (d.reason.find_first_not_of(" \t\r\n") == std::string::npos) bad("a decision needs a 'reason' (the audit log keeps it)");
  return d;
}

void check_id(const std::string& id, const char* what) {
  if (id.empty() || id.size() > 128) bad(std::string("a ") + what + " has 1 to 128 characters");
  for (unsigned char c : id)
    if (!std::isalnum(c) && c != '.' && c != '_' && c != ':' && c != '-')
      bad(std::string("a ") + what + " may hold only letters, digits and . _ : -");
}

namespace {
bool parse_i64(const std::string& s, int64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out >= 0;
}
}  // namespace

int64_t parse_proposal_id(const std::string& s) {
  int64_t n = 0;
  if (!parse_i64(s, n) || n == 0) throw HttpError(404, "not_found", "no proposal '" + quoted(s) + "'; see GET /approvals");
  return n;
}

int64_t parse_event_id(const std::string& s) {
  if (s.empty()) return 0;
  int64_t n = 0;
  if (!parse_i64(s, n)) bad("Last-Event-ID must be the id of an event this server sent (a step number)");
  return n;
}

int parse_int_param(const std::string& s, const char* name, int lo, int hi, int fallback) {
  if (s.empty()) return fallback;
  int64_t n = 0;
  if (!parse_i64(s, n) || n < lo || n > hi)
    bad(std::string("'") + name + "' must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi));
  return static_cast<int>(n);
}

Listen parse_listen(const std::string& s) {
  Listen l;
  std::string port;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') bad("--listen wants [IPV6]:PORT");
    l.host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else if (auto colon = s.rfind(':'); colon != std::string::npos) {
    if (colon > 0) l.host = s.substr(0, colon);
    port = s.substr(colon + 1);
  } else {
    port = s;
  }
  int64_t p = 0;
  if (!parse_i64(port, p) || p > 65535) bad("--listen wants HOST:PORT with a port from 0 to 65535; got '" + quoted(s) + "'");
  l.port = static_cast<int>(p);
  if (l.host.empty()) bad("--listen wants HOST:PORT; the host is empty");
  return l;
}

bool is_loopback(const std::string& host) {
  // Only literal addresses (and the name localhost): a name such as 127.0.0.1.evil.example
  // starts like one but resolves anywhere, and would open the door to DNS rebinding.
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

bool token_equals(const std::string& presented, const std::string& expected) {
  // Every byte of the expected token is looked at, whatever was presented.
  unsigned char diff = presented.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    unsigned char p = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    diff |= static_cast<unsigned char>(p ^ static_cast<unsigned char>(expected[i]));
  }
  volatile unsigned char sink = diff;  // keeps the loop from being cut short
  return sink == 0 && !expected.empty();
}

std::string bearer_token(const std::string& authorization) {
  if (authorization.size() < 7) return "";
  std::string scheme = authorization.substr(0, 7);
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "bearer ") return "";
  auto t = authorization.substr(7);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
  return t;
}

}  // namespace a4ps::server
