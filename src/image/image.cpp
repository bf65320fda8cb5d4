// Opening, creating and validating image files; transactions; the event chain.
#include "image/image.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <map>
#include <mutex>
#include <cstring>
#include <optional>
#include <fstream>

#include "image/fault_vfs.h"
#include "image/schema.h"
#include "image/sqlite.h"
#include "util/env.h"
#include "util/util.h"

#ifndef A4PS_VERSION
#define A4PS_VERSION "0.0.0"
#endif

namespace a4ps::image {

namespace {
// POSIX advisory locks belong to the process: closing *any* descriptor of a file drops every
// lock SQLite holds on it through this process's other connections. Another process closing
// its last connection may then take the file for itself, checkpoint and delete the WAL and
// -shm, and the connections here keep reading a stale snapshot. So the image's header is
// read raw only while no connection of this process has the file open (the first open
// checked it already). Keyed by device and inode; counts live connections.
struct OpenFiles {
  std::mutex opening;  // one open at a time: no connection appears while a header is read raw
  std::mutex mu;
  std::map<std::pair<dev_t, ino_t>, int> live;
};
OpenFiles& open_files() {
  static OpenFiles f;
  return f;
}
std::optional<std::pair<dev_t, ino_t>> file_key(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return std::nullopt;
  return std::make_pair(st.st_dev, st.st_ino);
}
bool open_here(const fs::path& p) {
  auto k = file_key(p);
  std::lock_guard lk(open_files().mu);
  return k && open_files().live.count(*k) > 0;
}
}  // namespace

namespace {
// The states event guards save (EventGuard::state_key): the image's own module, so images
// of earlier builds get the table the next time they are opened read-write.
constexpr const char* kGuardStatesV1 = R"sql(
CREATE TABLE guard_states(
  key        TEXT PRIMARY KEY,
  seq        INTEGER NOT NULL,
  event_hash TEXT NOT NULL,
  state      BLOB NOT NULL
) WITHOUT ROWID;
)sql";
const ModuleSchema kGuardStates{.name = "guard", .steps = {{1, kGuardStatesV1}}};
[[maybe_unused]] const bool kGuardStatesRegistered = register_module(kGuardStates);
}  // namespace

struct Image::Impl {
  sqlite3* db = nullptr;
  fs::path path;
  Env* env = Env::Default();
  std::string vfs;  // "" the default; kept for the files it makes beside the image (save_as)
  bool read_only = false;
  Sync sync = Sync::Full;  // the mode promised (see Sync)
  Sync at = Sync::Full;    // the connection's mode now
  Sync tx_sync = Sync::Full;  // the outermost open transaction's mode
  bool committing = false;    // Tx::commit's own COMMIT is running
  int tx_depth = 0;
  std::unique_ptr<sql::StmtCache> stmts;  // created with the connection
  std::shared_ptr<EventGuard> guard;
  std::string guard_key;  // the guard's state_key, when this image keeps its states
  std::vector<json> refused;  // violations to record once their transaction is rolled back
  std::optional<std::pair<dev_t, ino_t>> key;  // counted in open_files() while the connection lives
  bool in_registry = false;  // in registry() (watch())

  // Read-write connections keep their durability promise (see Sync) through two hooks.
  void watch();
  static void unwatch(sqlite3* db);
  void set_mode(Sync s);
  // The read-write connections of this process, for the hook that runs before a write made
  // outside any transaction (it knows only the connection).
  struct Registry {
    std::mutex mu;
    std::map<sqlite3*, Impl*> by_db;
  };
  static Registry& registry() {
    static Registry r;
    return r;
  }
  // An autocommit write: back to the promised mode first, so it commits as promised.
  static void before_autocommit_write(sqlite3* db) {
    Impl* impl = nullptr;
    {
      std::lock_guard lk(registry().mu);
      if (auto i = registry().by_db.find(db); i != registry().by_db.end()) impl = i->second;
    }
    if (impl && impl->at != impl->sync) impl->set_mode(impl->sync);
  }
  // Any commit not made by Image::Tx while the connection is at another mode than promised
  // (a raw BEGIN/COMMIT around a write): refused, rolled back, never silently weaker.
  static int on_commit(void* p) {
    auto* impl = static_cast<Impl*>(p);
    return !impl->committing && impl->at != impl->sync ? 1 : 0;
  }
  ~Impl() {
    if (in_registry) unwatch(db);
    stmts.reset();  // statements before the connection
    if (db) sqlite3_close_v2(db);
    if (key) {
      std::lock_guard lk(open_files().mu);
      if (--open_files().live[*key] <= 0) open_files().live.erase(*key);
    }
  }
};

