// The public memory API: remember and recall, over the image's chunked, ranked memory.
#include "a4ps/memory.h"

#include "api/internal.h"
#include "llm/model_manager.h"
#include "memory/memory.h"

namespace a4ps {

int remember(Image& image, const std::string& text, const std::string& source, const MemoryOptions& o) {
  llm::ModelManager mm;
  auto ids = memory::add_text(image.impl().img, text, source, memory::model_embedder(o.embed_model, mm));
  return static_cast<int>(ids.size());
}

std::vector<Recollection> recall(const Image& image, const std::string& query, int k, const MemoryOptions& o) {
  llm::ModelManager mm;
  std::vector<Recollection> out;
  for (auto& h : memory::search(image.impl().img, query, memory::model_embedder(o.embed_model, mm), k))
    out.push_back({h.source, h.text, h.score});
  return out;
}

}  // namespace a4ps
