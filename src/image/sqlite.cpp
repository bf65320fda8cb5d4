#include "image/sqlite.h"

#include <atomic>

#include "image/image.h"

namespace a4ps::image::sql {

namespace {

// Which I/O call failed, from SQLite's extended result code.
std::string io_what(int rc) {
  switch (rc) {
    case SQLITE_IOERR_FSYNC:
    case SQLITE_IOERR_DIR_FSYNC: return "fsync failed";
    case SQLITE_IOERR_WRITE: return "a write failed";
    case SQLITE_IOERR_READ:
    case SQLITE_IOERR_SHORT_READ: return "a read failed";
    case SQLITE_IOERR_TRUNCATE: return "truncating a file failed";
    default: return "disk I/O error";
  }
}

std::atomic<AutocommitWriteHook> g_autocommit_write_hook{nullptr};

}  // namespace

void set_autocommit_write_hook(AutocommitWriteHook h) { g_autocommit_write_hook = h; }

void fail(sqlite3* db, int rc, std::string_view what) {
  const char* file = db ? sqlite3_db_filename(db, "main") : nullptr;
  std::string where = file && *file ? std::string(" in ") + file : "";
  std::string image = file && *file ? std::string("image ") + file : "the image";
  std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      throw Error("image" + where + " is corrupted (" + msg +
                  "); run `a4ps image check` on it and restore from a backup or export");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw Error("image" + where + " is busy (" + msg +
                  "); another process holds a write lock, try again");
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_COMMITHOOK)  // see image::Sync: a bug of A4PS, never the user's
        throw Error("a change to " + image + " made outside a transaction was rolled back: the connection was at a "
                    "weaker durability than the image promises (an A4PS bug; please report it)");
      throw Error(std::string(what) + " failed" + where + ": " + msg);
    case SQLITE_READONLY:
      throw Error("image" + where + " is read-only (" + msg + "); check file permissions");
    // The transaction is rolled back (Image::Tx); say so, and what the user can do.
    case SQLITE_FULL:
      throw DiskError("the disk is full: the change to " + image + " was not saved; free some space and try again", true);
    case SQLITE_IOERR:
      throw DiskError("an I/O error on " + image + " (" + io_what(rc) +
                      "): the change may not have been saved; check the disk, then run `a4ps image check`", false);
    default:
      throw Error(std::string(what) + " failed" + where + ": " + msg);
  }
}

void exec(sqlite3* db, const char* s) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, s, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    sqlite3_free(err);
    fail(db, rc, "SQL");
  }
}

Stmt::Stmt(sqlite3* db, std::string_view s) : db_(db) {
  int rc = sqlite3_prepare_v2(db, s.data(), static_cast<int>(s.size()), &st_, nullptr);
  if (rc != SQLITE_OK) fail(db, rc, "prepare");
  writes_ = st_ && !sqlite3_stmt_readonly(st_) && sqlite3_strnicmp(sqlite3_sql(st_), "BEGIN", 5) != 0;
}
Stmt::~Stmt() { sqlite3_finalize(st_); }

Stmt& Stmt::bind(int i, std::string_view v) {
  // An empty string_view may carry a null pointer, which SQLite would bind as NULL.
  sqlite3_bind_text(st_, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind_ref(int i, std::string_view v) {
  sqlite3_bind_text(st_, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_STATIC);
  return *this;
}
Stmt& Stmt::bind(int i, int64_t v) {
  sqlite3_bind_int64(st_, i, v);
  return *this;
}
Stmt& Stmt::bind_blob(int i, std::string_view v) {
  sqlite3_bind_blob64(st_, i, v.data(), v.size(), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind_null(int i) {
  sqlite3_bind_null(st_, i);
  return *this;
}

bool Stmt::step() {
  if (writes_ && sqlite3_get_autocommit(db_) && !sqlite3_stmt_busy(st_))
    if (auto h = g_autocommit_write_hook.load(std::memory_order_relaxed)) h(db_);
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, rc, "query");
}
void Stmt::run() {
  while (step()) {
  }
}
void Stmt::reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
}

int64_t Stmt::i64(int c) const { return sqlite3_column_int64(st_, c); }
double Stmt::f64(int c) const { return sqlite3_column_double(st_, c); }
std::string Stmt::text(int c) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, c));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_, c))) : std::string();
}
std::string Stmt::blob(int c) const {
  auto* p = static_cast<const char*>(sqlite3_column_blob(st_, c));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_, c))) : std::string();
}
bool Stmt::is_null(int c) const { return sqlite3_column_type(st_, c) == SQLITE_NULL; }

Stmt& StmtCache::get(const char* s) {
  for (auto& [key, st] : stmts_)
    if (key == s) {
      st->reset();
      return *st;
    }
  stmts_.emplace_back(s, std::make_unique<Stmt>(db_, s));
  return *stmts_.back().second;
}

int64_t scalar_i64(sqlite3* db, std::string_view s) {
  Stmt st(db, s);
  return st.step() ? st.i64(0) : 0;
}
std::string scalar_text(sqlite3* db, std::string_view s) {
  Stmt st(db, s);
  return st.step() ? st.text(0) : std::string();
}

}  // namespace a4ps::image::sql
