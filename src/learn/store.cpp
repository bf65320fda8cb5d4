// The learn module's tables and queries (learn/store.h): the only file of the module that
// speaks SQL.
#include "learn/store.h"

#include "image/sqlite.h"

namespace a4ps::learn::store {

namespace sql = image::sql;

namespace {

// Version 1: ALFRED's scores of interactions and the training examples chosen from them.
// Images of earlier builds made these in the core schema's version 2.
constexpr const char* kV1 = R"sql(
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

const image::ModuleSchema kSchema{.name = "learn", .steps = {{1, kV1}}, .adopted_table = "judgements", .adopted_version = 1};

// Registered when this file is linked in, i.e. whenever the learn module is used.
[[maybe_unused]] const bool kRegistered = image::register_module(kSchema);

}  // namespace

const image::ModuleSchema& schema() { return kSchema; }
void require(const image::Image& img) { image::require_module(img, kSchema); }

int64_t add_judgement(image::Image& img, const JudgementRow& j) {
  sql::Stmt s(img.db(),
              "INSERT INTO judgements(thread_id, checkpoint_id, judge, scores, total, rationale, meta, created_at) "
              "VALUES(?,?,?,?,?,?,?,?)");
  // total as text, as it always was: SQLite's REAL affinity stores the number.
  s.bind(1, j.thread).bind(2, j.checkpoint).bind(3, j.judge).bind(4, j.scores).bind(5, std::to_string(j.total));
  s.bind(6, j.rationale).bind(7, j.meta).bind(8, j.created_at);
  s.run();
  return sqlite3_last_insert_rowid(img.db());
}

std::vector<JudgementRow> judgements(const image::Image& img) {
  std::vector<JudgementRow> out;
  sql::Stmt s(img.db(), "SELECT id, thread_id, scores, total FROM judgements ORDER BY id");
  while (s.step()) {
    JudgementRow j;
    j.id = s.i64(0);
    j.thread = s.text(1);
    j.scores = s.text(2);
    j.total = std::stod(s.text(3));
    out.push_back(std::move(j));
  }
  return out;
}

std::set<std::string> judged_threads(const image::Image& img) {
  std::set<std::string> out;
  sql::Stmt s(img.db(), "SELECT DISTINCT thread_id FROM judgements");
  while (s.step()) out.insert(s.text(0));
  return out;
}

std::vector<int64_t> thread_events(const image::Image& img, const std::string& thread) {
  std::vector<int64_t> out;
  sql::Stmt ev(img.db(), "SELECT seq FROM events WHERE json_extract(payload, '$.thread') = ? ORDER BY seq");
  ev.bind(1, thread);
  while (ev.step()) out.push_back(ev.i64(0));
  return out;
}

bool add_golden(image::Image& img, const std::string& persona, int64_t judgement, const std::string& messages,
                const std::string& hash, const std::string& created_at) {
  sql::Stmt s(img.db(), "INSERT OR IGNORE INTO golden(persona, judgement_id, messages, hash, created_at) VALUES(?,?,?,?,?)");
  s.bind(1, persona);
  if (judgement > 0) s.bind(2, judgement);
  else s.bind_null(2);
  s.bind(3, messages).bind(4, hash).bind(5, created_at);
  s.run();
  return sqlite3_changes(img.db()) > 0;
}

std::vector<std::string> golden_messages(const image::Image& img, const std::string& persona) {
  std::vector<std::string> out;
  sql::Stmt s(img.db(), "SELECT messages FROM golden WHERE persona = ? ORDER BY id");
  s.bind(1, persona);
  while (s.step()) out.push_back(s.text(0));
  return out;
}

std::vector<std::pair<std::string, int64_t>> golden_counts(const image::Image& img) {
  std::vector<std::pair<std::string, int64_t>> out;
  sql::Stmt s(img.db(), "SELECT persona, count(*) FROM golden GROUP BY persona ORDER BY persona");
  while (s.step()) out.emplace_back(s.text(0), s.i64(1));
  return out;
}

}  // namespace a4ps::learn::store
