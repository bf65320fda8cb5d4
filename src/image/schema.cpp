#include "image/schema.h"

#include <string>

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

constexpr Migration kMigrations[] = {{1, kV1}};

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

}  // namespace a4ps::image
