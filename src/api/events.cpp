// The public thread events: a thread's checkpoints, read after a given one. The
// checkpoint ids are the thread's step numbers, zero-padded (graph/checkpoint_image.cpp),
// so "after N" is a range on the primary key; their state is not read.
#include <cstdio>

#include "a4ps/events.h"
#include "api/internal.h"
#include "persona/turn.h"

namespace a4ps {

using json = nlohmann::json;

std::vector<ThreadEvent> thread_events(const Image& image, const std::string& thread, int64_t after, int limit) {
  if (after < 0) throw Error("an event id is a step number, 0 or more; got " + std::to_string(after));
  if (limit < 1 || limit > 10000) throw Error("ask for 1 to 10000 events at a time; got " + std::to_string(limit));
  char from[24];
  std::snprintf(from, sizeof from, "%012lld", static_cast<long long>(after));
  auto cp = graph::image_checkpointer(image.impl().img);
  std::vector<ThreadEvent> out;
  for (auto& c : cp->list_after(thread, after ? from : "", limit, false)) {
    ThreadEvent e;
    e.checkpoint = c.id;
    e.id = std::stoll(c.id);
    e.step = c.step;
    e.next = c.next;
    e.source = c.meta.value("source", "");
    json writes = c.meta.value("writes", json::object());
    if (writes.is_object())
      for (auto& [node, u] : writes.items())
        if (u.is_object() && u.contains("transcript") && u["transcript"].is_array())
          u["transcript"] = persona::without_prompts(u["transcript"]);
    e.created_at = c.created_at;
    e.data_json = json{{"id", e.id}, {"checkpoint", e.checkpoint}, {"step", e.step}, {"source", e.source},
                       {"next", e.next}, {"writes", writes}}
                      .dump();
    out.push_back(std::move(e));
  }
  return out;
}

int64_t last_thread_event(const Image& image, const std::string& thread) {
  std::string newest = graph::image_checkpointer(image.impl().img)->newest_id(thread);
  return newest.empty() ? 0 : std::stoll(newest);
}

}  // namespace a4ps