namespace {

const std::string kZeroHash(64, '0');

// A flag raised for one scope.
struct Raised {
  bool& on;
  explicit Raised(bool& b) : on(b) { on = true; }
  ~Raised() { on = false; }
  Raised(const Raised&) = delete;
  Raised& operator=(const Raised&) = delete;
};

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Reads the 100-byte SQLite header ourselves so that a file which is not an image is
// refused before SQLite touches it (no -wal/-shm files, no journal-mode change).
void validate_header(const fs::path& path) {
  const std::string p = path.string();
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw Error("no image at " + p + "; create one with `a4ps image init " + p + "`");
  if (fs::is_directory(path, ec)) throw Error(p + " is a directory, not an image file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + p + ": check permissions");
  std::array<unsigned char, 100> h{};
  in.read(reinterpret_cast<char*>(h.data()), h.size());
  if (in.gcount() < 100 || std::memcmp(h.data(), "SQLite format 3", 16) != 0) {
    if (in.gcount() >= 16 && std::memcmp(h.data(), "SQLite format 3", 16) == 0)
      throw Error(p + " is truncated (shorter than a database header); restore it from a backup or export");
    throw Error(p + " is not an A4PS image (not a SQLite database); check the path");
  }
  uint32_t app = be32(&h[68]);
  if (app != kApplicationId)
    throw Error(p + " is a SQLite database but not an A4PS image (application_id " +
                std::to_string(app) + "); check the path");
  uint32_t ver = be32(&h[60]);
  if (ver > static_cast<uint32_t>(kSchemaVersion))
    throw Error(p + " has image schema " + std::to_string(ver) + ", newer than this a4ps reads (" +
                std::to_string(kSchemaVersion) + "); upgrade a4ps to open it");
  uint32_t page = (uint32_t{h[16]} << 8) | h[17];
  if (page == 1) page = 65536;
  uint64_t size = fs::file_size(path, ec);
  bool has_wal = fs::exists(p + "-wal", ec) && fs::file_size(p + "-wal", ec) > 0;
  uint32_t pages = be32(&h[28]);
  bool pages_valid = be32(&h[24]) == be32(&h[92]);
  if (page < 512 || (page & (page - 1)) != 0 || size % page != 0 ||
      (!has_wal && pages_valid && size < uint64_t{pages} * page))
    throw Error(p + " is truncated or corrupted (" + std::to_string(size) +
                " bytes, header says " + std::to_string(uint64_t{pages} * page) +
                "); restore it from a backup or export");
}

sqlite3* open_db(const fs::path& path, bool read_only, bool create, const std::string& vfs = "") {
  sqlite3* db = nullptr;
  // A read-only *connection* to a WAL file leaves -wal/-shm files behind, so readers use a
  // read-write connection with query_only set, unless the file itself is not writable.
  bool writable = create || access(path.c_str(), W_OK) == 0;
  int flags = writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
  if (create) flags |= SQLITE_OPEN_CREATE;
  if (vfs == FaultVfs::kName) FaultVfs::install();  // the tests' shim registers on first use
  int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, vfs.empty() ? nullptr : vfs.c_str());
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    throw Error("cannot open " + path.string() + ": " + msg);
  }
  sqlite3_busy_timeout(db, 10000);
  sqlite3_extended_result_codes(db, 1);
  if (read_only) sqlite3_exec(db, "PRAGMA query_only=1", nullptr, nullptr, nullptr);
  return db;
}

