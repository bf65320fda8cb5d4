// Reading an image as a whole: summary counts and the integrity check.
#include <sqlite3.h>

#include <optional>

#include "image/image.h"
#include "image/schema.h"
#include "image/sqlite.h"
#include "util/util.h"

namespace a4ps::image {

Info Image::info() const {
  sqlite3* d = db();
  sql::ReadTx snapshot(d);
  Info i;
  i.path = path().string();
  i.id = meta("image_id");
  i.name = meta("name");
  i.created_at = meta("created_at");
  i.parent_id = meta("parent_id");
  i.schema_version = static_cast<int>(sql::scalar_i64(d, "PRAGMA user_version"));
  i.journal_mode = sql::scalar_text(d, "PRAGMA journal_mode");
  std::error_code ec;
  i.file_bytes = fs::file_size(path(), ec);
  i.base_model_path = meta("base_model_path");
  i.base_model_sha256 = meta("base_model_sha256");
  i.head_seq = meta("head_seq").empty() ? 0 : std::stoll(meta("head_seq"));
  i.head_hash = meta("head_hash");
  auto& c = i.counts;
  for (Kind k : kAllKinds) {
    int64_t n = static_cast<int64_t>(list(k).size());
    (k == Kind::Persona ? c.personas : k == Kind::Tool ? c.tools : k == Kind::Codex ? c.codex : c.adapters) = n;
  }
  c.memories = sql::scalar_i64(d, "SELECT count(*) FROM memories");
  c.threads = sql::scalar_i64(d, "SELECT count(*) FROM threads");
  c.checkpoints = sql::scalar_i64(d, "SELECT count(*) FROM checkpoints");
  c.proposals = sql::scalar_i64(d, "SELECT count(*) FROM proposals");
  c.proposals_pending = sql::scalar_i64(d, "SELECT count(*) FROM proposals WHERE status='pending'");
  c.events = sql::scalar_i64(d, "SELECT count(*) FROM events");
  return i;
}

CheckReport Image::check() const {
  CheckReport r;
  auto problem = [&](std::string p) {
    r.ok = false;
    r.problems.push_back(std::move(p));
  };
  sqlite3* d = db();
  std::optional<sql::ReadTx> snapshot;
  try {
    snapshot.emplace(d);  // the chain and its head as of one moment
    sql::Stmt ic(d, "PRAGMA integrity_check");
    while (ic.step())
      if (ic.text(0) != "ok") problem("integrity: " + ic.text(0));
    sql::Stmt fk(d, "PRAGMA foreign_key_check");
    while (fk.step()) problem("foreign key: row " + std::to_string(fk.i64(1)) + " of " + fk.text(0) +
                              " points at a missing " + fk.text(2));
  } catch (const Error& e) {
    problem(e.what());
    return r;  // the file itself is damaged; the rest would only repeat it
  }
  try {
    // Walk the whole chain: contiguous sequence numbers, each linking its predecessor.
    sql::Stmt st(d, "SELECT seq,ts,kind,actor,payload,prev_hash,hash FROM events ORDER BY seq");
    std::string prev(64, '0');
    int64_t expect = 1;
    while (st.step()) {
      Event e{st.i64(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5), st.text(6)};
      std::string why;
      if (e.seq != expect) why = "sequence gap (expected " + std::to_string(expect) + ")";
      else if (e.prev_hash != prev) why = "does not link to the previous event";
      else if (event_hash(e) != e.hash) why = "hash mismatch (its content was changed)";
      if (!why.empty()) {
        problem("event chain broken at seq " + std::to_string(e.seq) + ": " + why);
        break;
      }
      prev = e.hash;
      ++expect;
      ++r.events_verified;
    }
    if (r.ok && (meta("head_seq") != std::to_string(expect - 1) || (expect > 1 && meta("head_hash") != prev)))
      problem("event chain head does not match the last event (events were removed)");
    for (const auto& m : registered_modules()) {  // what only a module knows of its tables
      if (!m.check || module_version(d, m) != m.latest()) continue;
      sql::Stmt mc(d, m.check);
      while (mc.step()) problem(m.name + ": " + mc.text(0));
    }
    sql::Stmt bl(d, "SELECT sha256,size,data FROM blobs");
    while (bl.step()) {
      std::string data = bl.blob(2);
      if (sha256_hex(data) != bl.text(0) || static_cast<int64_t>(data.size()) != bl.i64(1))
        problem("blob " + bl.text(0) + " does not match its hash");
      else
        ++r.blobs_verified;
    }
  } catch (const Error& e) {
    problem(e.what());
  }
  return r;
}

}  // namespace a4ps::image
