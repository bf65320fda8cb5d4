// `a4ps serve`: an image as an HTTP service — threads, runs and approvals shaped like the
// Agent Protocol (LangGraph Server), with Server-Sent Events replayable from the image.
// A program over the public API (include/a4ps/): it parses, calls the API and presents.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace a4ps::server {

struct ServeOptions {
  std::string image;                     // must exist (`a4ps image init` makes one)
  std::string listen = "127.0.0.1:8420";  // HOST:PORT; port 0 picks a free one
  std::string token;  // bearer token; required unless the host is loopback (then optional)
  std::string model, sandbox;            // as SessionOptions
  int workers = 4;                       // runs at once (each on its own image handle)
  int http_threads = 128;                // connections served at once (streams hold one each)
  int max_queue = 1000;                  // runs waiting at once
  int step_limit = 200;
  int max_tokens = 0;                    // cap on every persona turn (0: each persona's own)
  size_t max_body = 1 << 20;             // bytes of a request body
  int read_timeout_s = 10, write_timeout_s = 10;
  int request_deadline_ms = 15000;       // to read a request whole (line, headers, body)
  int max_wait_s = 3600;                 // runs/wait gives up (the run goes on) after this
  int max_kernels = 16;                  // idle threads' sandbox kernels kept (least recently used closed first)
  int kernel_idle_ms = 600000;           // a thread's kernel idle this long is closed
  int tool_wall_ms = 10000;              // an MCP tools/call running longer ends as an isError result
  std::vector<std::string> allow_origins;  // CORS: browsers' cross-origin requests; none by default
  // Live mode (a4ps/live.h): while no run is pending or running, the agent pursues its own
  // goals on an image handle of its own; a run that arrives stops it before its next graph
  // step. It waits live_pause_s between rounds (after the budget or the goals ran out).
  bool live = false;
  int live_pause_s = 60;
  std::function<void(const std::string&)> log;  // one line per notable thing (start, stop)
};

class Service {
 public:
  // Opens the image and its workers; throws a4ps::Error (one line) for a bad image, a bad
  // --listen, or a non-loopback address without a token.
  explicit Service(ServeOptions o);
  ~Service();
  int bind();   // binds the address; returns the port (the chosen one for port 0)
  void serve();  // answers requests until stop(); call after bind()
  // Stops taking work, stops each running run before its next step (everything so far is
  // checkpointed, so the threads resume), ends open streams and returns from serve().
  // Safe from another thread (e.g. a signal-waiting one).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace a4ps::server
