// The image-backed checkpointer: one row per step in the image's checkpoints table,
// written in one short transaction with prepared statements (the hot path of a run).
#include <sqlite3.h>

#include <cstdio>
#include <set>

#include "graph/checkpoint.h"
#include "image/image.h"
#include "image/sqlite.h"
#include "util/env.h"

namespace a4ps::graph {
namespace {

namespace sql = image::sql;

class ImageCheckpointer final : public Checkpointer {
 public:
  ImageCheckpointer(image::Image& img, Durability d) : img_(img), stmts_(img.db()), durability_(d) {}

  std::string put(Checkpoint cp) override {
    const int64_t step = cp.step;
    const std::string thread = cp.thread_id;
    try {
      return put_step(std::move(cp));
    } catch (const image::DiskError& e) {
      if (!e.full()) throw;
      // Said in the run's terms: the step is lost, the thread resumes from the one before.
      throw image::DiskError("the disk is full: step " + std::to_string(step) + " of thread '" + thread +
                                 "' was not saved; free some space and resume the thread",
                             true);
    }
  }

  std::string put_step(Checkpoint cp) {
    ensure_thread(cp.thread_id);
    // The step's durability can differ from the image's default (FULL for self-changes).
    bool switch_sync = (durability_ == Durability::Full) != (img_.sync() == image::Sync::Full);
    if (switch_sync) stmts_.exec(durability_ == Durability::Full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    struct Restore {  // the connection's own durability comes back even if the step fails
      ImageCheckpointer* self;
      bool on;
      ~Restore() {
        if (on) self->stmts_.exec(self->img_.sync() == image::Sync::Full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
      }
    } restore{this, switch_sync};
    image::Image::Tx tx(img_);
    auto& last = stmts_.get("SELECT id FROM checkpoints WHERE thread_id=? ORDER BY id DESC LIMIT 1");
    last.bind(1, cp.thread_id);
    long long n = last.step() ? std::stoll(last.text(0)) : 0;
    last.reset();  // an unfinished SELECT pins the WAL snapshot: the WAL could never restart
    char id[24];
    std::snprintf(id, sizeof id, "%012lld", n + 1);
    cp.id = id;
    stmts_.get("INSERT INTO checkpoints(thread_id,id,parent_id,step,state,next,meta,created_at) VALUES(?,?,?,?,?,?,?,?)")
        .bind(1, cp.thread_id).bind(2, cp.id).bind(3, cp.parent_id).bind(4, cp.step).bind(5, cp.state.dump())
        .bind(6, json(cp.next).dump()).bind(7, cp.meta.dump()).bind(8, now_utc(img_.env())).run();
    tx.commit();
    return cp.id;
  }

  std::optional<Checkpoint> get(const std::string& thread, const std::string& id) const override {
    sql::Stmt st(img_.db(), id.empty() ? kSelect + " WHERE thread_id=?1 ORDER BY id DESC LIMIT 1"
                                       : kSelect + " WHERE thread_id=?1 AND id=?2");
    st.bind(1, thread);
    if (!id.empty()) st.bind(2, id);
    if (!st.step()) return std::nullopt;
    return row(st);
  }

  std::vector<Checkpoint> list(const std::string& thread, int limit) const override {
    sql::Stmt st(img_.db(), kSelect + " WHERE thread_id=? ORDER BY id DESC LIMIT ?");
    st.bind(1, thread).bind(2, int64_t{limit});
    std::vector<Checkpoint> out;
    while (st.step()) out.push_back(row(st));
    return out;
  }

  std::vector<Checkpoint> list_after(const std::string& thread, const std::string& after, int limit,
                                     bool with_state) const override {
    sql::Stmt st(img_.db(), with_state ? kSelect + " WHERE thread_id=? AND id>? ORDER BY id LIMIT ?"
                                       : kSelectNoState + " WHERE thread_id=? AND id>? ORDER BY id LIMIT ?");
    st.bind(1, thread).bind(2, after).bind(3, int64_t{limit});
    std::vector<Checkpoint> out;
    while (st.step()) out.push_back(row(st));
    return out;
  }

  void put_writes(const std::string& thread, const std::string& cp, const std::vector<PendingWrite>& w) override {
    image::Image::Tx tx(img_);
    sql::Stmt n(img_.db(), "SELECT count(*) FROM checkpoint_writes WHERE thread_id=? AND checkpoint_id=?");
    n.bind(1, thread).bind(2, cp);
    int64_t idx = n.step() ? n.i64(0) : 0;
    sql::Stmt ins(img_.db(), "INSERT INTO checkpoint_writes(thread_id,checkpoint_id,task_id,idx,channel,value) "
                             "VALUES(?,?,?,?,?,?)");
    for (auto& x : w) {
      ins.reset();
      ins.bind(1, thread).bind(2, cp).bind(3, x.task).bind(4, idx++).bind(5, x.channel).bind(6, x.value.dump()).run();
    }
    tx.commit();
  }

  std::vector<PendingWrite> writes(const std::string& thread, const std::string& cp) const override {
    auto& st = stmts_.get("SELECT task_id,channel,value FROM checkpoint_writes WHERE thread_id=? AND checkpoint_id=? ORDER BY idx");
    st.bind(1, thread).bind(2, cp);
    std::vector<PendingWrite> out;
    while (st.step()) out.push_back({st.text(0), st.text(1), json::parse(st.text(2))});
    return out;
  }

  void set_thread(const std::string& thread, const std::string& status, const json& meta,
                  const std::string& event) override {
    image::Image::Tx tx(img_);
    sql::Stmt st(img_.db(), "INSERT INTO threads(id,status,meta,created_at,updated_at) VALUES(?1,?2,json_patch('{}',?3),?4,?4) "
                            "ON CONFLICT(id) DO UPDATE SET status=?2, meta=json_patch(meta,?3), updated_at=?4");
    st.bind(1, thread).bind(2, status).bind(3, meta.dump()).bind(4, now_utc(img_.env())).run();
    if (!event.empty()) {
      json payload = {{"thread", thread}, {"status", status}};
      if (meta.contains("graph")) payload["graph"] = meta["graph"];
      if (meta.contains("error")) payload["error"] = meta["error"];
      if (meta.contains("forked_from")) payload["forked_from"] = meta["forked_from"];
      img_.append_event(event, "graph", payload);
    }
    tx.commit();
    known_.insert(thread);
  }

  std::optional<ThreadInfo> thread(const std::string& id) const override {
    sql::Stmt st(img_.db(), kThreadSelect + " WHERE t.id=?");
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    return thread_row(st);
  }

  std::vector<ThreadInfo> threads() const override {
    sql::Stmt st(img_.db(), kThreadSelect + " ORDER BY t.updated_at DESC");
    std::vector<ThreadInfo> out;
    while (st.step()) out.push_back(thread_row(st));
    return out;
  }

 private:
  inline static const std::string kSelect =
      "SELECT thread_id,id,parent_id,step,state,next,meta,created_at FROM checkpoints";
  inline static const std::string kSelectNoState =
      "SELECT thread_id,id,parent_id,step,'{}',next,meta,created_at FROM checkpoints";
  inline static const std::string kThreadSelect =
      "SELECT t.id,t.status,t.created_at,t.updated_at,t.meta,"
      "(SELECT count(*) FROM checkpoints c WHERE c.thread_id=t.id) FROM threads t";

  static Checkpoint row(const sql::Stmt& st) {
    Checkpoint c;
    c.thread_id = st.text(0);
    c.id = st.text(1);
    c.parent_id = st.text(2);
    c.step = st.i64(3);
    c.state = json::parse(st.text(4));
    c.next = json::parse(st.text(5)).get<std::vector<std::string>>();
    c.meta = json::parse(st.text(6));
    c.created_at = st.text(7);
    return c;
  }
  static ThreadInfo thread_row(const sql::Stmt& st) {
    return {st.text(0), st.text(1), st.text(2), st.text(3), json::parse(st.text(4)), st.i64(5)};
  }

  void ensure_thread(const std::string& thread) {
    if (known_.count(thread)) return;
    sql::Stmt st(img_.db(), "INSERT OR IGNORE INTO threads(id,status,created_at,updated_at) VALUES(?1,'idle',?2,?2)");
    st.bind(1, thread).bind(2, now_utc(img_.env())).run();
    known_.insert(thread);
  }

  image::Image& img_;
  mutable sql::StmtCache stmts_;
  Durability durability_;
  std::set<std::string> known_;
};

}  // namespace

std::unique_ptr<Checkpointer> image_checkpointer(image::Image& img, Durability d) {
  return std::make_unique<ImageCheckpointer>(img, d);
}

}  // namespace a4ps::graph
