// Memory search latency as the memory grows: full text alone (FTS5 BM25), vectors by exact
// scan, vectors by HNSW (hnswlib), and the fused search() over each.
//
// The corpus is synthetic and deterministic: documents of words drawn from a Zipf-like
// vocabulary, embedded by a FAKE embedder (a signed random projection of the bag of words,
// so documents sharing words have similar vectors: structure an index can exploit, like
// real embeddings, but no meaning). Queries are 5 words taken from a random document.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "image/image.h"
#include "memory/internal.h"
#include "memory/memory.h"

namespace fs = std::filesystem;
using namespace a4ps;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::vector<std::string> make_vocab(size_t n) {
  std::mt19937 r(7);
  std::vector<std::string> v;
  for (size_t i = 0; i < n; ++i) {
    std::string w;
    int len = 4 + static_cast<int>(r() % 6);
    for (int k = 0; k < len; ++k) w += static_cast<char>('a' + r() % 26);
    v.push_back(w);
  }
  return v;
}

memory::Embedder fake_embedder(size_t dim) {
  return memory::Embedder(
      [dim](const std::string& text) {
        std::vector<float> v(dim, 0.f);
        std::istringstream in(text);
        for (std::string w; in >> w;) {
          uint64_t h = std::hash<std::string>{}(w);
          for (int k = 0; k < 8; ++k) {  // 8 signed coordinates per word
            h = h * 6364136223846793005ULL + 1442695040888963407ULL;
            v[(h >> 33) % dim] += (h >> 63) ? 1.f : -1.f;
          }
        }
        return v;
      },
      "bench-fake-projection");
}

struct Row {
  size_t n;
  double add_s, fts_ms, scan_ms, hnsw_build_s, hnsw_ms, fused_scan_ms, fused_hnsw_ms, recall, recall_ties;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes = {1000, 10000, 50000};
  size_t dim = 384;
  int queries = 20;
  fs::path base = "/tmp";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--sizes") {
      sizes.clear();
      std::stringstream in(next());
      for (std::string x; std::getline(in, x, ',');) sizes.push_back(std::stoul(x));
    } else if (a == "--dim") dim = std::stoul(next());
    else if (a == "--queries") queries = std::stoi(next());
    else if (a == "--dir") base = next();
    else {
      std::fprintf(stderr, "usage: bench_memory_search [--sizes 1000,10000,50000] [--dim 384] [--queries 20] [--dir DIR]\n");
      return 2;
    }
  }
  std::string tmpl = (base / "a4ps-bench-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) return 1;
  fs::path dir = tmpl;
  auto vocab = make_vocab(20000);
  auto emb = fake_embedder(dim);
  std::vector<Row> rows;
  for (size_t n : sizes) {
    std::mt19937 r(11);
    // Zipf-like: word i drawn with probability ~ 1/(i+1).
    std::vector<double> w(vocab.size());
    for (size_t i = 0; i < w.size(); ++i) w[i] = 1.0 / (i + 1);
    std::discrete_distribution<size_t> pick(w.begin(), w.end());
    std::vector<std::string> docs;
    for (size_t d = 0; d < n; ++d) {
      std::string s;
      for (int k = 0; k < 40; ++k) s += vocab[pick(r)] + (k % 10 == 9 ? ". " : " ");
      docs.push_back(s);
    }
    auto img = image::Image::create(dir / ("m" + std::to_string(n) + ".a4ps"), {.sync = image::Sync::Normal});
    auto t = Clock::now();
    for (size_t d = 0; d < n; d += 1000) {
      image::Image::Tx tx(img);
      for (size_t e = d; e < std::min(n, d + 1000); ++e) memory::add_text(img, docs[e], "doc" + std::to_string(e), emb);
      tx.commit();
    }
    Row row{n, ms_since(t) / 1000, 0, 0, 0, 0, 0, 0, 0, 0};
    std::vector<std::string> qs;
    for (int i = 0; i < queries; ++i) {
      std::istringstream in(docs[r() % n]);
      std::vector<std::string> ws;
      for (std::string x; in >> x;) ws.push_back(x);
      std::string q;
      for (int k = 0; k < 5; ++k) q += ws[r() % ws.size()] + " ";
      qs.push_back(q);
    }
    auto avg = [&](auto&& f) {
      auto t0 = Clock::now();
      for (auto& q : qs) f(q);
      return ms_since(t0) / static_cast<double>(qs.size());
    };
    using memory::VectorIndex;
    row.fts_ms = avg([&](const std::string& q) { memory::search(img, q, {}, 10); });
    std::vector<std::vector<float>> qv;
    for (auto& q : qs) qv.push_back(emb(q));
    std::vector<std::set<int64_t>> exact;
    std::vector<float> tenth;  // the 10th best similarity: a result at least this close ties with the exact list
    auto t0 = Clock::now();
    for (auto& v : qv) {
      std::set<int64_t> ids;
      auto best = memory::detail::nearest(img, v, emb.name, 10, VectorIndex::BruteForce);
      for (auto& [id, sim] : best) ids.insert(id);
      exact.push_back(ids);
      tenth.push_back(best.empty() ? 0.f : best.back().second);
    }
    row.scan_ms = ms_since(t0) / static_cast<double>(qv.size());
    t0 = Clock::now();
    memory::detail::nearest(img, qv[0], emb.name, 10, VectorIndex::Hnsw);  // builds the index
    row.hnsw_build_s = ms_since(t0) / 1000;
    size_t found = 0, total = 0, close = 0;
    t0 = Clock::now();
    for (size_t i = 0; i < qv.size(); ++i) {
      for (auto& [id, sim] : memory::detail::nearest(img, qv[i], emb.name, 10, VectorIndex::Hnsw)) {
        found += exact[i].count(id);
        close += sim >= tenth[i] - 1e-5f;
      }
      total += exact[i].size();
    }
    row.hnsw_ms = ms_since(t0) / static_cast<double>(qv.size());
    row.recall = total ? static_cast<double>(found) / static_cast<double>(total) : 0;
    row.recall_ties = total ? static_cast<double>(close) / static_cast<double>(total) : 0;
    memory::SearchOptions scan{.k = 10, .index = VectorIndex::BruteForce}, hnsw{.k = 10, .index = VectorIndex::Hnsw};
    row.fused_scan_ms = avg([&](const std::string& q) { memory::search(img, q, emb, scan); });
    row.fused_hnsw_ms = avg([&](const std::string& q) { memory::search(img, q, emb, hnsw); });
    rows.push_back(row);
    std::fprintf(stderr, "N=%zu done\n", n);
  }
  std::printf("memory search, dim %zu, %d queries, k=10 (ms per query; build once per process)\n", dim, queries);
  std::printf("%8s %8s %8s %10s %10s %10s %8s %8s %12s %12s %10s\n", "chunks", "add s", "fts ms", "scan ms", "hnsw ms",
              "build s", "recall", "r+ties", "fused+scan", "fused+hnsw", "scan/hnsw");
  for (auto& r : rows)
    std::printf("%8zu %8.2f %8.2f %10.2f %10.3f %10.2f %8.3f %8.3f %12.2f %12.2f %10.1f\n", r.n, r.add_s, r.fts_ms, r.scan_ms, r.hnsw_ms,
                r.hnsw_build_s, r.recall, r.recall_ties, r.fused_scan_ms, r.fused_hnsw_ms, r.scan_ms / r.hnsw_ms);
  std::error_code ec;
  fs::remove_all(dir, ec);
}
