// The runs module's table (runs/store.h): the only file of the module that speaks SQL.
#include "runs/store.h"

#include "image/sqlite.h"

namespace a4ps::runs::store {

namespace sql = image::sql;

namespace {

// Version 1: one row per run, written when it is queued, taken up and ended.
constexpr const char* kV1 = R"sql(
CREATE TABLE runs(
  seq         INTEGER PRIMARY KEY,          -- order of creation
  id          TEXT NOT NULL UNIQUE,
  thread_id   TEXT NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('task', 'resume')),
  task        TEXT NOT NULL DEFAULT '',
  status      TEXT NOT NULL CHECK (status IN ('pending', 'running', 'success', 'interrupted', 'error', 'cancelled')),
  error       TEXT NOT NULL DEFAULT '',
  created_at  TEXT NOT NULL,
  finished_at TEXT NOT NULL DEFAULT '',
  output      TEXT NOT NULL DEFAULT ''      -- the run's answer as JSON, once it ended with one
);
CREATE INDEX runs_thread ON runs(thread_id, seq);
CREATE INDEX runs_unfinished ON runs(status) WHERE status IN ('pending', 'running');
)sql";

const image::ModuleSchema kSchema{.name = "runs", .steps = {{1, kV1}}};

// Registered when this file is linked in, i.e. whenever runs are recorded or read.
[[maybe_unused]] const bool kRegistered = image::register_module(kSchema);

constexpr const char* kColumns = "id, thread_id, kind, task, status, error, created_at, finished_at, output";

RunRow row(const sql::Stmt& s) {
  return {s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6), s.text(7), s.text(8)};
}

}  // namespace

const image::ModuleSchema& schema() { return kSchema; }

void put(image::Image& img, const RunRow& r) {
  image::require_module(img, kSchema);
  sql::Stmt s(img.db(),
              "INSERT INTO runs(id, thread_id, kind, task, status, error, created_at, finished_at, output) "
              "VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
              "error = excluded.error, finished_at = excluded.finished_at, output = excluded.output");
  s.bind(1, r.id).bind(2, r.thread).bind(3, r.kind).bind(4, r.task).bind(5, r.status).bind(6, r.error);
  s.bind(7, r.created_at).bind(8, r.finished_at).bind(9, r.output);
  s.run();
}

std::optional<RunRow> get(const image::Image& img, const std::string& id) {
  if (image::module_version(img.db(), kSchema) == 0) return std::nullopt;  // no run recorded yet
  sql::Stmt s(img.db(), std::string("SELECT ") + kColumns + " FROM runs WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return row(s);
}

std::vector<RunRow> of_thread(const image::Image& img, const std::string& thread, int limit) {
  std::vector<RunRow> out;
  if (image::module_version(img.db(), kSchema) == 0) return out;
  // The newest `limit`, presented oldest first.
  sql::Stmt s(img.db(), std::string("SELECT * FROM (SELECT seq, ") + kColumns +
                            " FROM runs WHERE thread_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq");
  s.bind(1, thread).bind(2, static_cast<int64_t>(limit));
  while (s.step())
    out.push_back({s.text(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6), s.text(7), s.text(8), s.text(9)});
  return out;
}

int settle(image::Image& img, const std::string& running_to, const std::string& pending_to, const std::string& why,
           const std::string& now) {
  if (image::module_version(img.db(), kSchema) == 0) return 0;
  sql::Stmt s(img.db(),
              "UPDATE runs SET status = CASE status WHEN 'running' THEN ? ELSE ? END, error = ?, finished_at = ? "
              "WHERE status IN ('pending', 'running')");
  s.bind(1, running_to).bind(2, pending_to).bind(3, why).bind(4, now);
  s.run();
  return sqlite3_changes(img.db());
}

}  // namespace a4ps::runs::store
