// The public memory API: remember and recall, over the image's chunked, ranked memory;
// and what `a4ps memory add | search | ls` do, with their choice of embedding model.
#include "a4ps/memory.h"

#include "api/internal.h"
#include "image/image.h"
#include "llm/model_manager.h"
#include "memory/memory.h"
#include "persona/agent.h"

namespace a4ps {
namespace {

void notice(const std::function<void(const std::string&)>& on_notice, const std::string& why) {
  if (on_notice) on_notice("memory: no embeddings (" + why + "); using full-text search only");
}

// The embedder for the chosen model, or an empty one (with a notice) when there is none
// or, with probe, when it cannot embed.
memory::Embedder embedder_for(const image::Image& img, const std::string& flag, llm::ModelManager& mm, bool probe,
                              const std::function<void(const std::string&)>& on_notice) {
  std::string spec = persona::choose_model(img, flag);
  if (spec.empty()) {
    notice(on_notice, "no model: pass --model, set $A4PS_MODEL or the image's model setting");
    return {};
  }
  memory::Embedder e = memory::model_embedder(spec, mm);
  if (probe) {
    try {
      e("probe");
    } catch (const std::exception& x) {
      notice(on_notice, x.what());
      return {};
    }
  }
  return e;
}

}  // namespace

int remember(Image& image, const std::string& text, const std::string& source, const MemoryOptions& o) {
  llm::ModelManager mm;
  auto ids = memory::add_text(writable(image), text, source, memory::model_embedder(o.embed_model, mm));
  return static_cast<int>(ids.size());
}

std::vector<Recollection> recall(const Image& image, const std::string& query, int k, const MemoryOptions& o) {
  llm::ModelManager mm;
  std::vector<Recollection> out;
  for (auto& h : memory::search(image.impl().img, query, memory::model_embedder(o.embed_model, mm), k))
    out.push_back({h.source, h.text, h.score});
  return out;
}

std::vector<MemoryDocument> memory_documents(const std::vector<std::string>& files, const std::vector<MemoryDocument>& texts,
                                             const MemoryAddOptions& o) {
  if (files.empty() && texts.empty()) throw Error("nothing to add: pass text files or --text TEXT");
  memory::ChunkOptions co{o.max_chars, o.overlap};
  std::vector<MemoryDocument> docs;
  for (auto& f : files) docs.push_back({f, memory::read_text_file(f)});
  for (auto& t : texts) docs.push_back({t.source.empty() ? "text" : t.source, t.text});
  for (auto& d : docs)
    if (memory::chunk_text(d.text, co).empty()) throw Error("nothing to add from " + d.source + ": the text is empty");
  return docs;
}

MemoryAdded add_memories(Image& image, const std::vector<MemoryDocument>& docs, const MemoryAddOptions& o) {
  if (docs.empty()) throw Error("nothing to add: pass text files or --text TEXT");
  image::Image& img = writable(image);
  memory::ChunkOptions co{o.max_chars, o.overlap};
  llm::ModelManager mm;
  memory::Embedder emb = embedder_for(img, o.model, mm, true, o.on_notice);
  MemoryAdded out;
  image::Image::Tx tx(img);  // all of it or nothing
  for (auto& d : docs) {
    auto ids = memory::add_text(img, d.text, d.source, emb, co);
    out.chunks += static_cast<int64_t>(ids.size());
    out.sources.push_back({d.source, std::move(ids)});
  }
  tx.commit();
  out.embedder = emb ? emb.name : "";
  return out;
}

std::vector<MemoryHit> search_memory(const Image& image, const std::string& query, const MemorySearchOptions& o) {
  if (o.k < 1) throw Error("ask for at least one result (k >= 1)");
  const image::Image& img = image.impl().img;
  llm::ModelManager mm;
  memory::Embedder emb = embedder_for(img, o.model, mm, false, o.on_notice);
  if (emb && memory::count_vectors(img, emb.name) == 0) {
    notice(o.on_notice, memory::count_vectors(img) ? "the stored vectors come from another model" : "none stored in this image");
    emb = {};
  }
  // One search per call: scanning the vectors once costs less than building an index.
  memory::SearchOptions so{.k = o.k, .index = memory::VectorIndex::BruteForce};
  std::vector<memory::Hit> hits;
  try {
    hits = memory::search(img, query, emb, so);
  } catch (const memory::EmbedError& e) {
    notice(o.on_notice, e.what());
    hits = memory::search(img, query, {}, so);
  }
  std::vector<MemoryHit> out;
  for (auto& h : hits) out.push_back({h.id, h.source, h.text, h.score, h.fts_rank, h.vec_rank});
  return out;
}

std::vector<MemorySource> memory_sources(const Image& image) {
  std::vector<MemorySource> out;
  auto use = memory::source_use(image.impl().img);
  for (auto& s : memory::sources(image.impl().img)) {
    out.push_back({s.source, s.chunks, s.bytes, s.embedded, s.embedder, s.added_at});
    if (auto u = use.find(s.source); u != use.end()) out.back().uses = u->second.uses, out.back().last_used = u->second.last_used;
  }
  return out;
}

}  // namespace a4ps
