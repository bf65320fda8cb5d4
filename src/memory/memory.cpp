// Memory: adding chunks with their embeddings, and fused full-text + vector search.
#include "memory/memory.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "image/image.h"
#include "llm/model_manager.h"
#include "memory/internal.h"
#include "memory/store.h"

namespace a4ps::memory {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::vector<float> embed_checked(const Embedder& emb, const std::string& text, const std::string& what) {
  std::vector<float> v;
  try {
    v = emb(text);
  } catch (const std::exception& e) {
    throw EmbedError("embedding " + what + " failed: " + e.what());
  }
  if (v.empty()) throw EmbedError("embedding " + what + " failed: the model returned an empty vector");
  for (float x : v)
    if (!std::isfinite(x)) throw EmbedError("embedding " + what + " failed: the model returned a non-finite value");
  return v;
}

}  // namespace

std::vector<int64_t> add_text(image::Image& img, std::string_view text, std::string_view source,
                              const Embedder& emb, const ChunkOptions& opts) {
  size_t bad = 0;
  if (!utf8_valid(text, &bad))
    throw Error("memory text from " + std::string(source) + " is not UTF-8 (invalid byte at offset " + std::to_string(bad) + "); convert it first");
  if (!utf8_valid(source)) throw Error("a memory source must be UTF-8 text");
  if (source.empty()) throw Error("a memory needs a source (a file path or a label)");
  std::vector<std::string> chunks = chunk_text(text, opts);
  if (chunks.empty()) throw Error("nothing to add from " + std::string(source) + ": the text is empty");

  // Embed first, outside the write transaction: model calls are slow and may fail, and
  // neither should hold the image's write lock or leave some chunks stored.
  std::vector<std::vector<float>> vecs;
  if (emb) {
    for (size_t i = 0; i < chunks.size(); ++i) {
      vecs.push_back(embed_checked(emb, chunks[i], "chunk " + std::to_string(i + 1) + " of " + std::to_string(chunks.size()) +
                                                       " of " + std::string(source)));
      if (vecs.back().size() != vecs.front().size())
        throw EmbedError("the embedder returned vectors of different sizes (" + std::to_string(vecs.front().size()) + " and " +
                         std::to_string(vecs.back().size()) + "); nothing was added");
    }
  }

  store::require(img);
  std::vector<int64_t> ids;
  image::Image::Tx tx(img);
  for (size_t i = 0; i < chunks.size(); ++i) {
    json meta = {{"source", source}, {"chunk", i}, {"chunks", chunks.size()}};
    if (emb) {
      meta["dim"] = vecs[i].size();
      meta["embedder"] = emb.name;
    }
    int64_t id = img.add_memory(chunks[i], source, meta);
    if (emb) store::set_embedding(img, id, detail::encode_vector(vecs[i]));
    ids.push_back(id);
  }
  tx.commit();
  return ids;
}

std::string read_text_file(const fs::path& path) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (!fs::exists(st)) throw Error("no file " + path.string() + "; pass the path of a text file");
  if (fs::is_directory(st)) throw Error(path.string() + " is a directory; pass the text files in it");
  std::string s = read_file(path);
  if (auto nul = s.find('\0'); nul != std::string::npos)
    throw Error(path.string() + " looks binary (a NUL byte at offset " + std::to_string(nul) +
                "); memory takes text files: convert it to text first");
  size_t bad = 0;
  if (!utf8_valid(s, &bad))
    throw Error(path.string() + " is not UTF-8 text (invalid byte at offset " + std::to_string(bad) +
                "); convert it first, e.g. with iconv -t UTF-8");
  return s;
}

std::vector<int64_t> add_file(image::Image& img, const fs::path& path, const Embedder& emb, const ChunkOptions& opts) {
  return add_text(img, read_text_file(path), path.string(), emb, opts);
}

int64_t count_vectors(const image::Image& img, std::string_view embedder_name) {
  return store::count_vectors(img, embedder_name);
}

std::vector<Hit> search(const image::Image& img, std::string_view query, const Embedder& emb, int k) {
  return search(img, query, emb, SearchOptions{.k = k});
}

// The user's words as an FTS5 query: each term quoted (so no word is an operator and no
// character is syntax), any of them may match; BM25 ranks rows that match more, rarer ones first.
std::string detail::fts_query(std::string_view q) {
  std::string out, term;
  int terms = 0;
  auto flush = [&] {
    if (!term.empty() && terms < 64) {
      out += (out.empty() ? "\"" : " OR \"") + term + "\"";
      ++terms;
    }
    term.clear();
  };
  for (char c : q) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80 || c == '_') term += c;
    else flush();
  }
  flush();
  return out;
}