void set_sync(sqlite3* db, Sync s) {
  sql::exec(db, s == Sync::Full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
}

std::string meta_get(sqlite3* db, std::string_view key) {
  sql::Stmt st(db, "SELECT value FROM meta WHERE key=?");
  st.bind(1, key);
  return st.step() ? st.text(0) : std::string();
}

void meta_set(sqlite3* db, std::string_view key, std::string_view value) {
  sql::Stmt st(db, "INSERT INTO meta(key,value) VALUES(?,?) "
                   "ON CONFLICT(key) DO UPDATE SET value=excluded.value");
  st.bind(1, key).bind(2, value).run();
}

}  // namespace

void Image::Impl::watch() {
  static const bool hooked = (sql::set_autocommit_write_hook(before_autocommit_write), true);
  (void)hooked;
  at = sync;
  sqlite3_commit_hook(db, on_commit, this);
  std::lock_guard lk(registry().mu);
  registry().by_db[db] = this;
  in_registry = true;
}

void Image::Impl::unwatch(sqlite3* db) {
  std::lock_guard lk(registry().mu);
  registry().by_db.erase(db);
}

void Image::Impl::set_mode(Sync s) {
  set_sync(db, s);
  at = s;
}

std::string event_hash(const Event& e) {
  Sha256 h;
  h.update(e.prev_hash).update("\n").update(std::to_string(e.seq)).update("\n").update(e.ts);
  h.update("\n").update(e.kind).update("\n").update(e.actor).update("\n").update(e.payload);
  return h.hex();
}

