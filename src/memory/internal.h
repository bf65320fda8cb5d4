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

}  // namespace a4ps::memory::detail
