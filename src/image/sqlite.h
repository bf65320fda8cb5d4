// Thin RAII helpers over the SQLite C API, shared by the image's own files.
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>
#include <string>
#include <string_view>

#include "util/util.h"

namespace a4ps::image::sql {

// Turns an SQLite failure into one line a user can act on.
[[noreturn]] void fail(sqlite3* db, int rc, std::string_view what);

void exec(sqlite3* db, const char* sql);

// Runs before a statement that writes is stepped outside any transaction (it commits on
// its own), with its connection: the image puts the connection back at the durability it
// promises there (see image::Sync). Process-wide, set once; nullptr: none.
using AutocommitWriteHook = void (*)(sqlite3*);
void set_autocommit_write_hook(AutocommitWriteHook h);

class Stmt {
 public:
  Stmt(sqlite3* db, std::string_view sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, std::string_view v);
  // Without a copy: v must outlive the next step(); reset() before it goes.
  Stmt& bind_ref(int i, std::string_view v);
  Stmt& bind(int i, int64_t v);
  Stmt& bind_blob(int i, std::string_view v);
  Stmt& bind_null(int i);
  bool step();  // true while a row is available
  void run();   // step to completion
  void reset();

  int64_t i64(int col) const;
  double f64(int col) const;
  std::string text(int col) const;
  std::string blob(int col) const;
  bool is_null(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  bool writes_ = false;  // changes the database (BEGIN IMMEDIATE, which SQLite counts so, does not)
};

// Prepared statements kept for the life of a connection (hot paths: events, checkpoints).
// A statement handed out is reset; do not hold two uses of the same SQL at once.
class StmtCache {
 public:
  explicit StmtCache(sqlite3* db) : db_(db) {}
  Stmt& get(const char* sql);
  void exec(const char* sql) { get(sql).run(); }

 private:
  sqlite3* db_;
  std::vector<std::pair<const char*, std::unique_ptr<Stmt>>> stmts_;  // keyed by the literal
};

// A read transaction: every read inside sees one snapshot, even while others write.
class ReadTx {
 public:
  explicit ReadTx(sqlite3* db) : db_(sqlite3_get_autocommit(db) ? db : nullptr) {  // inside a transaction: already one snapshot
    if (db_) exec(db_, "BEGIN");
  }
  ~ReadTx() {
    if (db_) sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  }
  ReadTx(const ReadTx&) = delete;
  ReadTx& operator=(const ReadTx&) = delete;

 private:
  sqlite3* db_;
};

int64_t scalar_i64(sqlite3* db, std::string_view sql);
std::string scalar_text(sqlite3* db, std::string_view sql);

}  // namespace a4ps::image::sql
