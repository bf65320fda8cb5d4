// The image's audit log: every change it ever took, as the hash-chained events it keeps
// (what `a4ps image check` verifies), newest first, a page at a time.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "a4ps/image.h"

namespace a4ps {

struct ImageEvent {
  int64_t seq = 0;  // its place in the chain: 1, 2, ...
  std::string ts, kind, actor;
  std::string payload_json = "{}";
  std::string hash;  // the chain's hash up to and including it
};

struct ImageEventsOptions {
  int64_t before = 0;  // only events older than this seq (0: up to the newest)
  int limit = 100;     // 1..1000
};
// Newest first. Throws Error for a limit out of range or a negative `before`.
std::vector<ImageEvent> image_events(const Image& image, const ImageEventsOptions& options = {});

}  // namespace a4ps
