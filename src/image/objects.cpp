// Versioned objects: personas, tools, codex documents, adapters.
#include <sqlite3.h>

#include "image/image.h"
#include "image/sqlite.h"
#include "util/env.h"
#include "util/util.h"

namespace a4ps::image {

const char* proposal_kind_name(ProposalKind k) {
  switch (k) {
    case ProposalKind::ToolRegister: return "tool.register";
    case ProposalKind::ToolRollback: return "tool.rollback";
    case ProposalKind::PersonaChange: return "persona.change";
    case ProposalKind::CodexAmend: return "codex.amend";
    case ProposalKind::AdapterActivate: return "adapter.activate";
  }
  return "?";
}

std::optional<ProposalKind> parse_proposal_kind(std::string_view s) {
  for (auto k : {ProposalKind::ToolRegister, ProposalKind::ToolRollback, ProposalKind::PersonaChange,
                 ProposalKind::CodexAmend, ProposalKind::AdapterActivate})
    if (s == proposal_kind_name(k)) return k;
  return std::nullopt;
}

const char* proposal_status_name(ProposalStatus s) {
  switch (s) {
    case ProposalStatus::Pending: return "pending";
    case ProposalStatus::Approved: return "approved";
    case ProposalStatus::Rejected: return "rejected";
    case ProposalStatus::Applied: return "applied";
  }
  return "?";
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Persona: return "persona";
    case Kind::Tool: return "tool";
    case Kind::Codex: return "codex";
    case Kind::Adapter: return "adapter";
  }
  return "?";
}

Kind parse_kind(std::string_view n) {
  for (Kind k : kAllKinds)
    if (n == kind_name(k)) return k;
  throw Error("unknown object kind '" + std::string(n) + "'; use persona, tool, codex or adapter");
}

namespace {

constexpr const char* kCols =
    "kind,name,version,content,meta,coalesce(blob_sha256,''),removed,created_at";

Object row(const sql::Stmt& st) {
  return {parse_kind(st.text(0)), st.text(1), st.i64(2), st.text(3), json::parse(st.text(4)),
          st.text(5), st.i64(6) != 0, st.text(7)};
}

// Latest version of a name, tombstones included (so versions keep counting up).
std::optional<Object> latest_any(sqlite3* db, Kind kind, std::string_view name) {
  sql::Stmt st(db, std::string("SELECT ") + kCols +
                       " FROM objects WHERE kind=? AND name=? ORDER BY version DESC LIMIT 1");
  st.bind(1, kind_name(kind)).bind(2, name);
  if (!st.step()) return std::nullopt;
  return row(st);
}

void insert(Image& img, const Object& o) {
  sql::Stmt st(img.db(), "INSERT INTO objects(kind,name,version,content,meta,blob_sha256,removed,created_at) "
                         "VALUES(?,?,?,?,?,?,?,?)");
  st.bind(1, kind_name(o.kind)).bind(2, o.name).bind(3, o.version).bind(4, o.content);
  st.bind(5, o.meta.dump());
  if (o.blob_sha256.empty()) st.bind_null(6); else st.bind(6, o.blob_sha256);
  st.bind(7, int64_t{o.removed}).bind(8, o.created_at).run();
}

}  // namespace

int64_t Image::put(Kind kind, std::string_view name, std::string_view content, const json& meta,
                   std::string_view blob) {
  if (name.empty()) throw Error(std::string(kind_name(kind)) + " name must not be empty");
  json m = meta.is_null() ? json::object() : meta;
  if (kind == Kind::Adapter && (blob.empty() || !m.contains("base_sha256")))
    throw Error("adapter '" + std::string(name) + "' needs its GGUF bytes and the base model's sha256");
  std::string blob_sum = blob.empty() ? "" : sha256_hex(blob);
  Tx tx(*this);
  auto last = latest_any(db(), kind, name);
  if (last && !last->removed && last->content == content && last->meta == m && last->blob_sha256 == blob_sum)
    return last->version;
  if (!blob.empty()) {
    sql::Stmt st(db(), "INSERT OR IGNORE INTO blobs(sha256,size,data) VALUES(?,?,?)");
    st.bind(1, blob_sum).bind(2, static_cast<int64_t>(blob.size())).bind_blob(3, blob).run();
  }
  Object o{kind, std::string(name), last ? last->version + 1 : 1, std::string(content), m, blob_sum,
           false, now_utc(env())};
  insert(*this, o);
  json ev = {{"name", name}, {"version", o.version}, {"sha256", sha256_hex(content)}};
  if (!blob_sum.empty()) ev["blob_sha256"] = blob_sum;
  append_event(std::string(kind_name(kind)) + ".version_added", "a4ps", ev);
  tx.commit();
  return o.version;
}

void Image::remove(Kind kind, std::string_view name) {
  Tx tx(*this);
  auto last = latest_any(db(), kind, name);
  if (!last || last->removed)
    throw Error(std::string("no ") + kind_name(kind) + " named '" + std::string(name) + "' in this image");
  Object o{kind, std::string(name), last->version + 1, "", json::object(), "", true, now_utc(env())};
  insert(*this, o);
  append_event(std::string(kind_name(kind)) + ".removed", "a4ps", {{"name", name}, {"version", o.version}});
  tx.commit();
}

std::optional<Object> Image::get(Kind kind, std::string_view name, int64_t version) const {
  if (version <= 0) {
    auto o = latest_any(db(), kind, name);
    if (o && o->removed) return std::nullopt;
    return o;
  }
  sql::Stmt st(db(), std::string("SELECT ") + kCols + " FROM objects WHERE kind=? AND name=? AND version=?");
  st.bind(1, kind_name(kind)).bind(2, name).bind(3, version);
  if (!st.step()) return std::nullopt;
  return row(st);
}

std::vector<Object> Image::list(Kind kind) const {
  sql::Stmt st(db(), std::string("SELECT ") + kCols +
                         " FROM objects o WHERE kind=?1 AND removed=0 AND version="
                         "(SELECT max(version) FROM objects WHERE kind=?1 AND name=o.name) ORDER BY name");
  st.bind(1, kind_name(kind));
  std::vector<Object> out;
  while (st.step()) out.push_back(row(st));
  return out;
}

std::vector<Object> Image::history(Kind kind, std::string_view name) const {
  sql::Stmt st(db(), std::string("SELECT ") + kCols + " FROM objects WHERE kind=? AND name=? ORDER BY version");
  st.bind(1, kind_name(kind)).bind(2, name);
  std::vector<Object> out;
  while (st.step()) out.push_back(row(st));
  return out;
}

std::string Image::store_blob(std::string_view bytes) {
  std::string sum = sha256_hex(bytes);
  Tx tx(*this);
  sql::Stmt st(db(), "INSERT OR IGNORE INTO blobs(sha256,size,data) VALUES(?,?,?)");
  st.bind(1, sum).bind(2, static_cast<int64_t>(bytes.size())).bind_blob(3, bytes).run();
  if (sqlite3_changes(db()) == 1) append_event("blob.stored", "a4ps", {{"sha256", sum}, {"size", bytes.size()}});
  tx.commit();
  return sum;
}

std::string Image::blob(std::string_view sha256) const {
  sql::Stmt st(db(), "SELECT data FROM blobs WHERE sha256=?");
  st.bind(1, sha256);
  if (!st.step()) throw Error("blob " + std::string(sha256) + " is missing from the image; run `a4ps image check`");
  return st.blob(0);
}

}  // namespace a4ps::image
