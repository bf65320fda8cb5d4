// Checkpointers: where a graph run's steps are kept. One checkpoint per step, each
// linking its parent; pending writes hold work finished inside a step that has not
// checkpointed yet, so a crash or an interrupt does not redo it.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace a4ps::image {
class Image;
}

namespace a4ps::graph {

using json = nlohmann::json;

struct Checkpoint {
  std::string thread_id, id, parent_id;  // parent "" for the first
  int64_t step = 0;
  json state = json::object();
  std::vector<std::string> next;  // nodes to run from here; empty: the run is over
  json meta = json::object();     // source (input|loop|update|fork), writes, ...
  std::string created_at;
};

struct PendingWrite {
  std::string task;     // the node that produced it
  std::string channel;  // a state key, or "__resume__" / "__interrupt__"
  json value;
};

// Where a thread stands; stored as these words, named only here.
enum class ThreadStatus { Idle, Running, Interrupted, Done, Error };
inline const char* thread_status_name(ThreadStatus s) {
  switch (s) {
    case ThreadStatus::Idle: return "idle";
    case ThreadStatus::Running: return "running";
    case ThreadStatus::Interrupted: return "interrupted";
    case ThreadStatus::Done: return "done";
    case ThreadStatus::Error: return "error";
  }
  return "?";
}

struct ThreadInfo {
  bool is(ThreadStatus s) const { return status == thread_status_name(s); }
  std::string id, status, created_at, updated_at;  // status: a thread_status_name
  json meta = json::object();                      // graph name, interrupts, last error
  int64_t checkpoints = 0;
};

class Checkpointer {
 public:
  virtual ~Checkpointer() = default;
  // Stores cp under a new id (returned) one past the thread's newest, atomically.
  virtual std::string put(Checkpoint cp) = 0;
  virtual std::optional<Checkpoint> get(const std::string& thread, const std::string& id = "") const = 0;
  virtual std::vector<Checkpoint> list(const std::string& thread, int limit = -1) const = 0;  // newest first
  // The thread's checkpoints after id `after` ("" from the first), oldest first, at most
  // `limit`; without `with_state` their state is left empty (a cheap scan for streams).
  virtual std::vector<Checkpoint> list_after(const std::string& thread, const std::string& after, int limit,
                                             bool with_state = true) const {
    auto all = list(thread);  // newest first; ids of one thread sort as their steps
    std::vector<Checkpoint> out;
    for (auto it = all.rbegin(); it != all.rend() && static_cast<int>(out.size()) < limit; ++it)
      if (it->id > after) {
        out.push_back(std::move(*it));
        if (!with_state) out.back().state = json::object();
      }
    return out;
  }
  // The id of the thread's newest checkpoint ("" when it has none), its state not read.
  virtual std::string newest_id(const std::string& thread) const {
    auto l = list(thread, 1);
    return l.empty() ? "" : l.front().id;
  }
  virtual void put_writes(const std::string& thread, const std::string& checkpoint,
                          const std::vector<PendingWrite>& writes) = 0;
  virtual std::vector<PendingWrite> writes(const std::string& thread, const std::string& checkpoint) const = 0;
  // Thread status changes at run boundaries (not per step); the image also logs them.
  // meta is merged into the thread's meta as a JSON merge patch (null removes a key).
  virtual void set_thread(const std::string& thread, const std::string& status, const json& meta,
                          const std::string& event = "") = 0;
  virtual std::optional<ThreadInfo> thread(const std::string& id) const = 0;
  virtual std::vector<ThreadInfo> threads() const = 0;
};

std::unique_ptr<Checkpointer> memory_checkpointer();

// How hard each step's checkpoint is pushed to disk.
enum class Durability {
  Normal,  // default: survives a crashed or killed process; power loss may lose the last steps
  Full,    // fsync per step: survives power loss too (the peer LangGraph's setting)
};

// How a step's state is stored in the image.
enum class Layout {
  Delta,      // default: only what the step changed (a grown array: its new items)
  FullState,  // the whole state in every row, as images were written before; kept to
              // measure the difference and to make images that mix both
};

// Checkpoints in the image's threads/checkpoints/checkpoint_writes tables. The image
// must outlive the checkpointer. Thread status changes append events to the image log.
// Rows of either layout are read alike.
std::unique_ptr<Checkpointer> image_checkpointer(image::Image& img, Durability d = Durability::Normal,
                                                 Layout layout = Layout::Delta);

}  // namespace a4ps::graph
