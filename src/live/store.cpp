// The live module's tables (live/store.h): the only file of the module that speaks SQL.
#include "live/store.h"

#include <cstdio>

#include "image/sqlite.h"
#include "util/util.h"

namespace a4ps::live::store {

namespace sql = image::sql;
using json = nlohmann::json;

namespace {

// Version 1: goals, attempts, family records, decisions and daily spending.
constexpr const char* kV1 = R"sql(
CREATE TABLE live_goals(
  id          INTEGER PRIMARY KEY,
  family      TEXT NOT NULL,
  title       TEXT NOT NULL,
  task        TEXT NOT NULL,
  test        TEXT NOT NULL,                 -- Python assertions run in the sandbox
  plan        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(plan)),
  source      TEXT NOT NULL DEFAULT '',
  status      TEXT NOT NULL CHECK (status IN ('open', 'achieved', 'vetoed', 'paused')),
  veto        TEXT NOT NULL DEFAULT '',
  attempts    INTEGER NOT NULL DEFAULT 0,
  successes   INTEGER NOT NULL DEFAULT 0,
  thread_id   TEXT NOT NULL DEFAULT '',
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);
CREATE INDEX live_goals_family ON live_goals(family, id);
CREATE TABLE live_attempts(
  id          INTEGER PRIMARY KEY,
  goal_id     INTEGER NOT NULL REFERENCES live_goals(id),
  family      TEXT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'preempted', 'error')),
  passed      INTEGER NOT NULL DEFAULT 0,
  lp          REAL NOT NULL DEFAULT 0,
  grace       REAL NOT NULL DEFAULT 0,
  justice     REAL NOT NULL DEFAULT 0,
  codex       REAL NOT NULL DEFAULT 0,
  reward      REAL NOT NULL DEFAULT 0,
  detail      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
  started_at  TEXT NOT NULL,
  finished_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX live_attempts_goal ON live_attempts(goal_id, id);
CREATE TABLE live_families(
  family    TEXT PRIMARY KEY,
  fast_raw  REAL NOT NULL DEFAULT 0,   -- the uncorrected moving averages of success (live/lp.h)
  slow_raw  REAL NOT NULL DEFAULT 0,
  attempts  INTEGER NOT NULL DEFAULT 0,
  successes INTEGER NOT NULL DEFAULT 0,
  paused    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE live_decisions(
  id       INTEGER PRIMARY KEY,
  ts       TEXT NOT NULL,
  kind     TEXT NOT NULL,
  goal_id  INTEGER NOT NULL DEFAULT 0,
  family   TEXT NOT NULL DEFAULT '',
  reason   TEXT NOT NULL,
  detail   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
);
CREATE TABLE live_usage(
  day       TEXT PRIMARY KEY,            -- YYYY-MM-DD, UTC
  wall_s    REAL NOT NULL DEFAULT 0,
  sandbox_s REAL NOT NULL DEFAULT 0,
  tokens    INTEGER NOT NULL DEFAULT 0,
  forges    INTEGER NOT NULL DEFAULT 0
);
)sql";

const image::ModuleSchema kSchema{.name = "live", .steps = {{1, kV1}}};

// Registered when this file is linked in, i.e. whenever the live module is used.
[[maybe_unused]] const bool kRegistered = image::register_module(kSchema);

std::string num(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}
double real(const sql::Stmt& s, int c) {
  std::string t = s.text(c);
  return t.empty() ? 0 : std::stod(t);
}

constexpr const char* kGoalCols =
    "id, family, title, task, test, plan, source, status, veto, attempts, successes, thread_id, created_at, updated_at";
GoalRow goal_row(const sql::Stmt& s) {
  return {s.i64(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6), s.text(7),
          s.text(8), s.i64(9), s.i64(10), s.text(11), s.text(12), s.text(13)};
}
constexpr const char* kAttemptCols =
    "id, goal_id, family, status, passed, lp, grace, justice, codex, reward, detail, started_at, finished_at";
AttemptRow attempt_row(const sql::Stmt& s) {
  return {s.i64(0), s.i64(1), s.text(2), s.text(3), s.i64(4) != 0, real(s, 5), real(s, 6), real(s, 7),
          real(s, 8), real(s, 9), s.text(10), s.text(11), s.text(12)};
}

bool present(const image::Image& img) { return image::module_version(img.db(), kSchema) != 0; }

}  // namespace

const image::ModuleSchema& schema() { return kSchema; }

