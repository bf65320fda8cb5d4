// The image's memory: texts cut into passages, found again by full-text and vector
// search (BABS's retrieval). Adding is one transaction: a failure leaves nothing.
#pragma once
#include <cstdint>
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

}  // namespace a4ps