Image::Image(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Image::~Image() = default;
Image::Image(Image&&) noexcept = default;
Image& Image::operator=(Image&&) noexcept = default;

const fs::path& Image::path() const { return impl_->path; }
Env* Image::env() const { return impl_->env; }
Sync Image::sync() const { return impl_->sync; }
sqlite3* Image::db() const { return impl_->db; }
std::string Image::meta(std::string_view key) const { return meta_get(impl_->db, key); }

std::string Image::setting(std::string_view key) const {
  sql::Stmt st(impl_->db, "SELECT value FROM settings WHERE key=?");
  st.bind(1, key);
  return st.step() ? st.text(0) : std::string();
}

std::vector<std::string> Image::setting_keys() const {
  std::vector<std::string> out;
  sql::Stmt s(impl_->db, "SELECT key FROM settings ORDER BY key");
  while (s.step()) out.push_back(s.text(0));
  return out;
}

void Image::set_setting(std::string_view key, std::string_view value) {
  Tx tx(*this);
  if (value.empty()) {
    sql::Stmt(impl_->db, "DELETE FROM settings WHERE key=?").bind(1, key).run();
  } else {
    sql::Stmt st(impl_->db, "INSERT INTO settings(key,value) VALUES(?,?) "
                            "ON CONFLICT(key) DO UPDATE SET value=excluded.value");
    st.bind(1, key).bind(2, value).run();
  }
  append_event("setting.changed", "user", {{"key", key}, {"size", static_cast<int64_t>(value.size())}});
  tx.commit();
}

Image Image::open(const fs::path& path, const OpenOptions& opts) {
  std::unique_lock gate(open_files().opening);
  if (!open_here(path)) validate_header(path);  // never a raw read beside a live connection (see OpenFiles)
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  if (opts.env) impl->env = opts.env;
  impl->vfs = opts.vfs;
  impl->read_only = opts.read_only;
  impl->sync = opts.sync;
  impl->db = open_db(path, opts.read_only, false, opts.vfs);
  if ((impl->key = file_key(path))) {
    std::lock_guard lk(open_files().mu);
    ++open_files().live[*impl->key];
  }
  gate.unlock();
  impl->stmts = std::make_unique<sql::StmtCache>(impl->db);
  sqlite3* db = impl->db;
  int ver = static_cast<int>(sql::scalar_i64(db, "PRAGMA user_version"));
  if (ver < kSchemaVersion) {
    if (opts.read_only && ver < kReadOnlyFromVersion)
      throw Error(path.string() + " has an older image schema (" + std::to_string(ver) +
                  "); open it once read-write (e.g. `a4ps image check --upgrade`) to migrate");
    if (!opts.read_only) migrate(db, migrations());
  }
  if (!opts.read_only) migrate_modules(db);  // each module's own tables, as registered
  if (!opts.read_only) {
    set_sync(db, opts.sync);
    sql::exec(db, "PRAGMA foreign_keys=ON");
    impl->watch();
  }
  Image img(std::move(impl));
  // Cheap tamper check on every open: the newest event must hash correctly and match the
  // head recorded beside it. `check` walks the whole chain.
  sql::ReadTx snapshot(db);  // the head and the newest event from the same moment
  const std::string head_seq = img.meta("head_seq");
  sql::Stmt st(db, "SELECT seq,ts,kind,actor,payload,prev_hash,hash FROM events ORDER BY seq DESC LIMIT 1");
  if (st.step()) {
    Event e{st.i64(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5), st.text(6)};
    if (std::to_string(e.seq) != head_seq || e.hash != img.meta("head_hash") || event_hash(e) != e.hash)
      throw Error(path.string() + ": the event log was altered outside A4PS (head at seq " +
                  std::to_string(e.seq) + " does not verify); run `a4ps image check` and restore from a backup");
  } else if (!head_seq.empty() && head_seq != "0") {
    throw Error(path.string() + ": the event log was emptied outside A4PS; restore from a backup");
  }
  return img;
}

Image Image::create(const fs::path& path, const CreateOptions& opts) {
  std::error_code ec;
  if (fs::exists(path, ec) && !opts.overwrite)
    throw Error(path.string() + " already exists; choose another path or pass --force to replace it");
  if (path.has_parent_path() && !fs::is_directory(path.parent_path(), ec))
    throw Error("directory " + path.parent_path().string() + " does not exist; create it first");
  // Build the whole image beside the target, then rename: never a half-made image.
  Env* env = opts.env ? opts.env : Env::Default();
  fs::path tmp = path;
  tmp += ".tmp-" + std::to_string(getpid());
  env->remove_file(tmp);
  try {
    {
      auto impl = std::make_unique<Impl>();
      impl->path = tmp;
      if (opts.env) impl->env = opts.env;
      impl->vfs = opts.vfs;
      impl->db = open_db(tmp, false, true, opts.vfs);
      impl->stmts = std::make_unique<sql::StmtCache>(impl->db);
      sqlite3* db = impl->db;
      sql::exec(db, ("PRAGMA application_id=" + std::to_string(kApplicationId)).c_str());
      sql::exec(db, "PRAGMA journal_mode=WAL");
      set_sync(db, opts.sync);
      sql::exec(db, "PRAGMA foreign_keys=ON");
      migrate(db, migrations());
      migrate_modules(db);
      impl->sync = opts.sync;
      impl->watch();
      Image img(std::move(impl));
      std::string name = opts.name.empty() ? path.stem().string() : opts.name;
      Tx tx(img);
      std::string id = random_id(img.env());
      meta_set(db, "image_id", id);
      meta_set(db, "name", name);
      meta_set(db, "created_at", now_utc(img.env()));
      meta_set(db, "created_by", "a4ps " A4PS_VERSION);
      img.append_event("image.created", "a4ps", {{"image_id", id}, {"name", name}, {"schema", kSchemaVersion}});
      if (!opts.base_model.empty()) img.set_base_model(opts.base_model);
      tx.commit();
    }
    env->rename_file(tmp, path);
  } catch (...) {
    for (const char* tail : {"", "-wal", "-shm", "-journal"}) env->remove_file(fs::path(tmp.string() + tail));
    try {
      throw;
    } catch (const DiskError& e) {  // name the image asked for, not its temporary
      if (!e.full()) throw;
      throw DiskError("the disk is full: " + path.string() + " was not created; free some space and try again", true);
    }
  }
  return open(path, {.read_only = false, .sync = opts.sync, .env = opts.env, .vfs = opts.vfs});
}

// ---- transactions ----------------------------------------------------------

Image::Tx::Tx(Image& img) : Tx(img, img.sync()) {}

Image::Tx::Tx(Image& img, Sync sync) : img_(img) {
  auto& impl = *img_.impl_;
  auto& d = impl.tx_depth;
  if (impl.read_only)
    throw Error(img_.path().string() + " is open read-only; this command cannot change it");
  if (d == 0) {
    if (impl.at != sync) impl.set_mode(sync);  // lazily: a run of steps at Normal switches once
    impl.stmts->exec("BEGIN IMMEDIATE");
    impl.tx_sync = sync;
  } else {
    if (sync == Sync::Full && impl.tx_sync != Sync::Full)
      throw Error("internal: a transaction that must survive power loss was nested in one that need not");
    sql::exec(img_.db(), ("SAVEPOINT sp" + std::to_string(d)).c_str());
  }
  ++d;
}

void Image::Tx::commit() {
  auto& d = img_.impl_->tx_depth;
  --d;
  done_ = true;
  try {
    if (d == 0) {
      Raised committing(img_.impl_->committing);  // the commit hook tells this commit from a stray one
      img_.impl_->stmts->exec("COMMIT");
    } else {
      sql::exec(img_.db(), ("RELEASE sp" + std::to_string(d)).c_str());
    }
  } catch (...) {
    if (d == 0) {
      sqlite3_exec(img_.db(), "ROLLBACK", nullptr, nullptr, nullptr);
      img_.after_rollback();
    }
    throw;
  }
  if (d == 0 && img_.impl_->guard) img_.impl_->guard->committed();
}

Image::Tx::~Tx() {
  if (done_) return;
  auto& d = img_.impl_->tx_depth;
  --d;
  std::string s = d == 0 ? "ROLLBACK"
                         : "ROLLBACK TO sp" + std::to_string(d) + "; RELEASE sp" + std::to_string(d);
  sqlite3_exec(img_.db(), s.c_str(), nullptr, nullptr, nullptr);
  if (d == 0) img_.after_rollback();
}

// A rolled-back transaction undid the guard's tentative steps; refusals are then logged
// in a transaction of their own, so the log shows what was blocked.
void Image::after_rollback() noexcept {
  auto& impl = *impl_;
  if (!impl.guard) return;
  impl.guard->rolled_back();
  std::vector<json> refused;
  refused.swap(impl.refused);
  try {
    for (auto& r : refused) append_event("codex.violation", "codex", r);
  } catch (...) {
    // Logging the refusal failed (disk full, read-only): the refusal itself still stands.
  }
}

void Image::set_guard(std::shared_ptr<EventGuard> g) {
  auto& impl = *impl_;
  impl.guard = nullptr;
  impl.guard_key.clear();
  if (!g) return;
  std::string key = g->state_key();
  bool keeps = !key.empty() && module_version(impl.db, kGuardStates) >= 1;
  CaughtUp caught = catch_up(*g);
  if (keeps && !impl.read_only && caught.events >= kGuardSaveEvery) {
    try {  // a long replay is done once: the next open starts from here
      Tx tx(*this);
      save_guard_state(*g, key, caught.last.seq, caught.last.hash);
      tx.commit();
    } catch (const Error&) {
      // Not saved (busy, disk full): the next open replays again; nothing is lost.
    }
  }
  if (keeps) impl.guard_key = std::move(key);
  impl.guard = std::move(g);
}

Image::CaughtUp Image::catch_up(EventGuard& g) const {
  const std::string key = g.state_key();
  if (!key.empty() && g.seen() == 0 && module_version(impl_->db, kGuardStates) >= 1) {
    // Start from the saved state, if it is this log's (refused: the whole log is replayed).
    sql::Stmt st(impl_->db, "SELECT s.seq, s.state FROM guard_states s JOIN events e ON e.seq = s.seq AND e.hash = s.event_hash "
                            "WHERE s.key = ?");
    st.bind(1, key);
    if (st.step()) g.restore_state(st.i64(0), st.blob(1));
  }
  CaughtUp out;
  for (;;) {  // in pages, so a long log is never held in memory at once
    auto page = events(g.seen(), 4096);
    if (page.empty()) break;
    for (auto& e : page) g.catch_up(e);
    out.events += static_cast<int64_t>(page.size());
    out.last = std::move(page.back());
  }
  return out;
}

void Image::save_guard_state(const EventGuard& g, const std::string& key, int64_t seq, const std::string& hash) {
  auto& c = *impl_->stmts;
  c.get("INSERT INTO guard_states(key,seq,event_hash,state) VALUES(?1,?2,?3,?4) "
        "ON CONFLICT(key) DO UPDATE SET seq=?2, event_hash=?3, state=?4")
      .bind(1, key).bind(2, seq).bind(3, hash).bind_blob(4, g.save_state()).run();
  c.get("DELETE FROM guard_states WHERE key <> ?").bind(1, key).run();  // states of rules no longer in force
}

std::vector<GuardState> Image::guard_states() const {
  std::vector<GuardState> out;
  if (module_version(impl_->db, kGuardStates) < 1) return out;  // a read-only open of an older image
  sql::Stmt st(impl_->db, "SELECT key, seq, event_hash, state FROM guard_states ORDER BY key");
  while (st.step()) out.push_back({st.text(0), st.i64(1), st.text(2), st.blob(3)});
  return out;
}

// ---- events ------------------------------------------------------------------

int64_t Image::append_event(std::string_view kind, std::string_view actor, const json& payload) {
  Tx tx(*this);
  auto& c = *impl_->stmts;
  Event e;
  auto& head = c.get("SELECT key,value FROM meta WHERE key IN ('head_seq','head_hash')");
  while (head.step()) {  // the head lives in meta so that dropping tail events is detectable
    if (head.text(0) == "head_seq") e.seq = std::stoll(head.text(1));
    else e.prev_hash = head.text(1);
  }
  e.seq += 1;
  if (e.seq == 1) e.prev_hash = kZeroHash;
  e.ts = now_utc(impl_->env);
  e.kind = kind;
  e.actor = actor;
  e.payload = payload.is_null() ? "{}" : payload.dump();
  e.hash = event_hash(e);
  if (auto& g = impl_->guard) {
    if (g->seen() < e.seq - 1)  // events other processes committed since
      for (auto& old : events(g->seen())) g->catch_up(old);
    std::string why = g->check(e);
    if (!why.empty() && e.kind != "codex.violation") {
      impl_->refused.push_back({{"event", e.kind}, {"actor", e.actor}, {"payload", json::parse(e.payload)}, {"why", why}});
      throw Error("the codex refused " + e.kind + ": " + why);
    }
    // Saved with the event it covers: a rolled-back event takes its state with it.
    if (!impl_->guard_key.empty() && e.seq % kGuardSaveEvery == 0) save_guard_state(*g, impl_->guard_key, e.seq, e.hash);
  }
  c.get("INSERT INTO events(seq,ts,kind,actor,payload,prev_hash,hash) VALUES(?,?,?,?,?,?,?)")
      .bind(1, e.seq).bind(2, e.ts).bind(3, e.kind).bind(4, e.actor).bind(5, e.payload)
      .bind(6, e.prev_hash).bind(7, e.hash).run();
  c.get("UPDATE meta SET value=?2 WHERE key=?1").bind(1, "head_seq").bind(2, std::to_string(e.seq)).run();
  if (sqlite3_changes(impl_->db) == 0) meta_set(impl_->db, "head_seq", std::to_string(e.seq));
  c.get("UPDATE meta SET value=?2 WHERE key=?1").bind(1, "head_hash").bind(2, e.hash).run();
  if (sqlite3_changes(impl_->db) == 0) meta_set(impl_->db, "head_hash", e.hash);
  tx.commit();
  return e.seq;
}

std::vector<Event> Image::events(int64_t after_seq, int64_t limit) const {
  sql::Stmt st(impl_->db, "SELECT seq,ts,kind,actor,payload,prev_hash,hash FROM events "
                          "WHERE seq > ? ORDER BY seq LIMIT ?");
  st.bind(1, after_seq).bind(2, limit);
  std::vector<Event> out;
  while (st.step())
    out.push_back({st.i64(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5), st.text(6)});
  return out;
}

// ---- base model, memories, proposals ---------------------------------------

void Image::set_base_model(const fs::path& gguf) {
  std::error_code ec;
  if (!fs::is_regular_file(gguf, ec))
    throw Error("base model " + gguf.string() + " not found; pass the path of a GGUF file");
  std::string sum = sha256_file(gguf);
  std::string abs = fs::absolute(gguf).lexically_normal().string();
  Tx tx(*this);
  meta_set(impl_->db, "base_model_path", abs);
  meta_set(impl_->db, "base_model_sha256", sum);
  append_event("image.base_model_set", "a4ps", {{"path", abs}, {"sha256", sum}});
  tx.commit();
}

int64_t Image::add_memory(std::string_view text, std::string_view source, const json& meta) {
  Tx tx(*this);
  sql::Stmt st(impl_->db, "INSERT INTO memories(source,text,meta,created_at) VALUES(?,?,?,?)");
  st.bind(1, source).bind(2, text).bind(3, meta.is_null() ? "{}" : meta.dump()).bind(4, now_utc(impl_->env)).run();
  int64_t id = sqlite3_last_insert_rowid(impl_->db);
  append_event("memory.added", "a4ps", {{"id", id}, {"source", source}, {"sha256", sha256_hex(text)}});
  tx.commit();
  return id;
}

std::vector<std::pair<std::string, std::string>> Image::memory_texts() const {
  std::vector<std::pair<std::string, std::string>> out;
  sql::Stmt s(impl_->db, "SELECT source, text FROM memories ORDER BY id");
  while (s.step()) out.emplace_back(s.text(0), s.text(1));
  return out;
}

int64_t Image::propose(std::string_view kind, std::string_view target, const json& payload) {
  Tx tx(*this);
  sql::Stmt st(impl_->db, "INSERT INTO proposals(kind,target,payload,created_at) VALUES(?,?,?,?)");
  st.bind(1, kind).bind(2, target).bind(3, payload.dump()).bind(4, now_utc(impl_->env)).run();
  int64_t id = sqlite3_last_insert_rowid(impl_->db);
  append_event("proposal.created", "a4ps", {{"id", id}, {"kind", kind}, {"target", target}});
  tx.commit();
  return id;
}

void Image::decide(int64_t id, bool approve, std::string_view reviewer, std::string_view reason) {
  Tx tx(*this);
  sql::Stmt st(impl_->db, "UPDATE proposals SET status=?, decided_at=?, reviewer=?, reason=? "
                          "WHERE id=? AND status='pending'");
  st.bind(1, proposal_status_name(approve ? ProposalStatus::Approved : ProposalStatus::Rejected)).bind(2, now_utc(impl_->env)).bind(3, reviewer).bind(4, reason);
  st.bind(5, id).run();
  if (sqlite3_changes(impl_->db) != 1)
    throw Error("proposal " + std::to_string(id) + " is not pending; see `a4ps approvals ls`");
  append_event(approve ? "proposal.approved" : "proposal.rejected", reviewer,
               {{"id", id}, {"reason", reason}});
  tx.commit();
}

void Image::apply(int64_t id, const std::function<void(const Proposal&)>& effect) {
  Tx tx(*this);
  std::optional<Proposal> p;
  for (auto& x : proposals())
    if (x.id == id) p = x;
  if (!p) throw Error("no proposal " + std::to_string(id) + "; see `a4ps approvals ls`");
  bool approved_in_log = false;  // the approval must be in the chained log too, not only a status
  sql::Stmt st(db(), "SELECT count(*) FROM events WHERE kind='proposal.approved' AND json_extract(payload,'$.id')=?");
  st.bind(1, id);
  approved_in_log = st.step() && st.i64(0) > 0;
  if (!p->is(ProposalStatus::Approved) || !approved_in_log)
    throw Error("proposal " + std::to_string(id) + " is " + p->status + ", not approved: a human must approve it first (`a4ps approvals approve IMAGE " +
                std::to_string(id) + "`)");
  append_event("proposal.applied", "a4ps", {{"id", id}, {"kind", p->kind}, {"target", p->target}});
  effect(*p);
  sql::Stmt up(db(), "UPDATE proposals SET status='applied' WHERE id=?");
  up.bind(1, id).run();
  tx.commit();
}

std::vector<Proposal> Image::proposals(std::string_view status) const {
  sql::Stmt st(impl_->db, "SELECT id,kind,target,status,created_at,coalesce(decided_at,''),"
                          "coalesce(reviewer,''),coalesce(reason,''),payload FROM proposals "
                          "WHERE ?='' OR status=? ORDER BY id");
  st.bind(1, status).bind(2, status);
  std::vector<Proposal> out;
  while (st.step())
    out.push_back({st.i64(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5), st.text(6),
                   st.text(7), json::parse(st.text(8))});
  return out;
}

// ---- backup and fork -------------------------------------------------------

void Image::save_as(const fs::path& dest) const {
  std::error_code ec;
  if (fs::exists(dest, ec)) throw Error(dest.string() + " already exists; choose another path");
  fs::path tmp = dest;
  tmp += ".tmp-" + std::to_string(getpid());
  Env* env = impl_->env;
  env->remove_file(tmp);
  try {
    sqlite3* out = open_db(tmp, false, true, impl_->vfs);
    // The backup API copies a consistent snapshot while other connections keep writing.
    sqlite3_backup* b = sqlite3_backup_init(out, "main", impl_->db, "main");
    if (!b) {
      std::string msg = sqlite3_errmsg(out);
      sqlite3_close_v2(out);
      throw Error("backup to " + dest.string() + " failed: " + msg);
    }
    int rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
      std::string msg = sqlite3_errstr(rc);
      sqlite3_close_v2(out);
      if ((rc & 0xff) == SQLITE_FULL)
        throw DiskError("cannot save " + dest.string() + ": the disk is full; free some space and try again", true);
      throw Error("backup to " + dest.string() + " failed: " + msg);
    }
    sqlite3_exec(out, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    sqlite3_close_v2(out);
    env->rename_file(tmp, dest);
  } catch (...) {
    env->remove_file(tmp);
    env->remove_file(fs::path(tmp.string() + "-wal"));
    env->remove_file(fs::path(tmp.string() + "-shm"));
    throw;
  }
}

Image fork(const fs::path& src, const fs::path& dest, std::string_view name) {
  std::string parent_id, parent_head;
  {
    Image s = Image::open(src, {.read_only = true});
    parent_id = s.meta("image_id");
    parent_head = s.meta("head_hash");
    s.save_as(dest);
  }
  try {
    Image img = Image::open(dest);
    Image::Tx tx(img);
    std::string id = random_id(img.env());
    std::string new_name = name.empty() ? dest.stem().string() : std::string(name);
    meta_set(img.db(), "image_id", id);
    meta_set(img.db(), "parent_id", parent_id);
    meta_set(img.db(), "name", new_name);
    img.append_event("image.forked", "a4ps",
                     {{"image_id", id}, {"parent_id", parent_id}, {"parent_head", parent_head}, {"name", new_name}});
    tx.commit();
    return img;
  } catch (...) {
    std::error_code ec;
    fs::remove(dest, ec);
    throw;
  }
}

}  // namespace a4ps::image
