// a4ps memory add | search | ls: what BABS retrieves from.
#include <sstream>

#include "cli.h"
#include "image/image.h"
#include "llm/model_manager.h"
#include "memory/memory.h"
#include "util/util.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

// One line of a chunk for a listing: whitespace folded, cut at a character boundary.
std::string snippet(const std::string& s, size_t max = 100) {
  std::string out;
  for (char c : s) {
    bool sp = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (sp && (out.empty() || out.back() == ' ')) continue;
    out += sp ? ' ' : c;
  }
  return utf8_clip(out, max, "...");
}

void no_embeddings(const std::string& why) {
  std::cerr << "memory: no embeddings (" << why << "); using full-text search only\n";
}

// The embedder for the chosen model, or an empty one (said on stderr) when it cannot embed.
memory::Embedder embedder_for(const image::Image& img, const std::string& flag, llm::ModelManager& mm, bool probe) {
  std::string spec = chosen_model(img, flag);
  if (spec.empty()) {
    no_embeddings("no model: pass --model, set $A4PS_MODEL or the image's model setting");
    return {};
  }
  memory::Embedder e = memory::model_embedder(spec, mm);
  if (probe) {
    try {
      e("probe");
    } catch (const std::exception& x) {
      no_embeddings(x.what());
      return {};
    }
  }
  return e;
}

}  // namespace

void add_memory_commands(CLI::App& app, Globals& g) {
  static std::string path, text, source, model, query;
  static std::vector<std::string> files;
  static int k = 5;
  static size_t max_chars = memory::ChunkOptions{}.max_chars, overlap = memory::ChunkOptions{}.overlap;
  auto* m = sub(&app, "memory", "the agent's memories: add text, search them");
  m->require_subcommand(1);
  {
    auto* c = sub(m, "add", "add text files and/or --text as chunks (with embeddings when a model is set)");
    c->add_option("image", path, "image file")->required();
    c->add_option("files", files, "text files (UTF-8)");
    c->add_option("--text", text, "text to add");
    c->add_option("--source", source, "source label for --text (default: \"text\")");
    c->add_option("--model", model, "embedding model: GGUF path, ollama:NAME or openai:URL#MODEL (default: the image's)");
    c->add_option("--max-chars", max_chars, "chunk size in bytes");
    c->add_option("--overlap", overlap, "bytes repeated between chunks");
    c->callback([&g] {
      if (files.empty() && text.empty()) throw Error("nothing to add: pass text files or --text TEXT");
      memory::ChunkOptions co{max_chars, overlap};
      // Everything is read and checked before the image is touched.
      std::vector<std::pair<std::string, std::string>> docs;  // (source, text)
      for (auto& f : files) docs.emplace_back(f, memory::read_text_file(f));
      if (!text.empty()) docs.emplace_back(source.empty() ? "text" : source, text);
      for (auto& [src, t] : docs)
        if (memory::chunk_text(t, co).empty()) throw Error("nothing to add from " + src + ": the text is empty");
      auto img = open_guarded(path);
      llm::ModelManager mm;
      memory::Embedder emb = embedder_for(img, model, mm, true);
      json added = json::array();
      std::ostringstream o;
      int64_t total = 0;
      {
        image::Image::Tx tx(img);  // all of it or nothing
        for (auto& [src, t] : docs) {
          auto ids = memory::add_text(img, t, src, emb, co);
          added.push_back({{"source", src}, {"ids", ids}, {"chunks", ids.size()}});
          o << src << ": " << ids.size() << (ids.size() == 1 ? " chunk\n" : " chunks\n");
          total += static_cast<int64_t>(ids.size());
        }
        tx.commit();
      }
      json j = {{"added", added}, {"chunks", total}, {"embedder", emb ? json(emb.name) : json(nullptr)}};
      o << "added " << total << " chunks" << (emb ? " with embeddings (" + emb.name + ")" : " (full-text only)") << "\n";
      emit(g, j, o.str());
    });
  }
  {
    auto* c = sub(m, "search", "the memories that best match a query (full-text BM25 + embeddings, fused)");
    c->add_option("image", path, "image file")->required();
    c->add_option("query", query, "what to look for")->required();
    c->add_option("-k", k, "how many results")->check(CLI::Range(1, 1000));
    c->add_option("--model", model, "embedding model (default: the image's); must be the one the memories were added with");
    c->callback([&g] {
      auto img = image::Image::open(path, {.read_only = true});
      llm::ModelManager mm;
      memory::Embedder emb = embedder_for(img, model, mm, false);
      if (emb && memory::count_vectors(img, emb.name) == 0) {
        no_embeddings(memory::count_vectors(img) ? "the stored vectors come from another model" : "none stored in this image");
        emb = {};
      }
      // A one-shot process: scanning the vectors once costs less than building an index.
      memory::SearchOptions so{.k = k, .index = memory::VectorIndex::BruteForce};
      std::vector<memory::Hit> hits;
      try {
        hits = memory::search(img, query, emb, so);
      } catch (const memory::EmbedError& e) {
        no_embeddings(e.what());
        hits = memory::search(img, query, {}, so);
      }
      json j = json::array();
      std::ostringstream o;
      for (size_t i = 0; i < hits.size(); ++i) {
        auto& h = hits[i];
        j.push_back({{"rank", i + 1}, {"id", h.id}, {"score", h.score}, {"source", h.source}, {"text", h.text},
                     {"fts_rank", h.fts_rank}, {"vec_rank", h.vec_rank}});
        char score[32];
        std::snprintf(score, sizeof score, "%.4f", h.score);
        o << i + 1 << ". " << score << "  " << h.source << " #" << h.id << "  (text " << (h.fts_rank ? "#" + std::to_string(h.fts_rank) : "-")
          << ", vector " << (h.vec_rank ? "#" + std::to_string(h.vec_rank) : "-") << ")\n   " << snippet(h.text) << "\n";
      }
      emit(g, j, hits.empty() ? "no memories match\n" : o.str());
    });
  }
  {
    auto* c = sub(m, "ls", "memories by source");
    c->add_option("image", path, "image file")->required();
    c->callback([&g] {
      auto img = image::Image::open(path, {.read_only = true});
      json j = json::array();
      std::ostringstream o;
      for (auto& s : memory::sources(img)) {
        j.push_back({{"source", s.source}, {"chunks", s.chunks}, {"bytes", s.bytes}, {"embedded", s.embedded},
                     {"embedder", s.embedder}, {"added_at", s.added_at}});
        o << s.source << "  " << s.chunks << (s.chunks == 1 ? " chunk  " : " chunks  ") << human_bytes(static_cast<uint64_t>(s.bytes))
          << "  " << (s.embedded ? std::to_string(s.embedded) + " embedded (" + s.embedder + ")" : "text only") << "  " << s.added_at << "\n";
      }
      emit(g, j, j.empty() ? "no memories yet (add some with `a4ps memory add`)\n" : o.str());
    });
  }
}

}  // namespace a4ps::cli
