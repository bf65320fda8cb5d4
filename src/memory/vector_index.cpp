// Nearest stored vectors: an exact scan, or an index kept per process (a quantized scan
// with exact re-ranking, or HNSW from hnswlib).
//
// The scan reads every vector from SQLite on each search: nothing to build, so it is what
// a one-shot process (the CLI) wants. A long-lived process (the agent) searching a large
// memory keeps an index instead, built on first use and brought up to date with new rows
// on later searches (rebuilt when rows were deleted). bench/memory_search.cpp measures
// where each wins, and why the quantized scan rather than HNSW is the default index.
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
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

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

// ---- indexes kept per process ---------------------------------------------------------
//
// Both kinds are built on first use from the image's vectors and brought up to date with
// new rows on later searches (rebuilt when rows were deleted or changed).

// Which image, model and dimension an index holds.
using IndexKey = std::tuple<std::string, std::string, std::string, size_t>;  // (file, image id, embedder, dim)

struct Hnsw {
  std::unique_ptr<hnswlib::InnerProductSpace> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
  void reset(size_t dim, int64_t count) {
    space = std::make_unique<hnswlib::InnerProductSpace>(dim);
    hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(space.get(), std::max<size_t>(1024, static_cast<size_t>(count)), 16, 100);
  }
  void reserve(int64_t count) {
    if (static_cast<size_t>(count) > hnsw->max_elements_) hnsw->resizeIndex(std::max<size_t>(static_cast<size_t>(count), hnsw->max_elements_ * 2));
  }
  void add(int64_t id, const std::vector<float>& unit) { hnsw->addPoint(unit.data(), static_cast<hnswlib::labeltype>(id)); }
  std::vector<std::pair<int64_t, float>> search(const std::vector<float>& q, int n, int64_t count) const {
    hnsw->setEf(std::max<size_t>(400, static_cast<size_t>(n) * 4));
    auto pq = hnsw->searchKnn(q.data(), std::min<size_t>(static_cast<size_t>(n), static_cast<size_t>(count)));
    std::vector<std::pair<int64_t, float>> out;
    for (; !pq.empty(); pq.pop()) out.emplace_back(static_cast<int64_t>(pq.top().second), 1.f - pq.top().first);
    std::reverse(out.begin(), out.end());
    return out;
  }
};

// ---- the quantized scan ---------------------------------------------------------------
//
// Every vector kept twice: as int8 (one scale per vector, a quarter of the bytes) and as
// the unit float vector. A search reads all the int8 codes (the part that grows with the
// memory, and a quarter of the memory traffic of a float scan), keeps the best candidates
// by that approximate similarity, and re-ranks them by their exact similarity. Unlike a
// graph index it misses a neighbour only when quantization moves it out of the candidates,
// which a margin of several times n makes rare, and it is built as fast as the vectors
// are read.

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) int32_t dot_i8_avx2(const int8_t* a, const int8_t* b, size_t n) {
  __m256i acc = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    __m256i y = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
  }
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  int32_t sum = _mm_cvtsi128_si32(s);
  for (; i < n; ++i) sum += int32_t{a[i]} * b[i];
  return sum;
}
#endif

int32_t dot_i8_plain(const int8_t* a, const int8_t* b, size_t n) {
  int32_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += int32_t{a[i]} * b[i];
  return sum;
}

using DotI8 = int32_t (*)(const int8_t*, const int8_t*, size_t);
DotI8 pick_dot_i8() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return dot_i8_avx2;
#endif
  return dot_i8_plain;
}

// Codes x / scale rounded, scale = max |x| / 127; returns the scale (0 for a zero vector).
float quantize(const float* x, size_t dim, int8_t* codes) {
  float most = 0;
  for (size_t i = 0; i < dim; ++i) most = std::max(most, std::fabs(x[i]));
  float scale = most > 0 ? most / 127.f : 0.f;
  for (size_t i = 0; i < dim; ++i) codes[i] = scale > 0 ? static_cast<int8_t>(std::lrint(x[i] / scale)) : 0;
  return scale;
}

struct Quantized {
  size_t dim = 0;
  std::vector<int8_t> codes;
  std::vector<float> scales, unit;
  std::vector<int64_t> ids;

