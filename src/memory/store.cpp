// The memory module's tables and queries (memory/store.h): the only file of the module
// that speaks SQL.
#include "memory/store.h"

#include <algorithm>
#include <cmath>

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
  std::vector<FtsHit> hits = fts_top(img, fts_query, n);
  std::vector<int64_t> out;
  for (const FtsHit& h : hits) out.push_back(h.id);
  return out;
}

std::vector<FtsHit> fts_top_sorted(const image::Image& img, const std::string& fts_query, int n) {
  sql::Stmt st(img.db(), "SELECT rowid, rank FROM memories_fts WHERE memories_fts MATCH ? ORDER BY rank LIMIT ?");
  st.bind(1, fts_query).bind(2, int64_t{n});
  std::vector<FtsHit> out;
  while (st.step()) out.push_back({st.i64(0), st.f64(1)});
  return out;
}

namespace {

// ---- the top k by BM25 without scoring every match -----------------------------------
//
// FTS5's ORDER BY rank computes bm25() for every row that matches the OR of the query's
// words and sorts them all; with frequent words that is most of the table, and scoring a
// row (its phrase counts and its length, a lookup in the docsize table) is the bulk of a
// search. a4ps_bm25_topk, an FTS5 auxiliary function called once per matching row, keeps
// the best k itself and skips the length lookup and the arithmetic for a row that cannot
// enter them: from its phrase counts and positions alone, the score it would have at the
// smallest length it could have (the end of its last phrase instance) is an upper bound
// (each BM25 term falls as the row grows, and so does its floating-point value: every step
// rounds monotonically), and when that bound is below the k-th best so far the row is out.
// Scores are computed exactly as FTS5's bm25() computes them (same IDF, average length,
// order of summation), so the result is the same list, ties broken by rowid as FTS5's sort
// does (memory_test compares the two).

constexpr const char* kTopKFunction = "a4ps_bm25_topk";
constexpr const char* kTopKPointer = "a4ps_bm25_topk";  // the type tag of the collector pointer
constexpr const char* kTopK = "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ?1 AND a4ps_bm25_topk(memories_fts, ?2)";

struct TopK {
  size_t k = 0;
  std::vector<FtsHit> heap;  // the best so far; the worst (highest rank) on top
  bool ready = false;        // idf and avgdl computed (on the first row)
  std::vector<double> idf, freq;
  std::vector<int> size;  // tokens in each phrase
  std::vector<int> order;  // phrases, rarest (highest IDF) first
  std::vector<double> rest;  // rest[j]: the most phrases order[j..] can add to a score
  double avgdl = 0;
  int64_t rows = 0, scored = 0;

