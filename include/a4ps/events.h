// A thread's events: one per step of its run, read back from the image (each step is a
// checkpoint there), so a client that loses its connection asks for what came after the
// last event it saw and gets exactly the rest, in order, even after a restart.
//
// JSON travels as std::string holding JSON text, so this header needs no JSON library.
//
//   for (auto& e : a4ps::thread_events(img, "t1", last_seen)) { show(e.data_json); last_seen = e.id; }
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "a4ps/image.h"

namespace a4ps {

struct ThreadEvent {
  int64_t id = 0;          // the step's number in its thread: 1, 2, ... (durable, only grows)
  std::string checkpoint;  // the checkpoint's id as the image keeps it
  int64_t step = 0;        // the graph step (a second task on a thread goes on counting)
  std::string source;      // input (a task or resume started it), loop (a node ran), update, fork
  std::vector<std::string> next;  // nodes to run from here; empty: the run was over
  // {"id", "checkpoint", "step", "source", "next", "writes": {node: update}}: what each
  // node wrote, transcript turns without the exact prompts (those stay in the image)
  std::string data_json;
  std::string created_at;  // ISO 8601, UTC
};

// The events of `thread` after event `after` (0: from the first), oldest first, at most
// `limit` (1..10000). An unknown thread has none. Throws Error for a negative `after` or
// a limit out of range.
std::vector<ThreadEvent> thread_events(const Image& image, const std::string& thread, int64_t after = 0,
                                       int limit = 1000);
// The id of the thread's newest event (0: none yet).
int64_t last_thread_event(const Image& image, const std::string& thread);

}  // namespace a4ps
