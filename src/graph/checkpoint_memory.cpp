// The in-memory checkpointer: for tests and for graphs that need no persistence.
#include <cstdio>
#include <map>

#include "graph/checkpoint.h"
#include "util/util.h"

namespace a4ps::graph {
namespace {

std::string id_for(int64_t n) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%012lld", static_cast<long long>(n));
  return buf;
}

class MemoryCheckpointer final : public Checkpointer {
 public:
  std::string put(Checkpoint cp) override {
    auto& t = threads_[cp.thread_id];
    if (t.info.id.empty()) t.info = {cp.thread_id, thread_status_name(ThreadStatus::Idle), now_utc(), now_utc(), json::object(), 0};
    cp.id = id_for(static_cast<int64_t>(t.cps.size()) + 1);
    cp.created_at = now_utc();
    t.cps.emplace(cp.id, cp);
    return cp.id;
  }
  std::optional<Checkpoint> get(const std::string& thread, const std::string& id) const override {
    auto t = threads_.find(thread);
    if (t == threads_.end() || t->second.cps.empty()) return std::nullopt;
    if (id.empty()) return t->second.cps.rbegin()->second;
    auto c = t->second.cps.find(id);
    if (c == t->second.cps.end()) return std::nullopt;
    return c->second;
  }
  std::vector<Checkpoint> list(const std::string& thread, int limit) const override {
    std::vector<Checkpoint> out;
    auto t = threads_.find(thread);
    if (t == threads_.end()) return out;
    for (auto it = t->second.cps.rbegin(); it != t->second.cps.rend() && (limit < 0 || static_cast<int>(out.size()) < limit); ++it)
      out.push_back(it->second);
    return out;
  }
  void put_writes(const std::string& thread, const std::string& cp, const std::vector<PendingWrite>& w) override {
    auto& v = threads_[thread].writes[cp];
    v.insert(v.end(), w.begin(), w.end());
  }
  std::vector<PendingWrite> writes(const std::string& thread, const std::string& cp) const override {
    auto t = threads_.find(thread);
    if (t == threads_.end()) return {};
    auto w = t->second.writes.find(cp);
    return w == t->second.writes.end() ? std::vector<PendingWrite>{} : w->second;
  }
  void set_thread(const std::string& thread, const std::string& status, const json& meta, const std::string&) override {
    auto& t = threads_[thread].info;
    if (t.id.empty()) t = {thread, status, now_utc(), now_utc(), json::object(), 0};
    t.status = status;
    t.meta.merge_patch(meta);
    t.updated_at = now_utc();
  }
  std::optional<ThreadInfo> thread(const std::string& id) const override {
    auto t = threads_.find(id);
    if (t == threads_.end()) return std::nullopt;
    ThreadInfo i = t->second.info;
    i.checkpoints = static_cast<int64_t>(t->second.cps.size());
    return i;
  }
  std::vector<ThreadInfo> threads() const override {
    std::vector<ThreadInfo> out;
    for (auto& [id, t] : threads_) out.push_back(*thread(id));
    return out;
  }

 private:
  struct Thread {
    ThreadInfo info;
    std::map<std::string, Checkpoint> cps;
    std::map<std::string, std::vector<PendingWrite>> writes;
  };
  std::map<std::string, Thread> threads_;
};

}  // namespace

std::unique_ptr<Checkpointer> memory_checkpointer() { return std::make_unique<MemoryCheckpointer>(); }

}  // namespace a4ps::graph
