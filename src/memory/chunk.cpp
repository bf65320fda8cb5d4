// Splitting text into chunks small enough to embed and specific enough to rank.
#include <algorithm>

#include "memory/internal.h"

namespace a4ps::memory {

namespace {

bool space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// Where a chunk starting at s should end, at most at limit: the last paragraph break,
// else sentence end, else space in the second half of the window; else a character boundary.
size_t break_at(std::string_view t, size_t s, size_t limit) {
  size_t lo = s + (limit - s) / 2;
  if (size_t p = t.rfind("\n\n", limit - 2); p != std::string_view::npos && p >= lo) return p;
  for (size_t p = limit - 1; p > lo; --p)
    if ((t[p - 1] == '.' || t[p - 1] == '!' || t[p - 1] == '?') && space(t[p])) return p;
  for (size_t p = limit; p > lo; --p)
    if (space(t[p])) return p;
  size_t p = limit;
  while (p > s + 1 && continuation(t[p])) --p;
  return p;
}

}  // namespace

std::vector<std::string> chunk_text(std::string_view text, const ChunkOptions& o) {
  if (o.max_chars < 16) throw Error("chunk size must be at least 16 bytes");
  if (o.overlap >= o.max_chars) throw Error("chunk overlap must be smaller than the chunk size");
  std::vector<std::string> out;
  text = trim(text);
  size_t n = text.size(), s = 0;
  while (s < n) {
    while (s < n && space(text[s])) ++s;
    if (n - s <= o.max_chars) {
      if (auto c = trim(text.substr(s)); !c.empty()) out.emplace_back(c);
      break;
    }
    size_t e = break_at(text, s, s + o.max_chars);
    if (auto c = trim(text.substr(s, e - s)); !c.empty()) out.emplace_back(c);
    // The next chunk starts overlap bytes back, moved forward to the start of a word.
    size_t ns = e;
    if (o.overlap > 0) {
      ns = std::max(e > o.overlap ? e - o.overlap : 0, s + 1);
      if (ns > 0 && !space(text[ns - 1]))
        for (size_t p = ns; p < e; ++p)
          if (space(text[p])) {
            ns = p + 1;
            break;
          }
    }
    while (ns < n && continuation(text[ns])) ++ns;
    s = std::max(ns, s + 1);
  }
  return out;
}

}  // namespace a4ps::memory