int64_t add_goal(image::Image& img, GoalRow g) {
  image::require_module(img, kSchema);
  image::Image::Tx tx(img);
  g.created_at = g.updated_at = now_utc();
  sql::Stmt s(img.db(),
              "INSERT INTO live_goals(family, title, task, test, plan, source, status, veto, thread_id, created_at, "
              "updated_at) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
  s.bind(1, g.family).bind(2, g.title).bind(3, g.task).bind(4, g.test).bind(5, g.plan).bind(6, g.source);
  s.bind(7, g.status).bind(8, g.veto).bind(9, g.thread).bind(10, g.created_at).bind(11, g.updated_at);
  s.run();
  int64_t id = sqlite3_last_insert_rowid(img.db());
  img.append_event("live.goal", "ALFRED", {{"id", id}, {"kind", g.family}, {"status", g.status}, {"why", g.veto}});
  tx.commit();
  return id;
}

void update_goal(image::Image& img, const GoalRow& g) {
  image::require_module(img, kSchema);
  image::Image::Tx tx(img);
  sql::Stmt s(img.db(),
              "UPDATE live_goals SET status = ?, veto = ?, attempts = ?, successes = ?, thread_id = ?, updated_at = ? "
              "WHERE id = ?");
  s.bind(1, g.status).bind(2, g.veto).bind(3, g.attempts).bind(4, g.successes).bind(5, g.thread).bind(6, now_utc());
  s.bind(7, g.id);
  s.run();
  img.append_event("live.goal", "a4ps", {{"id", g.id}, {"kind", g.family}, {"status", g.status}, {"why", g.veto}});
  tx.commit();
}

std::optional<GoalRow> goal(const image::Image& img, int64_t id) {
  if (!present(img)) return std::nullopt;
  sql::Stmt s(img.db(), std::string("SELECT ") + kGoalCols + " FROM live_goals WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return goal_row(s);
}

std::vector<GoalRow> goals(const image::Image& img, const std::string& status) {
  std::vector<GoalRow> out;
  if (!present(img)) return out;
  sql::Stmt s(img.db(), std::string("SELECT ") + kGoalCols + " FROM live_goals WHERE ? = '' OR status = ? ORDER BY id");
  s.bind(1, status).bind(2, status);
  while (s.step()) out.push_back(goal_row(s));
  return out;
}

int64_t start_attempt(image::Image& img, const AttemptRow& a) {
  image::require_module(img, kSchema);
  image::Image::Tx tx(img);
  sql::Stmt s(img.db(), "INSERT INTO live_attempts(goal_id, family, status, lp, detail, started_at) VALUES(?,?,?,?,?,?)");
  s.bind(1, a.goal).bind(2, a.family).bind(3, std::string("running")).bind(4, num(a.lp)).bind(5, a.detail);
  s.bind(6, a.started_at.empty() ? now_utc() : a.started_at);
  s.run();
  int64_t id = sqlite3_last_insert_rowid(img.db());
  img.append_event("live.attempt", "a4ps", {{"id", id}, {"kind", a.family}, {"status", "running"}});
  tx.commit();
  return id;
}

void finish_attempt(image::Image& img, const AttemptRow& a) {
  image::require_module(img, kSchema);
  image::Image::Tx tx(img);
  sql::Stmt s(img.db(),
              "UPDATE live_attempts SET status = ?, passed = ?, lp = ?, grace = ?, justice = ?, codex = ?, reward = ?, "
              "detail = ?, finished_at = ? WHERE id = ?");
  s.bind(1, a.status).bind(2, static_cast<int64_t>(a.passed)).bind(3, num(a.lp)).bind(4, num(a.grace));
  s.bind(5, num(a.justice)).bind(6, num(a.codex)).bind(7, num(a.reward)).bind(8, a.detail).bind(9, now_utc());
  s.bind(10, a.id);
  s.run();
  img.append_event("live.attempt", "a4ps", {{"id", a.id}, {"kind", a.family}, {"status", a.status}, {"approved", a.passed}});
  tx.commit();
}

std::vector<AttemptRow> attempts(const image::Image& img, int64_t goal, const std::string& family) {
  std::vector<AttemptRow> out;
  if (!present(img)) return out;
  sql::Stmt s(img.db(), std::string("SELECT ") + kAttemptCols +
                            " FROM live_attempts WHERE (? = 0 OR goal_id = ?) AND (? = '' OR family = ?) ORDER BY id");
  s.bind(1, goal).bind(2, goal).bind(3, family).bind(4, family);
  while (s.step()) out.push_back(attempt_row(s));
  return out;
}

std::vector<AttemptRow> unfinished(const image::Image& img) {
  std::vector<AttemptRow> out;
  if (!present(img)) return out;
  sql::Stmt s(img.db(), std::string("SELECT ") + kAttemptCols + " FROM live_attempts WHERE status = 'running' ORDER BY id");
  while (s.step()) out.push_back(attempt_row(s));
  return out;
}

std::vector<FamilyStats> families(const image::Image& img) {
  std::vector<FamilyStats> out;
  if (!present(img)) return out;
  sql::Stmt s(img.db(), "SELECT family, fast_raw, slow_raw, attempts, successes, paused FROM live_families ORDER BY family");
  while (s.step()) out.push_back({s.text(0), real(s, 1), real(s, 2), s.i64(3), s.i64(4), s.i64(5) != 0});
  return out;
}

void put_family(image::Image& img, const FamilyStats& f) {
  image::require_module(img, kSchema);
  image::Image::Tx tx(img);
  sql::Stmt s(img.db(),
              "INSERT INTO live_families(family, fast_raw, slow_raw, attempts, successes, paused) VALUES(?,?,?,?,?,?) "
              "ON CONFLICT(family) DO UPDATE SET fast_raw = excluded.fast_raw, slow_raw = excluded.slow_raw, "
              "attempts = excluded.attempts, successes = excluded.successes, paused = excluded.paused");
  s.bind(1, f.family).bind(2, num(f.fast_raw)).bind(3, num(f.slow_raw)).bind(4, f.attempts).bind(5, f.successes);
  s.bind(6, static_cast<int64_t>(f.paused));
  s.run();
  img.append_event("live.family", "a4ps", {{"kind", f.family}, {"size", f.attempts}, {"status", f.paused ? "paused" : "open"}});
  tx.commit();
}

int64_t add_decision(image::Image& img, const DecisionRow& d) {
  image::require_module(img, kSchema);
  image::Image::Tx tx(img);
  sql::Stmt s(img.db(), "INSERT INTO live_decisions(ts, kind, goal_id, family, reason, detail) VALUES(?,?,?,?,?,?)");
  s.bind(1, d.ts.empty() ? now_utc() : d.ts).bind(2, d.kind).bind(3, d.goal).bind(4, d.family).bind(5, d.reason);
  s.bind(6, d.detail);
  s.run();
  int64_t id = sqlite3_last_insert_rowid(img.db());
  img.append_event("live.decision", "ALFRED", {{"id", id}, {"event", d.kind}, {"reason", d.reason.substr(0, 300)}});
  tx.commit();
  return id;
}

std::vector<DecisionRow> decisions(const image::Image& img, int64_t goal, int limit) {
  std::vector<DecisionRow> out;
  if (!present(img)) return out;
  sql::Stmt s(img.db(),
              "SELECT * FROM (SELECT id, ts, kind, goal_id, family, reason, detail FROM live_decisions "
              "WHERE ? = 0 OR goal_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id");
  s.bind(1, goal).bind(2, goal).bind(3, static_cast<int64_t>(limit > 0 ? limit : -1));
  while (s.step()) out.push_back({s.i64(0), s.text(1), s.text(2), s.i64(3), s.text(4), s.text(5), s.text(6)});
  return out;
}

Usage usage(const image::Image& img, const std::string& day) {
  Usage u{.day = day};
  if (!present(img)) return u;
  sql::Stmt s(img.db(), "SELECT wall_s, sandbox_s, tokens, forges FROM live_usage WHERE day = ?");
  s.bind(1, day);
  if (s.step()) u = {day, real(s, 0), real(s, 1), s.i64(2), s.i64(3)};
  return u;
}

void add_usage(image::Image& img, const Usage& d) {
  image::require_module(img, kSchema);
  image::Image::Tx tx(img);
  sql::Stmt s(img.db(),
              "INSERT INTO live_usage(day, wall_s, sandbox_s, tokens, forges) VALUES(?,?,?,?,?) ON CONFLICT(day) DO "
              "UPDATE SET wall_s = wall_s + excluded.wall_s, sandbox_s = sandbox_s + excluded.sandbox_s, "
              "tokens = tokens + excluded.tokens, forges = forges + excluded.forges");
  s.bind(1, d.day).bind(2, num(d.wall_s)).bind(3, num(d.sandbox_s)).bind(4, d.tokens).bind(5, d.forges);
  s.run();
  img.append_event("live.usage", "a4ps", {{"key", d.day}, {"size", d.tokens}});
  tx.commit();
}

}  // namespace a4ps::live::store
