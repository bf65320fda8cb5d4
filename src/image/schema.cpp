#include "image/schema.h"

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "image/image.h"
#include "image/sqlite.h"

namespace a4ps::image {
namespace {

// Version 1: the whole store. Kept readable: this is the image's on-disk contract.
constexpr const char* kV1 = R"sql(
CREATE TABLE meta(
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- Content-addressed large values (adapter GGUFs): stored once, verified by `check`.
CREATE TABLE blobs(
  sha256 TEXT PRIMARY KEY,
  size   INTEGER NOT NULL,
  data   BLOB NOT NULL
) WITHOUT ROWID;

-- Personas, tools, codex documents, adapters: every version kept; a removal is a
-- tombstone version so history and diffs stay complete.
CREATE TABLE objects(
  kind        TEXT NOT NULL CHECK (kind IN ('persona','tool','codex','adapter')),
  name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  version     INTEGER NOT NULL CHECK (version >= 1),
  content     TEXT NOT NULL,
  meta        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(meta)),
  blob_sha256 TEXT REFERENCES blobs(sha256),
  removed     INTEGER NOT NULL DEFAULT 0,
  created_at  TEXT NOT NULL,
  PRIMARY KEY (kind, name, version),
  CHECK (kind <> 'adapter' OR removed = 1 OR
         (blob_sha256 IS NOT NULL AND json_extract(meta, '$.base_sha256') IS NOT NULL))
) WITHOUT ROWID;

CREATE TABLE memories(
  id         INTEGER PRIMARY KEY,
  source     TEXT NOT NULL,
  text       TEXT NOT NULL,
  meta       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(meta)),
  embedding  BLOB,
  created_at TEXT NOT NULL
);

-- Conversations as state-graph threads; one checkpoint per step (see src/graph).
CREATE TABLE threads(
  id         TEXT PRIMARY KEY,
  title      TEXT NOT NULL DEFAULT '',
  meta       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(meta)),
  status     TEXT NOT NULL DEFAULT 'idle',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- Checkpoint ids are zero-padded counters per thread, so the newest sorts last.
-- state is written by A4PS itself; it is not re-parsed here (the hot path of a run).
CREATE TABLE checkpoints(
  thread_id  TEXT NOT NULL REFERENCES threads(id),
  id         TEXT NOT NULL,
  parent_id  TEXT NOT NULL DEFAULT '',
  step       INTEGER NOT NULL,
  state      TEXT NOT NULL,
  next       TEXT NOT NULL DEFAULT '[]',
  meta       TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  PRIMARY KEY (thread_id, id)
) WITHOUT ROWID;

-- Writes a step produced before its checkpoint committed: resume does not redo them.
CREATE TABLE checkpoint_writes(
  thread_id     TEXT NOT NULL,
  checkpoint_id TEXT NOT NULL,
  task_id       TEXT NOT NULL,
  idx           INTEGER NOT NULL,
  channel       TEXT NOT NULL,
  value         TEXT NOT NULL,
  PRIMARY KEY (thread_id, checkpoint_id, task_id, idx),
  FOREIGN KEY (thread_id, checkpoint_id) REFERENCES checkpoints(thread_id, id)
) WITHOUT ROWID;

-- Self-modification requests; only an approved one may take effect.
CREATE TABLE proposals(
  id         INTEGER PRIMARY KEY,
  kind       TEXT NOT NULL,
  target     TEXT NOT NULL,
  payload    TEXT NOT NULL CHECK (json_valid(payload)),
  status     TEXT NOT NULL DEFAULT 'pending'
             CHECK (status IN ('pending','approved','rejected','applied')),
  created_at TEXT NOT NULL,
  decided_at TEXT,
  reviewer   TEXT,
  reason     TEXT
);

-- The audit log: append-only, each row hashing its predecessor.
CREATE TABLE events(
  seq       INTEGER PRIMARY KEY,
  ts        TEXT NOT NULL,
  kind      TEXT NOT NULL,
  actor     TEXT NOT NULL,
  payload   TEXT NOT NULL CHECK (json_valid(payload)),
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL
);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

CREATE TABLE settings(
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql";

// Version 2 once made memory's full-text index and learn's tables; they belong to those
// modules now (src/memory/store.cpp, src/learn/store.cpp), which make them themselves.
constexpr const char* kV2 = "SELECT 1";

// Version 3: the modules that own tables in this image, and the version of each.
constexpr const char* kV3 = R"sql(
CREATE TABLE modules(
  name    TEXT PRIMARY KEY,
  version INTEGER NOT NULL CHECK (version >= 1)
) WITHOUT ROWID;
)sql";

constexpr Migration kMigrations[] = {{1, kV1}, {2, kV2}, {3, kV3}};

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

void migrate(sqlite3* db, std::span<const Migration> steps) {
  int have = static_cast<int>(sql::scalar_i64(db, "PRAGMA user_version"));
  for (const auto& m : steps) {
    if (m.version <= have) continue;
    if (m.version != have + 1)
      throw Error("schema migration gap: image is at version " + std::to_string(have) +
                  ", next step is " + std::to_string(m.version) + " (a bug in this build)");
    sql::exec(db, "BEGIN IMMEDIATE");
    try {
      sql::exec(db, m.sql);
      sql::exec(db, ("PRAGMA user_version = " + std::to_string(m.version)).c_str());
      sql::exec(db, "COMMIT");
    } catch (...) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    have = m.version;
  }
}

namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, ModuleSchema> modules;  // by name: the same order every time
};
Registry& registry() {
  static Registry r;  // a function's static: module stores register from static initialisers
  return r;
}

