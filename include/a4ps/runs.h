// Run records: what a service (`a4ps serve`) keeps in the image about each run it did on a
// thread — queued, running, how it ended — so a client can still ask about a run after the
// service restarted. The thread's own steps are in its checkpoints (threads.h); a record is
// the run's envelope around them.
//
//   a4ps::save_run(img, {.id = "r1", .thread = "t1", .kind = "task", .task = "hi", .status = "pending", .created_at = now});
//   auto runs = a4ps::thread_runs(img, "t1");
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "a4ps/image.h"

namespace a4ps {

struct RunRecord {
  std::string id;      // unique in the image (the caller makes it)
  std::string thread;
  std::string kind = "task";  // task or resume
  std::string task;           // "" for a resume
  // pending, running, success, interrupted (waits for a human, or was cut off: resumable),
  // error or cancelled
  std::string status = "pending";
  std::string error;  // why it failed, was cancelled or cut off
  std::string created_at, finished_at;  // ISO-8601 UTC; finished_at "" until it ended
  std::string output_json;              // the run's Answer JSON once it ended with one ("" otherwise)
};

// Stores the record, or updates the one with its id (status, error, finished_at, output;
// the rest is kept as first saved). Throws Error (one line) for a bad kind or status, or an
// image opened read-only.
void save_run(Image& image, const RunRecord& run);
std::optional<RunRecord> find_run(const Image& image, const std::string& id);
// The thread's newest `limit` runs (1..10000), oldest first.
std::vector<RunRecord> thread_runs(const Image& image, const std::string& thread, int limit = 1000);
// After a process that did runs ended without finishing them (stopped or killed): each run
// still running becomes interrupted (its thread resumes from its newest step), each still
// pending cancelled, both with `why`. Returns how many records changed.
int settle_unfinished_runs(Image& image, const std::string& why);

}  // namespace a4ps
