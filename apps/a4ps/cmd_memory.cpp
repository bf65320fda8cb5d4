// a4ps memory add | search | ls: what BABS retrieves from.
#include <cstdio>
#include <sstream>

#include "a4ps/memory.h"
#include "a4ps/text.h"
#include "cli.h"

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
  return clip_text(out, max, "...");
}

void to_stderr(const std::string& line) { std::cerr << line << "\n"; }

}  // namespace

void add_memory_commands(CLI::App& app, Globals& g) {
  static std::string path, text, source, model, query;
  static std::vector<std::string> files;
  static int k = 5;
  static size_t max_chars = MemoryAddOptions{}.max_chars, overlap = MemoryAddOptions{}.overlap;
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
      MemoryAddOptions o{.model = model, .max_chars = max_chars, .overlap = overlap, .on_notice = to_stderr};
      std::vector<MemoryDocument> texts;
      if (!text.empty()) texts.push_back({source, text});
      auto docs = memory_documents(files, texts, o);  // everything read and checked before the image is touched
      auto img = Image::open(path, {.create_if_missing = false});
      auto r = add_memories(img, docs, o);
      json added = json::array();
      std::ostringstream out;
      for (auto& s : r.sources) {
        added.push_back({{"source", s.source}, {"ids", s.ids}, {"chunks", s.ids.size()}});
        out << s.source << ": " << s.ids.size() << (s.ids.size() == 1 ? " chunk\n" : " chunks\n");
      }
      json j = {{"added", added}, {"chunks", r.chunks}, {"embedder", r.embedder.empty() ? json(nullptr) : json(r.embedder)}};
      out << "added " << r.chunks << " chunks" << (r.embedder.empty() ? " (full-text only)" : " with embeddings (" + r.embedder + ")") << "\n";
      emit(g, j, out.str());
    });
  }
  {
    auto* c = sub(m, "search", "the memories that best match a query (full-text BM25 + embeddings, fused)");
    c->add_option("image", path, "image file")->required();
    c->add_option("query", query, "what to look for")->required();
    c->add_option("-k", k, "how many results")->check(CLI::Range(1, 1000));
    c->add_option("--model", model, "embedding model (default: the image's); must be the one the memories were added with");
    c->callback([&g] {
      auto img = Image::open(path, {.create_if_missing = false, .read_only = true});
      auto hits = search_memory(img, query, {.k = k, .model = model, .on_notice = to_stderr});
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
      auto img = Image::open(path, {.create_if_missing = false, .read_only = true});
      json j = json::array();
      std::ostringstream o;
      for (auto& s : memory_sources(img)) {
        j.push_back({{"source", s.source}, {"chunks", s.chunks}, {"bytes", s.bytes}, {"embedded", s.embedded},
                     {"embedder", s.embedder}, {"added_at", s.added_at}});
        o << s.source << "  " << s.chunks << (s.chunks == 1 ? " chunk  " : " chunks  ") << format_bytes(static_cast<uint64_t>(s.bytes))
          << "  " << (s.embedded ? std::to_string(s.embedded) + " embedded (" + s.embedder + ")" : "text only") << "  " << s.added_at << "\n";
      }
      emit(g, j, j.empty() ? "no memories yet (add some with `a4ps memory add`)\n" : o.str());
    });
  }
}

}  // namespace a4ps::cli
