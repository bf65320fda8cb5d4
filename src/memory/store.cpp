// The memory module's tables and queries (memory/store.h): the only file of the module
// that speaks SQL.
#include "memory/store.h"

#include "image/sqlite.h"

namespace a4ps::memory::store {

namespace sql = image::sql;

namespace {

// Version 1: ranked search over memories(text): FTS5 with BM25, kept in step by triggers
// (external content). Images of earlier builds made it in the core schema's version 2.
constexpr const char* kV1 = R"sql(
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
)sql";

const image::ModuleSchema kSchema{.name = "memory", .steps = {{1, kV1}}, .adopted_table = "memories_fts", .adopted_version = 1};

// How often each memory reached a persona's prompt, and when last (memories never used are
// what live mode's goal generation asks about). A module of its own, so that an image made
// before it still searches when opened read-only: only counting a use needs the table.
constexpr const char* kUseV1 = R"sql(
CREATE TABLE memory_use(memory INTEGER PRIMARY KEY REFERENCES memories(id) ON DELETE CASCADE,
                        uses INTEGER NOT NULL, last_used TEXT NOT NULL);
)sql";
const image::ModuleSchema kUseSchema{.name = "memory_use", .steps = {{1, kUseV1}}};

// Registered when this file is linked in, i.e. whenever the memory module is used.
[[maybe_unused]] const bool kRegistered = image::register_module(kSchema);
[[maybe_unused]] const bool kUseRegistered = image::register_module(kUseSchema);

// Rows of this embedder whose blob has this dimension (older rows of other models are ignored).
constexpr const char* kRows =
    "SELECT id, embedding FROM memories WHERE embedding IS NOT NULL AND length(embedding) = ?1 "
    "AND json_extract(meta, '$.embedder') = ?2 AND id > ?3 ORDER BY id";

}  // namespace

const image::ModuleSchema& schema() { return kSchema; }
void require(const image::Image& img) { image::require_module(img, kSchema); }

struct Snapshot::Impl {
  explicit Impl(sqlite3* db) : tx(db) {}
  sql::ReadTx tx;
};
Snapshot::Snapshot(const image::Image& img) : impl_(std::make_unique<Impl>(img.db())) {}
Snapshot::~Snapshot() = default;

void set_embedding(image::Image& img, int64_t id, std::string_view blob) {
  sql::Stmt(img.db(), "UPDATE memories SET embedding = ? WHERE id = ?").bind_blob(1, blob).bind(2, id).run();
}

int64_t count_vectors(const image::Image& img, std::string_view embedder) {
  sql::Stmt st(img.db(), "SELECT count(*) FROM memories WHERE embedding IS NOT NULL AND (?1 = '' OR json_extract(meta, '$.embedder') = ?1)");
  st.bind(1, embedder);
  st.step();
  return st.i64(0);
}

bool has_vectors(const image::Image& img, std::string_view embedder) {
  sql::Stmt st(img.db(), "SELECT EXISTS(SELECT 1 FROM memories WHERE embedding IS NOT NULL AND json_extract(meta, '$.embedder') = ?)");
  st.bind(1, embedder).step();
  return st.i64(0) != 0;
}

std::vector<int64_t> fts_ids(const image::Image& img, const std::string& fts_query, int n) {
  std::vector<int64_t> out;
  sql::Stmt st(img.db(), "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ? ORDER BY rank LIMIT ?");
  st.bind(1, fts_query).bind(2, static_cast<int64_t>(n));
  while (st.step()) out.push_back(st.i64(0));
  return out;
}

void fill_texts(const image::Image& img, std::vector<Hit>& hits) {
  sql::Stmt row(img.db(), "SELECT source, text FROM memories WHERE id = ?");
  for (Hit& h : hits) {
    row.bind(1, h.id);
    if (row.step()) {
      h.source = row.text(0);
      h.text = row.text(1);
    }
    row.reset();
  }
}

std::vector<SourceSummary> sources(const image::Image& img) {
  sql::Stmt st(img.db(),
               "SELECT source, count(*), sum(length(CAST(text AS BLOB))), count(embedding), max(created_at), "
               "(SELECT ifnull(json_extract(m2.meta, '$.embedder'), '') FROM memories m2 WHERE m2.source = m.source "
               "ORDER BY m2.id DESC LIMIT 1) "
               "FROM memories m GROUP BY source ORDER BY min(id)");
  std::vector<SourceSummary> out;
  while (st.step()) out.push_back({st.text(0), st.i64(1), st.i64(2), st.i64(3), st.text(5), st.text(4)});
  return out;
}

void mark_used(image::Image& img, const std::vector<int64_t>& ids, const std::string& ts) {
  image::require_module(img, kUseSchema);
  sql::Stmt st(img.db(), "INSERT INTO memory_use(memory, uses, last_used) SELECT id, 1, ?2 FROM memories WHERE id = ?1 "
                         "ON CONFLICT(memory) DO UPDATE SET uses = uses + 1, last_used = excluded.last_used");
  for (auto id : ids) {
    st.reset();
    st.bind(1, id).bind(2, ts).run();
  }
}

std::map<std::string, SourceUse> use_by_source(const image::Image& img) {
  std::map<std::string, SourceUse> out;
  // An image opened read-only before it was upgraded has no use table yet: nothing is used.
  sql::Stmt has(img.db(), "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'memory_use')");
  has.step();
  if (has.i64(0) == 0) return out;
  sql::Stmt st(img.db(), "SELECT m.source, sum(u.uses), max(u.last_used) FROM memory_use u JOIN memories m ON m.id = u.memory "
                         "GROUP BY m.source");
  while (st.step()) out[st.text(0)] = {st.i64(1), st.text(2)};
  return out;
}

VectorShape vector_shape(const image::Image& img, int64_t bytes, const std::string& embedder) {
  sql::Stmt shape(img.db(), "SELECT count(*), ifnull(max(id), 0) FROM memories WHERE embedding IS NOT NULL AND "
                            "length(embedding) = ?1 AND json_extract(meta, '$.embedder') = ?2");
  shape.bind(1, bytes).bind(2, embedder);
  shape.step();
  return {shape.i64(0), shape.i64(1)};
}

void each_vector(const image::Image& img, int64_t bytes, const std::string& embedder, int64_t after_id,
                 const std::function<void(int64_t id, const void* blob)>& f) {
  // The C API directly: the blob is read in place, not copied (the exact scan's hot loop).
  sqlite3* db = img.db();
  sqlite3_stmt* st = nullptr;
  if (int rc = sqlite3_prepare_v2(db, kRows, -1, &st, nullptr); rc != SQLITE_OK) sql::fail(db, rc, "reading memory vectors");
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(st, sqlite3_finalize);
  sqlite3_bind_int64(st, 1, bytes);
  sqlite3_bind_text(st, 2, embedder.data(), static_cast<int>(embedder.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, after_id);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) f(sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1));
  if (rc != SQLITE_DONE) sql::fail(db, rc, "reading memory vectors");
}

}  // namespace a4ps::memory::store