std::vector<Hit> search(const image::Image& img, std::string_view query, const Embedder& emb, const SearchOptions& o) {
  return detail::search(img, query, emb, o, detail::FtsRanking::TopK);
}

std::vector<Hit> detail::search(const image::Image& img, std::string_view query, const Embedder& emb, const SearchOptions& o,
                                FtsRanking ranking) {
  if (o.k <= 0) return {};
  if (!utf8_valid(query)) throw Error("the search query is not UTF-8 text");
  store::require(img);
  store::Snapshot snapshot(img);
  int n = std::max(o.candidates, o.k);

  std::vector<int64_t> fts;
  if (std::string fq = detail::fts_query(query); !fq.empty()) {
    if (ranking == FtsRanking::TopK) fts = store::fts_ids(img, fq, n);
    else
      for (const store::FtsHit& h : store::fts_top_sorted(img, fq, n)) fts.push_back(h.id);
  }
  std::vector<std::pair<int64_t, float>> vec;
  // (has_vectors stops at the first row: no scan of a large memory per search)
  if (emb && !query.empty() && store::has_vectors(img, emb.name)) {
    auto q = embed_checked(emb, std::string(query), "the query");
    vec = detail::nearest(img, q, emb.name, n, o.index);
  }

  // Reciprocal rank fusion: each list votes 1 / (rrf_k + rank); no score scales to reconcile.
  std::map<int64_t, Hit> by_id;
  for (size_t i = 0; i < fts.size(); ++i) {
    Hit& h = by_id[fts[i]];
    h.id = fts[i];
    h.fts_rank = static_cast<int>(i + 1);
    h.score += 1.0 / (o.rrf_k + i + 1);
  }
  for (size_t i = 0; i < vec.size(); ++i) {
    Hit& h = by_id[vec[i].first];
    h.id = vec[i].first;
    h.vec_rank = static_cast<int>(i + 1);
    h.score += 1.0 / (o.rrf_k + i + 1);
  }
  std::vector<Hit> hits;
  for (auto& [id, h] : by_id) hits.push_back(std::move(h));
  std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.id < b.id;
  });
  if (hits.size() > static_cast<size_t>(o.k)) hits.resize(static_cast<size_t>(o.k));
  store::fill_texts(img, hits);
  return hits;
}

std::vector<SourceSummary> sources(const image::Image& img) { return store::sources(img); }

void note_use(image::Image& img, const std::vector<Hit>& hits) {
  if (hits.empty()) return;
  std::vector<int64_t> ids;
  for (auto& h : hits) ids.push_back(h.id);
  image::Image::Tx tx(img);
  store::mark_used(img, ids, now_utc());
  tx.commit();
}

std::map<std::string, SourceUse> source_use(const image::Image& img) { return store::use_by_source(img); }

namespace {

// Names a GGUF by its size and the hash of its first and last MiB: cheap for a multi-GB
// file, and different weights (or a different tokenizer) give a different name.
std::string gguf_fingerprint(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw Error("model " + p.string() + " not found; pass the path of a GGUF file");
  f.seekg(0, std::ios::end);
  auto size = static_cast<uint64_t>(f.tellg());
  const uint64_t mib = 1 << 20;
  std::string head(std::min(size, mib), '\0'), tail(std::min(size, mib), '\0');
  f.seekg(0);
  f.read(head.data(), static_cast<std::streamsize>(head.size()));
  f.seekg(static_cast<std::streamoff>(size - tail.size()));
  f.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  if (!f) throw Error("could not read model " + p.string());
  Sha256 h;
  h.update(std::to_string(size)).update(head).update(tail);
  return h.hex().substr(0, 16);
}

bool has_prefix(const std::string& s, std::string_view p) { return s.compare(0, p.size(), p) == 0; }

}  // namespace

Embedder model_embedder(const std::string& spec, llm::ModelManager& mm) {
  if (spec.empty()) return {};
  if (!has_prefix(spec, "ollama:") && !has_prefix(spec, "openai:") && !has_prefix(spec, "scripted:")) {
    fs::path path = spec;
    std::string name = "gguf:" + gguf_fingerprint(path);
    return Embedder([&mm, path](const std::string& text) { return mm.embed(llm::Persona{"BABS", path, {}}, text); }, name);
  }
  std::shared_ptr<llm::Backend> b = llm::open_backend(spec, mm, llm::Persona{"BABS", {}, {}});
  return Embedder([b](const std::string& text) { return b->embed(text); }, spec);
}

}  // namespace a4ps::memory
