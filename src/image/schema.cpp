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

// Version 2: ranked memory search (FTS5, BM25) and the learning loop's judgements and
// golden examples.
constexpr const char* kV2 = R"sql(
-- Full-text index over memories(text), kept in step by triggers (external content).
CREATE VIRTUAL TABLE memories_fts USING fts5(text, content='memories', content_rowid='id',
                                             tokenize='porter unicode61');
INSERT INTO memories_fts(rowid, text) SELECT id, text FROM memories;
CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
  INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
  INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER memories_au AFTER UPDATE OF text ON memories BEGIN
  INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text);
END;

-- ALFRED's scores of one interaction (a thread, up to a checkpoint), with the events judged.
CREATE TABLE judgements(
  id            INTEGER PRIMARY KEY,
  thread_id     TEXT NOT NULL,
  checkpoint_id TEXT NOT NULL DEFAULT '',
  judge         TEXT NOT NULL,              -- persona + model that judged
  scores        TEXT NOT NULL CHECK (json_valid(scores)),
  total         REAL NOT NULL,
  rationale     TEXT NOT NULL DEFAULT '',
  meta          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(meta)),
  created_at    TEXT NOT NULL
);
CREATE INDEX judgements_thread ON judgements(thread_id);

-- Training examples chosen from judged interactions, one chat per row, per persona.
CREATE TABLE golden(
  id          INTEGER PRIMARY KEY,
  persona     TEXT NOT NULL,
  judgement_id INTEGER REFERENCES judgements(id),
  messages    TEXT NOT NULL CHECK (json_valid(messages)),
  hash        TEXT NOT NULL,                -- sha256 of the messages: de-duplication
  created_at  TEXT NOT NULL,
  UNIQUE (persona, hash)
);
)sql";

constexpr Migration kMigrations[] = {{1, kV1}, {2, kV2}};

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
