// The public text helpers: the library's own, behind std-only signatures.
#include "a4ps/text.h"

#include "util/util.h"

namespace a4ps {

std::string format_bytes(uint64_t n) { return human_bytes(n); }
std::string clip_text(std::string_view s, size_t max, std::string_view mark) { return utf8_clip(s, max, mark); }
std::string read_file_bytes(const std::string& path) { return read_file(path); }
void write_file_bytes(const std::string& path, std::string_view bytes) { write_file(path, bytes); }
std::string new_id() { return random_id(); }

}  // namespace a4ps
