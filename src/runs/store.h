// The runs module's table and every SQL statement over it: the record of each run a
// service (`a4ps serve`) did on the image's threads, so its runs outlast the process.
// Registered with the image as the "runs" module (image/schema.h).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "image/image.h"
#include "image/schema.h"

namespace a4ps::runs::store {

const image::ModuleSchema& schema();  // "runs": its table and migrations

struct RunRow {
  std::string id, thread;
  std::string kind;  // task or resume
  std::string task;
  std::string status;  // pending, running, success, interrupted, error, cancelled
  std::string error;
  std::string created_at, finished_at;
  std::string output;  // JSON ("" when none)
};

void put(image::Image& img, const RunRow& r);  // inserts, or replaces the row with its id
std::optional<RunRow> get(const image::Image& img, const std::string& id);
std::vector<RunRow> of_thread(const image::Image& img, const std::string& thread, int limit);  // oldest first
// Every run left pending or running becomes `running_to` / `pending_to`, with `why` and
// finished_at `now`; returns how many changed.
int settle(image::Image& img, const std::string& running_to, const std::string& pending_to, const std::string& why,
           const std::string& now);

}  // namespace a4ps::runs::store