  void reset(size_t d, int64_t count) {
    *this = Quantized{};
    dim = d;
    reserve(count);
  }
  void reserve(int64_t count) {  // geometric growth: a row or two added between searches copies nothing
    auto n = std::max(static_cast<size_t>(count), ids.size() < static_cast<size_t>(count) ? ids.size() * 2 : 0);
    if (n <= ids.capacity()) return;
    codes.reserve(n * dim);
    unit.reserve(n * dim);
    scales.reserve(n);
    ids.reserve(n);
  }
  void add(int64_t id, const std::vector<float>& v) {
    size_t at = ids.size();
    codes.resize((at + 1) * dim);
    scales.push_back(quantize(v.data(), dim, codes.data() + at * dim));
    unit.insert(unit.end(), v.begin(), v.end());
    ids.push_back(id);
  }
  // Candidates: the best max(4n, n + 64) by the int8 similarity, then the n best of them exactly.
  std::vector<std::pair<int64_t, float>> search(const std::vector<float>& q, int n, int64_t) const {
    std::vector<int8_t> qc(dim);
    quantize(q.data(), dim, qc.data());
    size_t want = std::min(ids.size(), std::max<size_t>(static_cast<size_t>(n) * 4, static_cast<size_t>(n) + 64));
    using Cand = std::pair<float, size_t>;  // (approximate similarity, row): a min-heap of the best
    std::vector<Cand> best;
    best.reserve(want + 1);
    auto cmp = std::greater<>();
    static const DotI8 dot_i8 = pick_dot_i8();
    for (size_t r = 0; r < ids.size(); ++r) {
      float sim = static_cast<float>(dot_i8(qc.data(), codes.data() + r * dim, dim)) * scales[r];
      if (best.size() < want) {
        best.emplace_back(sim, r);
        std::push_heap(best.begin(), best.end(), cmp);
      } else if (sim > best.front().first) {
        std::pop_heap(best.begin(), best.end(), cmp);
        best.back() = {sim, r};
        std::push_heap(best.begin(), best.end(), cmp);
      }
    }
    std::vector<std::pair<int64_t, float>> out;
    for (auto& [approx, r] : best) {
      const float* v = unit.data() + r * dim;
      double dot = 0;
      for (size_t i = 0; i < dim; ++i) dot += double{q[i]} * v[i];
      out.emplace_back(ids[r], static_cast<float>(dot));
    }
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
    if (out.size() > static_cast<size_t>(n)) out.resize(static_cast<size_t>(n));
    return out;
  }
};

template <class Kind>
struct Cached {
  Kind index;
  bool built = false;
  int64_t count = 0, max_id = 0;
  std::string head;  // the image's event head when last brought up to date
};

std::mutex g_mu;
std::map<IndexKey, Cached<Hnsw>> g_hnsw;
std::map<IndexKey, Cached<Quantized>> g_quantized;

// Brings ix up to date with the image's vectors (under g_mu).
template <class Kind>
void refresh(const image::Image& img, const std::string& embedder, size_t dim, const std::string& head, Cached<Kind>& ix) {
  // Every change to an image moves its event head (memories are added with an event), so
  // an index built at this head is current without looking at a single row.
  if (ix.built && ix.head == head) return;
  auto [count, max_id] = store::vector_shape(img, static_cast<int64_t>(dim * 4), embedder);
  for (int attempt = 0; attempt < 2 && (!ix.built || count != ix.count || max_id != ix.max_id); ++attempt) {
    // Rows deleted, or changed under ids already indexed: build it again from scratch.
    if (ix.built && (max_id < ix.max_id || count < ix.count || attempt > 0)) ix = Cached<Kind>{};
    if (!ix.built) {
      ix.index.reset(dim, count);
      ix.built = true;
    } else {
      ix.index.reserve(count);
    }
    std::vector<float> v;
    store::each_vector(img, static_cast<int64_t>(dim * 4), embedder, ix.max_id, [&](int64_t id, const void* blob) {
      load(blob, dim, v);
      normalize(v);  // inner product of unit vectors = cosine
      ix.index.add(id, v);
      ++ix.count;
      ix.max_id = id;
    });
  }
  ix.head = head;
}

template <class Kind>
std::vector<std::pair<int64_t, float>> cached_search(std::map<IndexKey, Cached<Kind>>& indexes, const image::Image& img,
                                                     const std::vector<float>& q, const std::string& embedder, int n) {
  std::string head = img.meta("head_hash");
  std::lock_guard lock(g_mu);
  Cached<Kind>& ix = indexes[{img.path().string(), img.meta("image_id"), embedder, q.size()}];
  refresh(img, embedder, q.size(), head, ix);
  if (ix.count == 0) return {};
  return ix.index.search(q, n, ix.count);
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
      IndexKey key{img.path().string(), img.meta("image_id"), embedder, q.size()};
      std::lock_guard lock(g_mu);
      built = g_quantized.count(key) > 0;
    }
    mode = built || count_vectors(img, embedder) >= static_cast<int64_t>(kIndexMinVectors) ? VectorIndex::Quantized : VectorIndex::BruteForce;
  }
  if (mode == VectorIndex::Hnsw) return cached_search(g_hnsw, img, qn, embedder, n);
  if (mode == VectorIndex::Quantized) return cached_search(g_quantized, img, qn, embedder, n);
  return brute_force(img, qn, embedder, n);
}

}  // namespace a4ps::memory::detail
