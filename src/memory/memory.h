// Memory: text chunks in the image, found again by full-text search (FTS5, BM25) and by
// embedding similarity, the two rankings fused (reciprocal rank fusion). BABS's retrieval.
//
//   auto emb = memory::model_embedder(spec, mm);          // or {} for full-text only
//   memory::add_file(img, "notes.md", emb);
//   for (auto& h : memory::search(img, "what did we decide about X", emb)) ...
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "util/util.h"

namespace a4ps::image {
class Image;
}
namespace a4ps::llm {
class ModelManager;
}

namespace a4ps::memory {

// Text -> vector. name identifies the model: stored vectors are compared only with vectors
// of the same name and dimension. An empty Embedder means full-text search only.
// Any callable converts to one (name ""), so a plain lambda works where a name is not needed.
struct Embedder {
  std::function<std::vector<float>(const std::string&)> fn;
  std::string name;

  Embedder() = default;
  Embedder(std::nullptr_t) {}
  template <class F>
    requires std::is_invocable_r_v<std::vector<float>, F, const std::string&>
  Embedder(F f, std::string name = "") : fn(std::move(f)), name(std::move(name)) {}  // an empty std::function stays empty
  explicit operator bool() const { return static_cast<bool>(fn); }
  std::vector<float> operator()(const std::string& text) const { return fn(text); }
};

// An embedding failed (the model, not the input): nothing was stored.
class EmbedError : public Error {
 public:
  using Error::Error;
};

// Sizes are in bytes of UTF-8; chunks never split a character.
struct ChunkOptions {
  size_t max_chars = 1200;
  size_t overlap = 200;  // text repeated at the start of the next chunk, so no fact is cut in two
};

// Splits text at paragraph breaks, else sentence ends, else spaces, else characters.
// Throws Error when overlap >= max_chars or max_chars < 16.
std::vector<std::string> chunk_text(std::string_view text, const ChunkOptions& opts = {});

// Adds text as chunks, all in one transaction: each chunk is a memory (logged as a
// memory.added event) with its embedding when emb is set (float32 little-endian) and meta
// {"source", "chunk", "chunks", "dim", "embedder"}. Embeddings are computed before the
// transaction opens; if one fails (EmbedError) or the text is empty or not UTF-8 (Error),
// nothing is stored. Returns the new memory ids in order.
std::vector<int64_t> add_text(image::Image& img, std::string_view text, std::string_view source,
                              const Embedder& emb, const ChunkOptions& opts = {});

// A text file's contents; throws Error (one line, with what to do) for a missing file, a
// directory, a binary file (a NUL byte) or one that is not UTF-8.
std::string read_text_file(const std::filesystem::path& path);
// read_text_file + add_text, with the path as the source.
std::vector<int64_t> add_file(image::Image& img, const std::filesystem::path& path,
                              const Embedder& emb, const ChunkOptions& opts = {});

struct Hit {
  int64_t id = 0;
  std::string source;
  std::string text;
  double score = 0;  // reciprocal rank fusion: sum of 1 / (rrf_k + rank) over the lists
  int fts_rank = 0;  // 1-based rank in the full-text list; 0: not found by it
  int vec_rank = 0;  // 1-based rank in the vector list; 0: not found by it (or no vectors)
};

enum class VectorIndex {
  Auto,        // Quantized once an embedder has kIndexMinVectors vectors (or its index is built), else brute force
  BruteForce,  // exact: scan every stored vector (best for one-shot processes, e.g. the CLI)
  Hnsw,        // approximate graph (hnswlib); built on first use and kept for the process
  Quantized,   // an int8 copy of the vectors scanned in full, the best candidates re-ranked
               // exactly; built on first use (as fast as the vectors are read) and kept for the process
};
inline constexpr size_t kIndexMinVectors = 20000;  // see bench/memory_search.cpp

struct SearchOptions {
  int k = 5;
  int candidates = 50;  // taken from each list before fusing
  int rrf_k = 60;
  VectorIndex index = VectorIndex::Auto;
};

// The k best memories for a query. Any query string is safe (terms are quoted for FTS5).
// With an embedder, the query is embedded only when the image holds vectors of its name.
// Works on an image opened read-only. An embedding failure throws EmbedError.
std::vector<Hit> search(const image::Image& img, std::string_view query, const Embedder& emb,
                        const SearchOptions& opts);
std::vector<Hit> search(const image::Image& img, std::string_view query, const Embedder& emb, int k = 5);

// Stored vectors made by the embedder called name ("" counts every stored vector).
int64_t count_vectors(const image::Image& img, std::string_view embedder_name = {});

struct SourceSummary {
  std::string source;
  int64_t chunks = 0, bytes = 0, embedded = 0;
  std::string embedder;  // of its latest chunk
  std::string added_at;  // latest
};
std::vector<SourceSummary> sources(const image::Image& img);  // in order of first addition

// Memory use: a search's hits that reached a persona's prompt count as used (one use per
// hit, stamped now). Sources never used are what live mode asks about.
struct SourceUse {
  int64_t uses = 0;
  std::string last_used;  // "" never
};
void note_use(image::Image& img, const std::vector<Hit>& hits);
std::map<std::string, SourceUse> source_use(const image::Image& img);  // by source; unused ones absent

// An embedder for a model spec as --model takes it: a GGUF path runs llama.cpp through mm
// (named by a fingerprint of the file); ollama:/openai: specs ask their server (named by
// the spec). Nothing is loaded or contacted until the first call. An empty spec gives an
// empty Embedder. mm must outlive the result.
Embedder model_embedder(const std::string& spec, llm::ModelManager& mm);

}  // namespace a4ps::memory
