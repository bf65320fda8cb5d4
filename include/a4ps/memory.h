// The image's memory: texts cut into passages, found again by full-text and vector
// search (BABS's retrieval). Adding is one transaction: a failure leaves nothing.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "a4ps/image.h"

namespace a4ps {

struct MemoryOptions {
  std::string embed_model;  // a GGUF that embeds the passages; "" = full-text search only
};

// Remembers `text` under `source` (a name a person recognises); returns the passages made.
int remember(Image& image, const std::string& text, const std::string& source, const MemoryOptions& options = {});

struct Recollection {
  std::string source, text;
  double score = 0;
};
std::vector<Recollection> recall(const Image& image, const std::string& query, int k = 5,
                                 const MemoryOptions& options = {});

// ---- what `a4ps memory add | search | ls` do ---------------------------------------
// The embedding model, as the CLI chooses it: `model`, else $A4PS_MODEL, the image's
// "model" setting, its base model. A model that cannot embed is not an error: the text
// is still added (and searched) full-text, and on_notice says why, in one line.
struct MemoryAddOptions {
  std::string model;
  size_t max_chars = 1200;  // chunk size in bytes of UTF-8
  size_t overlap = 200;     // bytes repeated between chunks
  std::function<void(const std::string& line)> on_notice;
};

struct MemoryDocument {
  std::string source, text;
};
// Reads text files and takes texts as documents, checking all of them (UTF-8, not empty,
// chunkable) before an image is touched. Throws Error naming the file or source.
std::vector<MemoryDocument> memory_documents(const std::vector<std::string>& files,
                                             const std::vector<MemoryDocument>& texts,
                                             const MemoryAddOptions& options = {});

struct MemoryAdded {
  struct Source {
    std::string source;
    std::vector<int64_t> ids;  // the new memories, one per chunk
  };
  std::vector<Source> sources;
  int64_t chunks = 0;
  std::string embedder;  // the model that embedded them; "" = full-text only
};
// Adds the documents in one transaction: all of them or nothing.
MemoryAdded add_memories(Image& image, const std::vector<MemoryDocument>& documents, const MemoryAddOptions& options = {});

struct MemorySearchOptions {
  int k = 5;
  std::string model;  // as MemoryAddOptions; must be the model the memories were embedded with
  std::function<void(const std::string& line)> on_notice;  // why the search is full-text only
};
struct MemoryHit {
  int64_t id = 0;
  std::string source, text;
  double score = 0;  // reciprocal rank fusion of the two rankings
  int fts_rank = 0;  // 1-based rank in the full-text list (0: not found by it)
  int vec_rank = 0;  // 1-based rank in the vector list (0: not found by it)
};
// The memories that best match `query`: full-text BM25 and embeddings, fused.
std::vector<MemoryHit> search_memory(const Image& image, const std::string& query, const MemorySearchOptions& options = {});

struct MemorySource {
  std::string source;
  int64_t chunks = 0, bytes = 0, embedded = 0;
  std::string embedder;  // of its newest chunk
  std::string added_at;  // newest
  int64_t uses = 0;       // times its passages reached a persona's prompt (BABS's recall)
  std::string last_used;  // "" never
};
std::vector<MemorySource> memory_sources(const Image& image);  // in order of first addition

}  // namespace a4ps
