#include "a4ps/audit.h"

#include <algorithm>

#include "api/internal.h"

namespace a4ps {

std::vector<ImageEvent> image_events(const Image& image, const ImageEventsOptions& o) {
  if (o.limit < 1 || o.limit > 1000) throw Error("ask for 1 to 1000 events at a time; got " + std::to_string(o.limit));
  if (o.before < 0) throw Error("'before' is an event's seq, 0 or more; got " + std::to_string(o.before));
  const auto& img = image.impl().img;
  int64_t end = o.before > 0 ? o.before : img.info().head_seq + 1;  // exclusive
  int64_t after = std::max<int64_t>(0, end - 1 - o.limit);
  std::vector<ImageEvent> out;
  for (auto& e : img.events(after, end - 1 - after)) {
    if (e.seq >= end) break;
    out.push_back({e.seq, e.ts, e.kind, e.actor, e.payload, e.hash});
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace a4ps