bool table_exists(sqlite3* db, const std::string& name) {
  sql::Stmt st(db, "SELECT 1 FROM sqlite_master WHERE name = ?");
  st.bind(1, name);
  return st.step();
}

// The version the modules table records for m, if any.
std::optional<int> recorded_version(sqlite3* db, const std::string& name) {
  if (!table_exists(db, "modules")) return std::nullopt;
  sql::Stmt st(db, "SELECT version FROM modules WHERE name = ?");
  st.bind(1, name);
  if (st.step()) return static_cast<int>(st.i64(0));
  return std::nullopt;
}

void record_version(sqlite3* db, const std::string& name, int version) {
  sql::Stmt(db, "INSERT INTO modules(name, version) VALUES(?1, ?2) ON CONFLICT(name) DO UPDATE SET version = ?2")
      .bind(1, name)
      .bind(2, int64_t{version})
      .run();
}

}  // namespace

bool register_module(ModuleSchema m) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  r.modules[m.name] = std::move(m);
  return true;
}

std::vector<ModuleSchema> registered_modules() {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<ModuleSchema> out;
  for (auto& [name, m] : r.modules) out.push_back(m);
  return out;
}

int module_version(sqlite3* db, const ModuleSchema& m) {
  if (auto v = recorded_version(db, m.name)) return *v;
  return !m.adopted_table.empty() && table_exists(db, m.adopted_table) ? m.adopted_version : 0;
}

void migrate_modules(sqlite3* db) {
  for (const auto& m : registered_modules()) {
    int have = module_version(db, m);
    // A newer a4ps laid these tables out: written the older way they would be damaged.
    if (have > m.latest())
      throw Error("this image's " + m.name + " tables are at version " + std::to_string(have) +
                  ", newer than this a4ps writes (" + std::to_string(m.latest()) + "); upgrade a4ps to open it");
    if (have > 0 && !recorded_version(db, m.name)) {  // adopted from the core schema: write it down once
      sql::exec(db, "BEGIN IMMEDIATE");
      try {
        if (!recorded_version(db, m.name)) record_version(db, m.name, have);
        sql::exec(db, "COMMIT");
      } catch (...) {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
      }
    }
    for (const auto& step : m.steps) {
      if (step.version <= have) continue;
      if (step.version != have + 1)
        throw Error("schema migration gap in module " + m.name + ": the image has version " + std::to_string(have) +
                    ", the next step is " + std::to_string(step.version) + " (a bug in this build)");
      sql::exec(db, "BEGIN IMMEDIATE");
      try {
        if (module_version(db, m) >= step.version) {  // another process got here first
          sql::exec(db, "COMMIT");
          have = step.version;
          continue;
        }
        sql::exec(db, step.sql);
        record_version(db, m.name, step.version);
        sql::exec(db, "COMMIT");
      } catch (...) {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
      }
      have = step.version;
    }
  }
}

void require_module(const Image& img, const ModuleSchema& m) {
  int have = module_version(img.db(), m);
  if (have < m.latest())
    throw Error(img.path().string() + " lacks the " + m.name + " module's tables (version " + std::to_string(have) + " of " +
                std::to_string(m.latest()) + "); open it once read-write with this a4ps (any command that changes it) to add them");
}

}  // namespace a4ps::image
