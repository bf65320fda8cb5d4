// What a client sends, parsed and checked before anything touches the image: each parser
// takes untrusted bytes and either returns a typed request or throws HttpError with the
// status and one line saying what was wrong (the libFuzzer target feeds these directly).
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace a4ps::server {

using json = nlohmann::json;

// An error a client gets as {"error": code, "detail": message} with an HTTP status.
class HttpError : public std::runtime_error {
 public:
  HttpError(int status, std::string code, const std::string& detail)
      : std::runtime_error(detail), status_(status), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string code_;
};

// Client text quoted back in a message: clipped to max bytes, control characters shown as
// '?', so the message stays one line.
std::string printable(const std::string& s, size_t max);

// A JSON object body ("" counts as {}); anything else is a 400 naming the problem.
json parse_body(const std::string& body);

// POST /threads: {"thread_id"?: string, "metadata"?: object}
struct CreateThread {
  std::string thread_id;  // "" a new random one
};
CreateThread parse_create_thread(const json& body);

// POST /threads/search: {"status"?, "graph"?, "text"?, "limit"? (1..1000, default 100), "offset"?}
struct SearchThreads {
  std::string status, graph, text;
  int limit = 100, offset = 0;
};
SearchThreads parse_search_threads(const json& body);

// POST /threads/{id}/runs[/wait|/stream]:
//   {"input": {"task": "..."} | {"messages": [{"role": "user", "content": "..."}]} | "...",
//    "command": {"resume": true}, "multitask_strategy": "reject" | "enqueue"}
// Exactly one of input and command.
struct CreateRun {
  std::string task;      // the task to ask ("" when resuming)
  bool resume = false;   // go on with a thread that waited for a human or was cut off
  bool enqueue = false;  // on a busy thread: wait for its run instead of 409
  bool create = false;   // "if_not_exists": "create": a thread the server has not seen is made
};
CreateRun parse_create_run(const json& body);

// POST /threads/{id}/copy: {"checkpoint"?: string, "thread_id"?: string}
struct CopyThread {
  std::string checkpoint, thread_id;
};
CopyThread parse_copy_thread(const json& body);

// POST /approvals/{id}/approve|reject: {"reason": string (required), "reviewer"?: string}
struct Decision {
  std::string reason, reviewer;
};
Decision parse_decision(const json& body);

// A thread or run id in a path or body: 1..128 of [A-Za-z0-9._:-].
void check_id(const std::string& id, const char* what);
// A proposal id in a path: a positive decimal number.
int64_t parse_proposal_id(const std::string& s);
// Last-Event-ID (or ?after=): a step number; "" is 0. Anything else is a 400.
int64_t parse_event_id(const std::string& s);
// A query parameter that must be an integer within [lo, hi]; "" gives fallback.
int parse_int_param(const std::string& s, const char* name, int lo, int hi, int fallback);

// "HOST:PORT" or ":PORT" or "PORT" (host 127.0.0.1); IPv6 as "[::1]:PORT". Throws HttpError(400).
struct Listen {
  std::string host = "127.0.0.1";
  int port = 8420;
};
Listen parse_listen(const std::string& s);
// Whether a host is loopback (127.0.0.0/8, ::1, localhost): no token needed there.
bool is_loopback(const std::string& host);

// Compares a presented token with the expected one in time that depends only on the
// expected token's length, so timing does not tell how much of a guess was right.
bool token_equals(const std::string& presented, const std::string& expected);
// The bearer token of an Authorization header value ("" when it is not "Bearer X").
std::string bearer_token(const std::string& authorization);

}  // namespace a4ps::server
