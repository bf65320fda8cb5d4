// Nearest stored vectors: an exact scan, or an HNSW index (hnswlib) kept per process.
//
// The scan reads every vector from SQLite on each search: nothing to build, so it is what
// a one-shot process (the CLI) wants. A long-lived process (the agent) searching a large
// memory keeps an HNSW index instead, built on first use and brought up to date with new
// rows on later searches (rebuilt when rows were deleted). bench/memory_search.cpp
// measures where each wins.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <tuple>

#include <hnswlib/hnswlib.h>

#include "image/image.h"
#include "memory/internal.h"
#include "memory/store.h"

namespace a4ps::memory::detail {

std::string encode_vector(const std::vector<float>& v) {
  std::string out(v.size() * 4, '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t b;
    std::memcpy(&b, &v[i], 4);
    for (int k = 0; k < 4; ++k) out[i * 4 + k] = static_cast<char>((b >> (8 * k)) & 0xFF);
  }
  return out;
}

std::vector<float> decode_vector(std::string_view blob) {
  std::vector<float> v(blob.size() / 4);
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t b = 0;
    for (int k = 0; k < 4; ++k) b |= uint32_t{static_cast<unsigned char>(blob[i * 4 + k])} << (8 * k);
    std::memcpy(&v[i], &b, 4);
  }
  return v;
}

namespace {

void normalize(std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += double{x} * x;
  if (s <= 0) return;
  float inv = static_cast<float>(1 / std::sqrt(s));
  for (float& x : v) x *= inv;
}

// Reads the little-endian blob straight into floats (this host is little-endian in practice;
// decode_vector covers the general case).
void load(const void* blob, size_t dim, std::vector<float>& v) {
  v.resize(dim);
  if constexpr (std::endian::native == std::endian::little) std::memcpy(v.data(), blob, dim * 4);
  else v = decode_vector({static_cast<const char*>(blob), dim * 4});
}

std::vector<std::pair<int64_t, float>> brute_force(const image::Image& img, const std::vector<float>& q, const std::string& embedder, int n) {
  using Cand = std::pair<float, int64_t>;  // min-heap of the best n so far
  std::priority_queue<Cand, std::vector<Cand>, std::greater<>> best;
  std::vector<float> v;
  store::each_vector(img, static_cast<int64_t>(q.size() * 4), embedder, 0, [&](int64_t id, const void* blob) {
    load(blob, q.size(), v);
    double dot = 0, nn = 0;
    for (size_t i = 0; i < q.size(); ++i) {
      dot += double{q[i]} * v[i];
      nn += double{v[i]} * v[i];
    }
    float sim = nn > 0 ? static_cast<float>(dot / std::sqrt(nn)) : 0.f;
    if (static_cast<int>(best.size()) < n) best.emplace(sim, id);
    else if (sim > best.top().first) {
      best.pop();
      best.emplace(sim, id);
    }
  });
  std::vector<std::pair<int64_t, float>> out;
  for (; !best.empty(); best.pop()) out.emplace_back(best.top().second, best.top().first);
  std::reverse(out.begin(), out.end());
  return out;
}

struct Index {
  std::unique_ptr<hnswlib::InnerProductSpace> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
  int64_t count = 0, max_id = 0;
  std::string head;  // the image's event head when last brought up to date
};

std::mutex g_mu;
// (image file, image id, embedder, dim) -> index over that image's vectors in this process.
std::map<std::tuple<std::string, std::string, std::string, size_t>, Index> g_indexes;

std::vector<std::pair<int64_t, float>> hnsw_search(const image::Image& img, const std::vector<float>& q, const std::string& embedder, int n) {
  size_t dim = q.size();
  // Every change to an image moves its event head (memories are added with an event), so
  // an index built at this head is current without looking at a single row.
  std::string head = img.meta("head_hash");
  std::lock_guard lock(g_mu);
  Index& ix = g_indexes[{img.path().string(), img.meta("image_id"), embedder, dim}];
  if (!ix.hnsw || ix.head != head) {
    auto [count, max_id] = store::vector_shape(img, static_cast<int64_t>(dim * 4), embedder);
    for (int attempt = 0; attempt < 2 && (!ix.hnsw || count != ix.count || max_id != ix.max_id); ++attempt) {
      // Rows deleted, or changed under ids already indexed: build it again from scratch.
      if (ix.hnsw && (max_id < ix.max_id || count < ix.count || attempt > 0)) ix = Index{};
      if (!ix.hnsw) {
        ix.space = std::make_unique<hnswlib::InnerProductSpace>(dim);
        ix.hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(ix.space.get(), std::max<size_t>(1024, count), 16, 100);
      } else if (static_cast<size_t>(count) > ix.hnsw->max_elements_) {
        ix.hnsw->resizeIndex(std::max<size_t>(count, ix.hnsw->max_elements_ * 2));
      }
      std::vector<float> v;
      store::each_vector(img, static_cast<int64_t>(dim * 4), embedder, ix.max_id, [&](int64_t id, const void* blob) {
        load(blob, dim, v);
        normalize(v);  // inner product of unit vectors = cosine
        ix.hnsw->addPoint(v.data(), static_cast<hnswlib::labeltype>(id));
        ++ix.count;
        ix.max_id = id;
      });
    }
    ix.head = head;
  }
  if (ix.count == 0) return {};
  std::vector<float> qn = q;
  normalize(qn);
  ix.hnsw->setEf(std::max<size_t>(400, static_cast<size_t>(n) * 4));
  auto pq = ix.hnsw->searchKnn(qn.data(), std::min<size_t>(static_cast<size_t>(n), ix.count));
  std::vector<std::pair<int64_t, float>> out;
  for (; !pq.empty(); pq.pop()) out.emplace_back(static_cast<int64_t>(pq.top().second), 1.f - pq.top().first);
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::pair<int64_t, float>> nearest(const image::Image& img, const std::vector<float>& q,
                                               const std::string& embedder, int n, VectorIndex mode) {
  if (q.empty() || n <= 0) return {};
  std::vector<float> qn = q;
  normalize(qn);
  if (mode == VectorIndex::Auto) {
    bool built;
    {
      std::lock_guard lock(g_mu);
      built = g_indexes.count({img.path().string(), img.meta("image_id"), embedder, q.size()}) > 0;
    }
    mode = built || count_vectors(img, embedder) >= static_cast<int64_t>(kHnswMinVectors) ? VectorIndex::Hnsw : VectorIndex::BruteForce;
  }
  if (mode == VectorIndex::Hnsw) return hnsw_search(img, qn, embedder, n);
  return brute_force(img, qn, embedder, n);
}

}  // namespace a4ps::memory::detail
