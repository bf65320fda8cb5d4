// The memory module's tables and every SQL statement over them: its full-text index over
// the image's memories (registered with the image as the "memory" module), and the
// queries search, listing and the vector index need. The rest of the module asks here.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "image/image.h"
#include "image/schema.h"
#include "memory/memory.h"

namespace a4ps::memory::store {

const image::ModuleSchema& schema();  // "memory": its tables and migrations
// Throws one line when the image lacks the module's tables (see image::require_module).
void require(const image::Image& img);

// Every read inside sees one snapshot of the image.
class Snapshot {
 public:
  explicit Snapshot(const image::Image& img);
  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Stores memory `id`'s embedding (float32 little-endian); call inside the caller's Tx.
void set_embedding(image::Image& img, int64_t id, std::string_view blob);
// Memories with a vector (of this embedder; "" any).
int64_t count_vectors(const image::Image& img, std::string_view embedder);
bool has_vectors(const image::Image& img, std::string_view embedder);  // stops at the first
// Ids of the best n full-text matches (BM25) of an FTS5 query, best first (fts_top's ids).
std::vector<int64_t> fts_ids(const image::Image& img, const std::string& fts_query, int n);

// A full-text match: its rank is FTS5's, -bm25() (lower is better).
struct FtsHit {
  int64_t id = 0;
  double rank = 0;
  bool operator==(const FtsHit&) const = default;
};
struct FtsStats {
  int64_t rows = 0;    // rows that matched the query
  int64_t scored = 0;  // of which fully scored (the rest could not enter the best n)
};
// The best n matches by bm25(), best first, equal ranks by id: the list FTS5's
// "ORDER BY rank LIMIT n" gives, without scoring rows that cannot enter it. Compared with
// FTS5's own on queries as search() writes them (quoted phrases joined by OR).
std::vector<FtsHit> fts_top(const image::Image& img, const std::string& fts_query, int n, FtsStats* stats = nullptr);
// The same list by FTS5's own ORDER BY rank, which scores every match and sorts them: the
// reference the tests and the bench compare fts_top with.
std::vector<FtsHit> fts_top_sorted(const image::Image& img, const std::string& fts_query, int n);
// Fills each hit's source and text from its id.
void fill_texts(const image::Image& img, std::vector<Hit>& hits);
std::vector<SourceSummary> sources(const image::Image& img);
// Counts one use of each memory (ids of memories since removed are skipped); inside the
// caller's Tx or alone.
void mark_used(image::Image& img, const std::vector<int64_t>& ids, const std::string& ts);
// Uses per source (sources never used are absent).
std::map<std::string, SourceUse> use_by_source(const image::Image& img);

// The vectors of this embedder whose blob is `bytes` long.
struct VectorShape {
  int64_t count = 0, max_id = 0;
};
VectorShape vector_shape(const image::Image& img, int64_t bytes, const std::string& embedder);
// Calls f(id, blob) for each such vector with an id above after_id, in id order; blob
// holds `bytes` bytes and lives only during the call.
void each_vector(const image::Image& img, int64_t bytes, const std::string& embedder, int64_t after_id,
                 const std::function<void(int64_t id, const void* blob)>& f);

}  // namespace a4ps::memory::store
