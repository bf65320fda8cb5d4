// The image-backed checkpointer: one row per step in the image's checkpoints table,
// written in one short transaction with prepared statements (the hot path of a run).
//
// A row keeps only what its step changed (the way LangGraph keeps a version per channel):
// `state` holds the channels set anew, and for an array channel that only grew, just its
// new items and the row they follow; `channels` names, per channel, the row that holds its
// latest value. So a long conversation adds the size of its new messages per step, not
// the whole history again. Rows written before (channels NULL) hold the whole state and
// are read as they are; a thread may mix both.
//
// Rows are keyed by one integer, k = thread number << 40 | checkpoint number (version 2),
// so a thread's next step appends at the end of its range of the table's b-tree: SQLite
// then adds a page when one fills (rowid tables split an append cheaply), where the
// (thread_id, id) key of a WITHOUT ROWID table rebalanced three pages every few steps,
// about a fifth of a step's commit. An image opened read-only before it was migrated is
// read through its older (thread_id, id) key.
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "graph/checkpoint.h"
#include "image/image.h"
#include "image/schema.h"
#include "image/sqlite.h"
#include "util/env.h"

namespace a4ps::graph {
namespace {

namespace sql = image::sql;

// Version 1: the `channels` column. The checkpoints table is the core's, but its layout is
// this module's business: rows with channels NULL (all rows before) keep the whole state.
constexpr const char* kV1 = "ALTER TABLE checkpoints ADD COLUMN channels TEXT";
// Version 2: rows keyed by k (see above), threads numbered in checkpoint_threads. A step's
// pending writes no longer name their checkpoint by a foreign key: that needs a unique
// index on (thread_id, id), one more page written by every step.
constexpr const char* kV2 = R"(
CREATE TABLE checkpoint_threads(
  no        INTEGER PRIMARY KEY,
  thread_id TEXT NOT NULL UNIQUE
);
INSERT INTO checkpoint_threads(thread_id) SELECT DISTINCT thread_id FROM checkpoints ORDER BY thread_id;
CREATE TABLE checkpoint_writes_v2(
  thread_id     TEXT NOT NULL,
  checkpoint_id TEXT NOT NULL,
  task_id       TEXT NOT NULL,
  idx           INTEGER NOT NULL,
  channel       TEXT NOT NULL,
  value         TEXT NOT NULL,
  PRIMARY KEY (thread_id, checkpoint_id, task_id, idx)
) WITHOUT ROWID;
INSERT INTO checkpoint_writes_v2 SELECT thread_id, checkpoint_id, task_id, idx, channel, value FROM checkpoint_writes;
DROP TABLE checkpoint_writes;
ALTER TABLE checkpoint_writes_v2 RENAME TO checkpoint_writes;
CREATE TABLE checkpoints_v2(
  k          INTEGER PRIMARY KEY,
  thread_id  TEXT NOT NULL REFERENCES threads(id),
  id         TEXT NOT NULL,
  parent_id  TEXT NOT NULL DEFAULT '',
  step       INTEGER NOT NULL,
  state      TEXT NOT NULL,
  next       TEXT NOT NULL DEFAULT '[]',
  meta       TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  channels   TEXT
);
INSERT INTO checkpoints_v2(k, thread_id, id, parent_id, step, state, next, meta, created_at, channels)
  SELECT (n.no << 40) | CAST(c.id AS INTEGER), c.thread_id, c.id, c.parent_id, c.step, c.state, c.next, c.meta,
         c.created_at, c.channels
  FROM checkpoints c JOIN checkpoint_threads n ON n.thread_id = c.thread_id;
DROP TABLE checkpoints;
ALTER TABLE checkpoints_v2 RENAME TO checkpoints;
)";
// What the key and the dropped foreign key promised, for `image check`.
constexpr const char* kCheck = R"(
SELECT 'checkpoint ' || c.id || ' of thread ''' || c.thread_id || ''' is filed under another key'
  FROM checkpoints c LEFT JOIN checkpoint_threads n ON n.thread_id = c.thread_id
  WHERE n.no IS NULL OR c.k != ((n.no << 40) | CAST(c.id AS INTEGER))
UNION ALL
SELECT 'a pending write of thread ''' || w.thread_id || ''' names checkpoint ' || w.checkpoint_id || ', which is missing'
  FROM checkpoint_writes w LEFT JOIN checkpoint_threads n ON n.thread_id = w.thread_id
  WHERE NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.k = ((n.no << 40) | CAST(w.checkpoint_id AS INTEGER))
                                                AND c.thread_id = w.thread_id AND c.id = w.checkpoint_id)
LIMIT 20
)";
const image::ModuleSchema kSchema{.name = "graph", .steps = {{1, kV1}, {2, kV2}}, .check = kCheck};
[[maybe_unused]] const bool kRegistered = image::register_module(kSchema);

std::string id_of(int64_t n) {
  if (n < 0 || n > 999999999999) {
    char id[24];
    std::snprintf(id, sizeof id, "%012lld", static_cast<long long>(n));
    return id;
  }
  std::string id(12, '0');  // as "%012lld", without printf on every step
  for (int i = 11; i >= 0 && n > 0; --i, n /= 10) id[static_cast<size_t>(i)] = static_cast<char>('0' + n % 10);
  return id;
}
int64_t number_of(const std::string& id) { return id.empty() ? 0 : std::stoll(id); }
// The checkpoint number an id spells; -1 when it spells none (then no row has it).
int64_t parse_id(const std::string& id) {
  if (id.empty() || id.size() > 12 || id.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(id);
}

constexpr int kNumberBits = 40;  // checkpoint numbers below 10^12 < 2^40
int64_t key_of(int64_t thread_no, int64_t n) { return (thread_no << kNumberBits) | n; }
int64_t first_key(int64_t thread_no) { return thread_no << kNumberBits; }
int64_t end_key(int64_t thread_no) { return (thread_no + 1) << kNumberBits; }

// A row as read, its state not yet put together.
struct RawRow {
  Checkpoint cp;
  std::string state;         // the whole state, or (channels non-null) the step's changes
  std::optional<json> channels;  // channel -> number of the row holding its value
};

// One channel's value as one row stores it: whole, or items appended to an earlier row's.
struct Piece {
  bool whole = true;
  int64_t base = 0;
  json value;
};

// The JSON texts of one row, written by one serializer into one buffer: json::dump()
// builds a serializer, with its buffers, for every call, a visible part of a step. Views
// are valid until the next clear() or add().
class RowTexts {
 public:
  RowTexts() : out_(nlohmann::detail::output_adapter<char, std::string>(buf_), ' ') {}
  void clear() {
    buf_.clear();
    ends_.clear();
  }
  size_t add(const json& v) {  // as v.dump()
    out_.dump(v, false, false, 0);
    ends_.push_back(buf_.size());
    return ends_.size() - 1;
  }
  std::string_view operator[](size_t i) const {
    size_t begin = i == 0 ? 0 : ends_[i - 1];
    return {buf_.data() + begin, ends_[i] - begin};
  }

 private:
  std::string buf_;
  std::vector<size_t> ends_;
  nlohmann::detail::serializer<json> out_;  // writes to buf_
};

class ImageCheckpointer final : public Checkpointer {
 public:
  ImageCheckpointer(image::Image& img, Durability d, Layout layout)
      : ImageCheckpointer(img, d, layout, image::module_version(img.db(), kSchema)) {}
  ImageCheckpointer(image::Image& img, Durability d, Layout layout, int version)
      : img_(img), stmts_(img.db()), durability_(d),
        has_channels_(version >= 1),  // a read-only open of an older image: no column
        keyed_(version >= 2),
        delta_(layout == Layout::Delta && has_channels_),
        select_(std::string("SELECT thread_id,id,parent_id,step,state,next,meta,created_at,") +
                (has_channels_ ? "channels" : "NULL") + " FROM checkpoints"),
        select_no_state_("SELECT thread_id,id,parent_id,step,'{}',next,meta,created_at,NULL FROM checkpoints"),
        select_one_(select_ + " WHERE k=?") {}

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
    // The step's durability can differ from the image's default (FULL for self-changes);
    // the image switches the connection only when it differs from the last commit's.
    if (!keyed_) throw Error("internal: this image's checkpoints are of an older layout; open it read-write once");
    // Inside a caller's transaction the data version does not move with its writes: the
    // newest number is read, not trusted from the last commit.
    const bool outermost = sqlite3_get_autocommit(img_.db());
    image::Image::Tx tx(img_, durability_ == Durability::Full ? image::Sync::Full : image::Sync::Normal);
    ensure_thread(cp.thread_id);
    const int64_t no = thread_no_for_write(cp.thread_id);
    const int64_t n = newest(cp.thread_id, no, outermost) + 1;
    cp.id = id_of(n);
    json where;
    const bool delta = delta_ && cp.state.is_object();  // (graphs' states always are)
    texts_.clear();
    size_t state, channels = 0;
    if (delta) {
      where = json::object();
      state = texts_.add(changes(cp, n, where));
      channels = texts_.add(where);
    } else {
      state = texts_.add(cp.state);
    }
    const size_t next = texts_.add(json(cp.next)), meta = texts_.add(cp.meta);
    const std::string created = now_utc(img_.env());
    auto& ins = stmts_.get("INSERT INTO checkpoints(thread_id,id,parent_id,step,state,next,meta,created_at,channels,k) "
                           "VALUES(?,?,?,?,?,?,?,?,?,?)");
    ins.bind_ref(1, cp.thread_id).bind_ref(2, cp.id).bind_ref(3, cp.parent_id).bind(4, cp.step).bind_ref(5, texts_[state]);
    ins.bind_ref(6, texts_[next]).bind_ref(7, texts_[meta]).bind_ref(8, created);
    if (delta) ins.bind_ref(9, texts_[channels]);
    else ins.bind_null(9);
    ins.bind(10, key_of(no, n));
    ins.run();
    ins.reset();  // its values are these locals
    newest_.erase(cp.thread_id);  // known again only once committed
    tx.commit();
    if (delta) remember(cp.thread_id, cp.id, std::move(cp.state), std::move(where));
    if (sqlite3_get_autocommit(img_.db())) {
      known_.insert(cp.thread_id);
      remember_no(cp.thread_id, no);
      fresh_[cp.thread_id] = cp.id;
      if (newest_.size() >= 64) newest_.clear();  // a server with many threads
      newest_[cp.thread_id] = {n, data_version()};
    }
    return cp.id;
  }

  // The number of the thread's newest checkpoint (0: none), inside the step's transaction.
  // The one this saver last committed is still the newest while no commit has changed the
  // image since, by any connection or process (SQLite's data version, which the BEGIN
  // IMMEDIATE just brought up to date): then the read is spared.
  int64_t newest(const std::string& thread, int64_t no, bool trust_cache) {
    if (auto k = newest_.find(thread); trust_cache && k != newest_.end() && k->second.data_version == data_version())
      return k->second.n;
    auto& last = stmts_.get("SELECT k FROM checkpoints WHERE k>=? AND k<? ORDER BY k DESC LIMIT 1");
    last.bind(1, first_key(no)).bind(2, end_key(no));
    int64_t n = last.step() ? last.i64(0) - first_key(no) : 0;
    last.reset();  // an unfinished SELECT pins the WAL snapshot: the WAL could never restart
    return n;
  }

  // Changes whenever the image's content does, through this connection or any other.
  uint32_t data_version() const {
    unsigned int v = 0;
    if (sqlite3_file_control(img_.db(), "main", SQLITE_FCNTL_DATA_VERSION, &v) != SQLITE_OK) return 0;
    return v;
  }

  std::optional<Checkpoint> get(const std::string& thread, const std::string& id) const override {
    auto rows = id.empty() ? range(thread, "", 1, true) : one(thread, id);
    if (rows.empty()) return std::nullopt;
    std::optional<json> where = rows[0].channels;
    if (auto k = known_cps_.find(thread); where && k != known_cps_.end() && k->second.id == rows[0].cp.id) {
      rows[0].cp.state = k->second.state;  // rows never change: the one this process last wrote or read
      return std::move(rows[0].cp);
    }
    auto out = complete(thread, std::move(rows));
    if (delta_) {  // the next step most likely follows this one
      if (!where) where = whole_row_channels(out[0]);
      if (where) remember(thread, out[0].id, out[0].state, std::move(*where));
    }
    return std::move(out[0]);
  }

  std::vector<Checkpoint> list(const std::string& thread, int limit) const override {
    return complete(thread, range(thread, "", limit, true));
  }

  std::vector<Checkpoint> list_after(const std::string& thread, const std::string& after, int limit,
                                     bool with_state) const override {
    return complete(thread, range(thread, after, limit, false, with_state));
  }

  // A stream's cursor: the newest row's id, without putting its state together (which
  // walks back through the rows a long conversation's messages were appended in).
  std::string newest_id(const std::string& thread) const override {
    auto rows = range(thread, "", 1, true, false);
    return rows.empty() ? "" : rows.front().cp.id;
  }

  void put_writes(const std::string& thread, const std::string& cp, const std::vector<PendingWrite>& w) override {
    fresh_.erase(thread);
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
    // A step this run has just written has none yet (another process adds some only to a
    // thread that is not running here): the run asks at every step, and a read outside a
    // transaction costs a WAL read lock of its own.
    if (auto f = fresh_.find(thread); f != fresh_.end() && f->second == cp) return {};
    auto& st = stmts_.get("SELECT task_id,channel,value FROM checkpoint_writes WHERE thread_id=? AND checkpoint_id=? ORDER BY idx");
    st.bind(1, thread).bind(2, cp);
    std::vector<PendingWrite> out;
    while (st.step()) out.push_back({st.text(0), st.text(1), json::parse(st.text(2))});
    return out;
  }

  void set_thread(const std::string& thread, const std::string& status, const json& meta,
                  const std::string& event) override {
    fresh_.erase(thread);  // a run starts or ends: its steps' writes are read again
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
    sql::Stmt st(img_.db(), thread_select() + " WHERE t.id=?");
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    return thread_row(st);
  }

  std::vector<ThreadInfo> threads() const override {
    sql::Stmt st(img_.db(), thread_select() + " ORDER BY t.updated_at DESC");
    std::vector<ThreadInfo> out;
    while (st.step()) out.push_back(thread_row(st));
    return out;
  }

 private:
  // A thread's checkpoints are counted over its range of keys (or, in an image of the
  // older layout, by its thread_id key).
  std::string thread_select() const {
    return keyed_ ? "SELECT t.id,t.status,t.created_at,t.updated_at,t.meta,"
                    "(SELECT count(*) FROM checkpoints c JOIN checkpoint_threads n ON n.thread_id=t.id"
                    " WHERE c.k>=(n.no<<40) AND c.k<((n.no+1)<<40)) FROM threads t"
                  : "SELECT t.id,t.status,t.created_at,t.updated_at,t.meta,"
                    "(SELECT count(*) FROM checkpoints c WHERE c.thread_id=t.id) FROM threads t";
  }

  // The thread's number in the key, when it has checkpoints. Cached only when read outside
  // a transaction: a number given inside one that rolls back goes to another thread later.
  std::optional<int64_t> thread_no(const std::string& thread) const {
    if (auto k = thread_nos_.find(thread); k != thread_nos_.end()) return k->second;
    auto& st = stmts_.get("SELECT no FROM checkpoint_threads WHERE thread_id=?");
    st.bind(1, thread);
    std::optional<int64_t> no;
    if (st.step()) no = st.i64(0);
    st.reset();
    if (no && sqlite3_get_autocommit(img_.db())) remember_no(thread, *no);
    return no;
  }

  // Inside the step's transaction: numbers the thread at its first checkpoint.
  int64_t thread_no_for_write(const std::string& thread) {
    if (auto k = thread_nos_.find(thread); k != thread_nos_.end()) return k->second;
    if (auto no = thread_no(thread)) return *no;
    auto& ins = stmts_.get("INSERT INTO checkpoint_threads(thread_id) VALUES(?)");
    ins.bind(1, thread).run();
    ins.reset();
    return sqlite3_last_insert_rowid(img_.db());
  }

  void remember_no(const std::string& thread, int64_t no) const {
    if (thread_nos_.size() >= 1024) thread_nos_.clear();  // a server with many threads
    thread_nos_[thread] = no;
  }

  // The row of one checkpoint (none: no such id in the thread).
  std::vector<RawRow> one(const std::string& thread, const std::string& id) const {
    if (!keyed_) {
      sql::Stmt st(img_.db(), select_ + " WHERE thread_id=?1 AND id=?2");
      st.bind(1, thread).bind(2, id);
      return read(st);
    }
    auto no = thread_no(thread);
    const int64_t n = parse_id(id);
    if (!no || n < 0) return {};
    auto& st = stmts_.get(select_one_.c_str());
    st.bind(1, key_of(*no, n));
    auto rows = read(st);
    st.reset();
    return rows;
  }

  // A thread's rows: the newest `limit` (newest first), or (after != "" or !newest_first)
  // the first `limit` after the checkpoint `after`, oldest first.
  std::vector<RawRow> range(const std::string& thread, const std::string& after, int limit, bool newest_first,
                            bool with_state = true) const {
    const std::string& sel = with_state ? select_ : select_no_state_;
    if (!keyed_) {
      sql::Stmt st(img_.db(), newest_first ? sel + " WHERE thread_id=?1 ORDER BY id DESC LIMIT ?3"
                                           : sel + " WHERE thread_id=?1 AND id>?2 ORDER BY id LIMIT ?3");
      st.bind(1, thread).bind(3, int64_t{limit});
      if (!newest_first) st.bind(2, after);
      return read(st);
    }
    auto no = thread_no(thread);
    if (!no) return {};
    int64_t from = first_key(*no);
    if (!newest_first && !after.empty()) {
      const int64_t n = parse_id(after);
      if (n < 0) throw Error("'" + after + "' is not a checkpoint id of thread '" + thread + "' (ids are 12 digits)");
      from = key_of(*no, n) + 1;
    }
    sql::Stmt st(img_.db(), newest_first ? sel + " WHERE k>=?1 AND k<?2 ORDER BY k DESC LIMIT ?3"
                                         : sel + " WHERE k>=?1 AND k<?2 ORDER BY k LIMIT ?3");
    st.bind(1, from).bind(2, end_key(*no)).bind(3, int64_t{limit});
    return read(st);
  }

  // The last checkpoint written or read on a thread, whole: the parent of its next step.
  struct Known {
    std::string id;
    json state, where;
  };

  static ThreadInfo thread_row(const sql::Stmt& st) {
    return {st.text(0), st.text(1), st.text(2), st.text(3), json::parse(st.text(4)), st.i64(5)};
  }

  static std::vector<RawRow> read(sql::Stmt& st) {
    std::vector<RawRow> out;
    while (st.step()) {
      RawRow r;
      r.cp.thread_id = st.text(0);
      r.cp.id = st.text(1);
      r.cp.parent_id = st.text(2);
      r.cp.step = st.i64(3);
      r.state = st.text(4);
      r.cp.next = json::parse(st.text(5)).get<std::vector<std::string>>();
      r.cp.meta = json::parse(st.text(6));
      r.cp.created_at = st.text(7);
      if (!st.is_null(8)) r.channels = json::parse(st.text(8));
      out.push_back(std::move(r));
    }
    return out;
  }

  // Where the channels of a row of the older layout live: all in that row.
  static std::optional<json> whole_row_channels(const Checkpoint& cp) {
    if (!cp.state.is_object()) return std::nullopt;
    json where = json::object();
    for (auto& [ch, v] : cp.state.items()) where[ch] = number_of(cp.id);
    return where;
  }

  [[noreturn]] static void damaged(const std::string& thread, const std::string& what) {
    throw Error("thread '" + thread + "' in this image is damaged: " + what + "; run `a4ps image check` and restore from a backup");
  }

  // Puts together the state of each row of one thread. A row of the older layout is whole;
  // a newer row's channels are found by walking back from the rows they name, reading
  // each needed row once, newest first.
  std::vector<Checkpoint> complete(const std::string& thread, std::vector<RawRow> rows) const {
    std::map<int64_t, std::set<std::string>, std::greater<>> wanted;  // row -> channels to read there
    std::set<std::pair<int64_t, std::string>> asked;                    // (row, channel) some checkpoint names
    for (auto& r : rows) {
      if (!r.channels) continue;
      for (auto& [ch, at] : r.channels->items()) {
        wanted[at.get<int64_t>()].insert(ch);
        asked.insert({at.get<int64_t>(), ch});
      }
    }
    std::map<std::pair<std::string, int64_t>, Piece> pieces;
    if (!wanted.empty()) {
      sql::ReadTx snapshot(img_.db());
      int64_t no = 0;
      if (keyed_) {
        auto found = thread_no(thread);
        if (!found) damaged(thread, "its checkpoints are not numbered");
        no = *found;
      }
      auto& st = keyed_ ? stmts_.get("SELECT id,channels IS NULL,state FROM checkpoints WHERE k>=? AND k<=? ORDER BY k DESC")
                        : stmts_.get("SELECT id,channels IS NULL,state FROM checkpoints WHERE thread_id=? AND id<=? ORDER BY id DESC");
      if (keyed_) st.bind(1, first_key(no)).bind(2, key_of(no, wanted.begin()->first));
      else st.bind(1, thread).bind(2, id_of(wanted.begin()->first));
      while (!wanted.empty() && st.step()) {
        int64_t n = number_of(st.text(0));
        auto w = wanted.find(n);
        if (w == wanted.end()) continue;
        json row = json::parse(st.text(2));
        for (auto& ch : w->second) {
          Piece p;
          if (st.i64(1)) {  // a whole state
            auto v = row.find(ch);
            if (v == row.end()) damaged(thread, "checkpoint " + id_of(n) + " lacks channel '" + ch + "'");
            p.value = std::move(*v);
          } else if (auto s = row.find("set"); s != row.end() && s->contains(ch)) {
            p.value = std::move((*s)[ch]);
          } else if (auto a = row.find("append"); a != row.end() && a->contains(ch)) {
            p.whole = false;
            p.base = (*a)[ch].at("to").get<int64_t>();
            p.value = std::move((*a)[ch]["items"]);
            if (p.base >= n) damaged(thread, "checkpoint " + id_of(n) + " appends to a later one");
            wanted[p.base].insert(ch);
          } else {
            damaged(thread, "checkpoint " + id_of(n) + " lacks channel '" + ch + "'");
          }
          pieces.emplace(std::make_pair(ch, n), std::move(p));
        }
        wanted.erase(w);
      }
      st.reset();
      if (!wanted.empty()) damaged(thread, "checkpoint " + id_of(wanted.begin()->first) + " is missing");
    }
    // Values the rows name, oldest first, so a later one starts from an earlier one's.
    std::map<std::pair<std::string, int64_t>, json> values;
    for (auto& [at, ch] : asked) {
      std::vector<const Piece*> chain;
      json v;
      for (int64_t k = at;;) {
        if (k != at) {
          if (auto done = values.find({ch, k}); done != values.end()) {
            v = done->second;
            break;
          }
        }
        const Piece& p = pieces.at({ch, k});
        if (p.whole) {
          v = p.value;
          break;
        }
        chain.push_back(&p);
        k = p.base;
      }
      for (auto it = chain.rbegin(); it != chain.rend(); ++it)
        for (auto& item : (*it)->value) v.push_back(item);
      values.emplace(std::make_pair(ch, at), std::move(v));
    }
    // Each value is moved into the last checkpoint that names it, copied into the others.
    std::map<std::pair<std::string, int64_t>, int> uses;
    for (auto& r : rows)
      if (r.channels)
        for (auto& [ch, at] : r.channels->items()) ++uses[{ch, at.get<int64_t>()}];
    std::vector<Checkpoint> out;
    out.reserve(rows.size());
    for (auto& r : rows) {
      if (r.channels) {
        r.cp.state = json::object();
        for (auto& [ch, at] : r.channels->items()) {
          std::pair<std::string, int64_t> key{ch, at.get<int64_t>()};
          json& v = values.at(key);
          r.cp.state[ch] = --uses[key] == 0 ? std::move(v) : v;
        }
      } else {
        r.cp.state = json::parse(r.state);
      }
      out.push_back(std::move(r.cp));
    }
    return out;
  }

  // What step n changed against its parent, as the row stores it; fills `where` (channel ->
  // the row holding its value).
  json changes(const Checkpoint& cp, int64_t n, json& where) {
    const Known* parent = parent_of(cp);
    json set = json::object(), append = json::object();
    for (auto& [ch, v] : cp.state.items()) {
      const json* old = nullptr;
      int64_t old_at = 0;
      if (parent) {
        auto o = parent->state.find(ch);
        auto w = parent->where.find(ch);
        if (o != parent->state.end() && w != parent->where.end()) old = &*o, old_at = w->get<int64_t>();
      }
      if (old && old->is_array() && v.is_array() && v.size() >= old->size() &&
          std::equal(old->begin(), old->end(), v.begin())) {
        if (v.size() == old->size()) {
          where[ch] = old_at;
        } else {
          append[ch] = {{"to", old_at}, {"items", json(v.begin() + static_cast<std::ptrdiff_t>(old->size()), v.end())}};
          where[ch] = n;
        }
      } else if (old && *old == v) {
        where[ch] = old_at;
      } else {
        set[ch] = v;
        where[ch] = n;
      }
    }
    json row = json::object();
    if (!set.empty()) row["set"] = std::move(set);
    if (!append.empty()) row["append"] = std::move(append);
    return row;
  }

  // The parent of cp, whole, with where each of its channels lives; nullptr for a first step.
  const Known* parent_of(const Checkpoint& cp) {
    if (cp.parent_id.empty()) return nullptr;
    auto k = known_cps_.find(cp.thread_id);
    if (k != known_cps_.end() && k->second.id == cp.parent_id) return &k->second;
    // Not the last one seen here (a branch, or written by another process): read it.
    auto rows = one(cp.thread_id, cp.parent_id);
    if (rows.empty()) return nullptr;
    std::optional<json> where = rows[0].channels;
    auto whole = complete(cp.thread_id, std::move(rows));
    if (!where) where = whole_row_channels(whole[0]);
    if (!where) return nullptr;
    read_parent_ = {cp.parent_id, std::move(whole[0].state), std::move(*where)};
    return &read_parent_;
  }

  // Kept only once committed: a row of a transaction that is later rolled back must not
  // become the base of the next step's changes.
  void remember(const std::string& thread, const std::string& id, json state, json where) const {
    if (!sqlite3_get_autocommit(img_.db())) {
      known_cps_.erase(thread);
      return;
    }
    if (known_cps_.size() >= 64 && !known_cps_.count(thread)) known_cps_.clear();  // a server with many threads
    known_cps_[thread] = {id, std::move(state), std::move(where)};
  }

  // Inside the step's transaction: known only once that commits.
  void ensure_thread(const std::string& thread) {
    if (known_.count(thread)) return;
    sql::Stmt st(img_.db(), "INSERT OR IGNORE INTO threads(id,status,created_at,updated_at) VALUES(?1,'idle',?2,?2)");
    st.bind(1, thread).bind(2, now_utc(img_.env())).run();
  }

  image::Image& img_;
  mutable sql::StmtCache stmts_;
  Durability durability_;
  const bool has_channels_, keyed_, delta_;
  const std::string select_, select_no_state_, select_one_;
  std::set<std::string> known_;
  mutable std::map<std::string, int64_t> thread_nos_;  // committed thread numbers
  mutable std::map<std::string, Known> known_cps_;
  Known read_parent_;  // a parent read from the image for the step being written
  std::map<std::string, std::string> fresh_;  // per thread: the step this process last wrote, without writes since
  struct Newest {
    int64_t n;
    uint32_t data_version;  // of the image right after that commit
  };
  std::map<std::string, Newest> newest_;  // per thread: the checkpoint this saver last committed
  RowTexts texts_;
};

}  // namespace

std::unique_ptr<Checkpointer> image_checkpointer(image::Image& img, Durability d, Layout layout) {
  return std::make_unique<ImageCheckpointer>(img, d, layout);
}

}  // namespace a4ps::graph
