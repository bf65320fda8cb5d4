// Memory search latency as the memory grows: full text alone (FTS5 BM25), vectors by exact
// scan, by HNSW (hnswlib) and by the quantized scan, and the fused search(), each before
// (FTS5's ORDER BY rank over every match, HNSW as Auto used it) and after (the top-k
// ranking, the quantized index) in the same run, alternating query by query.
//
// The corpus is synthetic and deterministic: documents of words drawn from a Zipf-like
// vocabulary, embedded by a FAKE embedder (a signed random projection of the bag of words,
// so documents sharing words have similar vectors: structure an index can exploit, like
// real embeddings, but no meaning). Queries are 5 words taken from a random document.
// --corpus clustered draws half of each document's words from one of 200 topics instead.
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
#include "memory/store.h"

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
  double add_s = 0, fts_before_ms = 0, fts_after_ms = 0, fts_same = 0, rows = 0, scored = 0, scan_ms = 0;
  double hnsw_build_s = 0, hnsw_ms = 0, hnsw_recall = 0, hnsw_ties = 0;
  double quant_build_s = 0, quant_ms = 0, quant_recall = 0, quant_ties = 0;
  double fused_scan_ms = 0, fused_before_ms = 0, fused_after_ms = 0, fused_topk_hnsw_ms = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes = {1000, 10000, 50000};
  size_t dim = 384;
  int queries = 20;
  fs::path base = "/tmp";
  bool clustered = false;
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
    else if (a == "--corpus" && i + 1 < argc && (std::string(argv[i + 1]) == "zipf" || std::string(argv[i + 1]) == "clustered"))
      clustered = next() == "clustered";
    else {
      std::fprintf(stderr, "usage: bench_memory_search [--sizes 1000,10000,50000] [--dim 384] [--queries 20] [--dir DIR] [--corpus zipf|clustered]\n");
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
    // --corpus clustered (extra information, not the target): 200 topics of 60 words each
    // (drawn from past the 200 most frequent), every other word of a document from its topic.
    std::vector<std::vector<size_t>> topics(clustered ? 200 : 0);
    for (auto& t : topics)
      for (int k = 0; k < 60; ++k) t.push_back(200 + r() % (vocab.size() - 200));
    std::vector<std::string> docs;
    for (size_t d = 0; d < n; ++d) {
      std::string s;
      const std::vector<size_t>* topic = clustered ? &topics[r() % topics.size()] : nullptr;
      for (int k = 0; k < 40; ++k)
        s += vocab[topic && k % 2 == 0 ? (*topic)[r() % topic->size()] : pick(r)] + (k % 10 == 9 ? ". " : " ");
      docs.push_back(s);
    }
    auto img = image::Image::create(dir / ("m" + std::to_string(n) + ".a4ps"), {.sync = image::Sync::Normal});
    auto t = Clock::now();
    for (size_t d = 0; d < n; d += 1000) {
      image::Image::Tx tx(img);
      for (size_t e = d; e < std::min(n, d + 1000); ++e) memory::add_text(img, docs[e], "doc" + std::to_string(e), emb);
      tx.commit();
    }
    Row row{n};
    row.add_s = ms_since(t) / 1000;
    std::vector<std::string> qs;
    for (int i = 0; i < queries; ++i) {
      std::istringstream in(docs[r() % n]);
      std::vector<std::string> ws;
      for (std::string x; in >> x;) ws.push_back(x);
      std::string q;
      for (int k = 0; k < 5; ++k) q += ws[r() % ws.size()] + " ";
      qs.push_back(q);
    }
    // Before and after alternate query by query, so both see the same machine load.
    auto pair_avg = [&](auto&& before, auto&& after, double& before_ms, double& after_ms) {
      for (auto& q : qs) {
        auto t0 = Clock::now();
        before(q);
        before_ms += ms_since(t0);
        t0 = Clock::now();
        after(q);
        after_ms += ms_since(t0);
      }
      before_ms /= static_cast<double>(qs.size());
      after_ms /= static_cast<double>(qs.size());
    };
    using memory::VectorIndex;
    using memory::detail::FtsRanking;
    memory::SearchOptions fts_only{.k = 10};
    pair_avg([&](const std::string& q) { memory::detail::search(img, q, {}, fts_only, FtsRanking::SortAll); },
             [&](const std::string& q) { memory::detail::search(img, q, {}, fts_only, FtsRanking::TopK); }, row.fts_before_ms,
             row.fts_after_ms);
    // The two rankings give the same list: the 50 candidates search() takes, ranks and ids.
    for (auto& q : qs) {
      std::string fq = memory::detail::fts_query(q);
      memory::store::FtsStats st;
      auto top = memory::store::fts_top(img, fq, 50, &st);
      row.fts_same += top == memory::store::fts_top_sorted(img, fq, 50);
      row.rows += static_cast<double>(st.rows);
      row.scored += static_cast<double>(st.scored);
    }
    row.fts_same /= static_cast<double>(qs.size());
    row.rows /= static_cast<double>(qs.size());
    row.scored /= static_cast<double>(qs.size());

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
    // One index: its build (the first search) and its search time and recall@10.
    auto index = [&](VectorIndex kind, double& build_s, double& ms, double& recall, double& ties) {
      auto t1 = Clock::now();
      memory::detail::nearest(img, qv[0], emb.name, 10, kind);  // builds the index
      build_s = ms_since(t1) / 1000;
      size_t found = 0, total = 0, close = 0;
      t1 = Clock::now();
      for (size_t i = 0; i < qv.size(); ++i) {
        for (auto& [id, sim] : memory::detail::nearest(img, qv[i], emb.name, 10, kind)) {
          found += exact[i].count(id);
          close += sim >= tenth[i] - 1e-5f;
        }
        total += exact[i].size();
      }
      ms = ms_since(t1) / static_cast<double>(qv.size());
      recall = total ? static_cast<double>(found) / static_cast<double>(total) : 0;
      ties = total ? static_cast<double>(close) / static_cast<double>(total) : 0;
    };
    index(VectorIndex::Hnsw, row.hnsw_build_s, row.hnsw_ms, row.hnsw_recall, row.hnsw_ties);
    index(VectorIndex::Quantized, row.quant_build_s, row.quant_ms, row.quant_recall, row.quant_ties);
    memory::SearchOptions scan{.k = 10, .index = VectorIndex::BruteForce}, hnsw{.k = 10, .index = VectorIndex::Hnsw},
        quant{.k = 10, .index = VectorIndex::Quantized};
    t0 = Clock::now();
    for (auto& q : qs) memory::search(img, q, emb, scan);
    row.fused_scan_ms = ms_since(t0) / static_cast<double>(qs.size());
    pair_avg([&](const std::string& q) { memory::detail::search(img, q, emb, hnsw, FtsRanking::SortAll); },
             [&](const std::string& q) { memory::detail::search(img, q, emb, quant, FtsRanking::TopK); }, row.fused_before_ms,
             row.fused_after_ms);
    t0 = Clock::now();  // the new full text with HNSW, for comparison
    for (auto& q : qs) memory::detail::search(img, q, emb, hnsw, FtsRanking::TopK);
    row.fused_topk_hnsw_ms = ms_since(t0) / static_cast<double>(qs.size());
    rows.push_back(row);
    std::fprintf(stderr, "N=%zu done\n", n);
  }
  std::printf("memory search, %s corpus, dim %zu, %d queries, k=10 (ms per query; indexes built once per process)\n",
              clustered ? "clustered" : "zipf", dim, queries);
  std::printf("before: FTS5 ORDER BY rank over every match, HNSW (M 16, ef_construction 100, ef 400); after: top-k BM25, quantized scan\n\n");
  std::printf("full text alone:\n%8s %8s %10s %10s %7s %8s %9s\n", "chunks", "add s", "before ms", "after ms", "ratio", "matched", "scored");
  for (auto& r : rows)
    std::printf("%8zu %8.2f %10.2f %10.2f %7.1f %8.0f %9.0f\n", r.n, r.add_s, r.fts_before_ms, r.fts_after_ms, r.fts_before_ms / r.fts_after_ms,
                r.rows, r.scored);
  std::printf("(same top 50 as before, ranks and ids: %s)\n\n", std::all_of(rows.begin(), rows.end(), [](auto& r) { return r.fts_same == 1; }) ? "every query" : "NOT ALWAYS");
  std::printf("vectors (recall@10 against the exact scan; r+ties also counts a result as close as the 10th):\n");
  std::printf("%8s %8s | %8s %8s %7s %7s | %8s %8s %7s %7s\n", "chunks", "scan ms", "hnsw ms", "build s", "recall", "r+ties", "quant ms",
              "build s", "recall", "r+ties");
  for (auto& r : rows)
    std::printf("%8zu %8.2f | %8.3f %8.2f %7.3f %7.3f | %8.3f %8.2f %7.3f %7.3f\n", r.n, r.scan_ms, r.hnsw_ms, r.hnsw_build_s, r.hnsw_recall,
                r.hnsw_ties, r.quant_ms, r.quant_build_s, r.quant_recall, r.quant_ties);
  std::printf("\nfused search():\n%8s %11s %11s %11s %7s %14s\n", "chunks", "scan ms", "before ms", "after ms", "ratio", "top-k+hnsw ms");
  for (auto& r : rows)
    std::printf("%8zu %11.2f %11.2f %11.2f %7.1f %14.2f\n", r.n, r.fused_scan_ms, r.fused_before_ms, r.fused_after_ms,
                r.fused_before_ms / r.fused_after_ms, r.fused_topk_hnsw_ms);
  std::error_code ec;
  fs::remove_all(dir, ec);
}
