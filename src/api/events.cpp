// The public thread events: a thread's checkpoints, read after a given one. The
// checkpoint ids are the thread's step numbers, zero-padded (graph/checkpoint_image.cpp),
// so "after N" is a range on the primary key.
#include <cstdio>

#include "a4ps/events.h"
#include "api/internal.h"
#include "image/sqlite.h"
#include "persona/turn.h"

namespace a4ps {

using json = nlohmann::json;

std::vector<ThreadEvent> thread_events(const Image& image, const std::string& thread, int64_t after, int limit) {
  if (after < 0) throw Error("an event id is a step number, 0 or more; got " + std::to_string(after));
  if (limit < 1 || limit > 10000) throw Error("ask for 1 to 10000 events at a time; got " + std::to_string(limit));
  char from[24];
  std::snprintf(from, sizeof from, "%012lld", static_cast<long long>(after));
  image::sql::Stmt st(image.impl().img.db(),
                      "SELECT id,step,next,meta,created_at FROM checkpoints WHERE thread_id=? AND id>? ORDER BY id LIMIT ?");
  st.bind(1, thread).bind(2, std::string_view(from)).bind(3, int64_t{limit});
  std::vector<ThreadEvent> out;
  while (st.step()) {
    ThreadEvent e;
    e.checkpoint = st.text(0);
    e.id = std::stoll(e.checkpoint);
    e.step = st.i64(1);
    json next = json::parse(st.text(2), nullptr, false);
    if (next.is_array())
      for (auto& n : next)
        if (n.is_string()) e.next.push_back(n);
    json meta = json::parse(st.text(3), nullptr, false);
    if (!meta.is_object()) meta = json::object();
    e.source = meta.value("source", "");
    json writes = meta.value("writes", json::object());
    if (writes.is_object())
      for (auto& [node, u] : writes.items())
        if (u.is_object() && u.contains("transcript") && u["transcript"].is_array())
          u["transcript"] = persona::without_prompts(u["transcript"]);
    e.created_at = st.text(4);
    e.data_json = json{{"id", e.id}, {"checkpoint", e.checkpoint}, {"step", e.step}, {"source", e.source},
                       {"next", e.next}, {"writes", writes}}
                      .dump();
    out.push_back(std::move(e));
  }
  return out;
}

int64_t last_thread_event(const Image& image, const std::string& thread) {
  image::sql::Stmt st(image.impl().img.db(), "SELECT max(id) FROM checkpoints WHERE thread_id=?");
  st.bind(1, thread);
  return st.step() && !st.is_null(0) ? std::stoll(st.text(0)) : 0;
}

}  // namespace a4ps
