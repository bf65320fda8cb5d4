// Pieces shared by the memory module's own files (not part of its public header).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "memory/memory.h"

namespace a4ps::memory::detail {

// float32 little-endian, the stored form of an embedding.
std::string encode_vector(const std::vector<float>& v);
std::vector<float> decode_vector(std::string_view blob);

// The n stored vectors (of this embedder and dimension) most similar to q by cosine,
// best first, as (memory id, similarity).
std::vector<std::pair<int64_t, float>> nearest(const image::Image& img, const std::vector<float>& q,
                                               const std::string& embedder, int n, VectorIndex mode);

// How search() ranks its full-text candidates. TopK (what search() uses) keeps the best
// rows while FTS5 walks the matches; SortAll is FTS5's ORDER BY rank, which scores every
// match: the same list, kept so the bench and tests can compare.
enum class FtsRanking { TopK, SortAll };
std::vector<Hit> search(const image::Image& img, std::string_view query, const Embedder& emb, const SearchOptions& opts,
                        FtsRanking fts);

// The FTS5 query search() runs for the user's words ("" when there are none).
std::string fts_query(std::string_view q);

}  // namespace a4ps::memory::detail