  // a ranks before b (as a heap's "less": the heap keeps the worst on top)
  static bool better(const FtsHit& a, const FtsHit& b) { return a.rank != b.rank ? a.rank < b.rank : a.id < b.id; }
};

// BM25 as FTS5's bm25() defines it (k1 1.2, b 0.75, IDF floored at 1e-6), for a row of
// length d whose phrase i occurs freq[i] times.
constexpr double kK1 = 1.2, kB = 0.75;
double bm25(const TopK& t, double d) {
  double score = 0.0;
  for (size_t i = 0; i < t.idf.size(); ++i)
    score += t.idf[i] * ((t.freq[i] * (kK1 + 1.0)) / (t.freq[i] + kK1 * (1 - kB + kB * d / t.avgdl)));
  return score;
}

int prepare_topk(const Fts5ExtensionApi* api, Fts5Context* fts, TopK& t) {
  int phrases = api->xPhraseCount(fts);
  sqlite3_int64 rows = 0, tokens = 0;
  if (int rc = api->xRowCount(fts, &rows); rc != SQLITE_OK) return rc;
  if (int rc = api->xColumnTotalSize(fts, -1, &tokens); rc != SQLITE_OK) return rc;
  t.avgdl = static_cast<double>(tokens) / static_cast<double>(rows);
  for (int i = 0; i < phrases; ++i) {
    // Counting stops at half the rows: from there on the IDF is the floor whatever the count.
    struct Count {
      sqlite3_int64 hits = 0, half;
    } count{0, (rows + 1) / 2};
    int rc = api->xQueryPhrase(fts, i, &count, [](const Fts5ExtensionApi*, Fts5Context*, void* p) {
      auto* c = static_cast<Count*>(p);
      return ++c->hits >= c->half ? SQLITE_DONE : SQLITE_OK;
    });
    if (rc != SQLITE_OK) return rc;
    sqlite3_int64 hits = count.hits;
    double idf = std::log((static_cast<double>(rows - hits) + 0.5) / (static_cast<double>(hits) + 0.5));
    t.idf.push_back(idf <= 0.0 ? 1e-6 : idf);
    t.size.push_back(api->xPhraseSize(fts, i));
  }
  t.freq.assign(t.idf.size(), 0.0);
  for (int i = 0; i < phrases; ++i) t.order.push_back(i);
  std::stable_sort(t.order.begin(), t.order.end(), [&](int a, int b) { return t.idf[a] > t.idf[b]; });
  t.rest.assign(t.order.size() + 1, 0.0);
  for (size_t j = t.order.size(); j-- > 0;) t.rest[j] = t.rest[j + 1] + t.idf[t.order[j]] * (kK1 + 1.0);
  t.ready = true;
  return SQLITE_OK;
}

int topk_row(const Fts5ExtensionApi* api, Fts5Context* fts, TopK& t) {
  if (!t.ready)
    if (int rc = prepare_topk(api, fts, t); rc != SQLITE_OK) return rc;
  ++t.rows;
  // The row has at least as many tokens as any phrase has instances, and at least up to
  // the end of its last instance (an instance of a phrase of s tokens at offset o: o + s).
  int least = 0;
  // Rarest phrases first: once those are counted, the most the others could add (their
  // IDF times k1 + 1, whatever their counts) often cannot lift the row into the best k,
  // and the frequent phrases, in most rows and several times, are never counted. That
  // partial bound sums in another order than bm25(), hence the margin.
  bool full = t.heap.size() >= t.k;
  double counted = 0;
  for (size_t j = 0; j < t.order.size(); ++j) {
    int i = t.order[j];
    Fts5PhraseIter it;
    int col = 0, off = 0, n = 0, end = 0;
    if (int rc = api->xPhraseFirst(fts, i, &it, &col, &off); rc != SQLITE_OK) return rc;
    for (; col >= 0; api->xPhraseNext(fts, &it, &col, &off)) {
      ++n;
      end = std::max(end, off + t.size[i]);
    }
    t.freq[i] = n;
    least = std::max({least, n, end});
    if (full) {
      if (n > 0) counted += t.idf[i] * ((n * (kK1 + 1.0)) / (n + kK1 * (1 - kB)));  // at length 0, its most
      if (-(counted + t.rest[j + 1]) * (1 + 1e-12) > t.heap.front().rank) return SQLITE_OK;
    }
  }
  if (t.heap.size() >= t.k && -bm25(t, least) > t.heap.front().rank) return SQLITE_OK;
  int len = 0;
  if (int rc = api->xColumnSize(fts, -1, &len); rc != SQLITE_OK) return rc;
  ++t.scored;
  FtsHit h{api->xRowid(fts), -1.0 * bm25(t, len)};
  if (t.heap.size() < t.k) {
    t.heap.push_back(h);
    std::push_heap(t.heap.begin(), t.heap.end(), TopK::better);
  } else if (TopK::better(h, t.heap.front())) {
    std::pop_heap(t.heap.begin(), t.heap.end(), TopK::better);
    t.heap.back() = h;
    std::push_heap(t.heap.begin(), t.heap.end(), TopK::better);
  }
  return SQLITE_OK;
}

// a4ps_bm25_topk(memories_fts, collector): adds the current row to the collector; false,
// so the query itself returns no rows.
void topk_function(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* ctx, int n, sqlite3_value** args) {
  auto* t = n == 1 ? static_cast<TopK*>(sqlite3_value_pointer(args[0], kTopKPointer)) : nullptr;
  if (!t) {
    sqlite3_result_error(ctx, "a4ps_bm25_topk takes the collector a4ps binds", -1);
    return;
  }
  if (int rc = topk_row(api, fts, *t); rc != SQLITE_OK) sqlite3_result_error_code(ctx, rc);
  else sqlite3_result_int(ctx, 0);
}

// Auxiliary functions belong to a connection: registered on the first search through it.
void register_topk(sqlite3* db) {
  fts5_api* api = nullptr;
  sqlite3_stmt* st = nullptr;
  if (int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, nullptr); rc != SQLITE_OK) sql::fail(db, rc, "opening full-text search");
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(st, sqlite3_finalize);
  sqlite3_bind_pointer(st, 1, static_cast<void*>(&api), "fts5_api_ptr", nullptr);
  sqlite3_step(st);
  if (!api) throw Error("this SQLite has no full-text search (FTS5); install one built with it");
  if (int rc = api->xCreateFunction(api, kTopKFunction, nullptr, topk_function, nullptr); rc != SQLITE_OK)
    sql::fail(db, rc, "registering full-text ranking");
}

}  // namespace

std::vector<FtsHit> fts_top(const image::Image& img, const std::string& fts_query, int n, FtsStats* stats) {
  if (n <= 0) return {};
  sqlite3* db = img.db();
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db, kTopK, -1, &st, nullptr);
  if (rc != SQLITE_OK) {  // the function is not yet registered on this connection
    register_topk(db);
    rc = sqlite3_prepare_v2(db, kTopK, -1, &st, nullptr);
  }
  if (rc != SQLITE_OK) sql::fail(db, rc, "searching memories");
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(st, sqlite3_finalize);
  TopK t;
  t.k = static_cast<size_t>(n);
  sqlite3_bind_text(st, 1, fts_query.data(), static_cast<int>(fts_query.size()), SQLITE_TRANSIENT);
  sqlite3_bind_pointer(st, 2, &t, kTopKPointer, nullptr);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) sql::fail(db, rc, "searching memories");
  std::sort_heap(t.heap.begin(), t.heap.end(), TopK::better);
  if (stats) *stats = {t.rows, t.scored};
  return std::move(t.heap);
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
  if (image::module_version(img.db(), kUseSchema) == 0) return out;
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
