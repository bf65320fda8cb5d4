// Small helpers programs share with the library, so that sizes, clipped text and files
// read the same in the CLI, the service and the library's own messages.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "a4ps/error.h"

namespace a4ps {

std::string format_bytes(uint64_t n);  // "512 B", "1.5 KiB", "2.0 GiB"
// At most max bytes of s, cut at a UTF-8 character boundary, with mark appended when cut.
std::string clip_text(std::string_view s, size_t max, std::string_view mark = "…");
// A file's bytes; throws Error naming the file when it cannot be read.
std::string read_file_bytes(const std::string& path);
// Writes bytes atomically (a temporary beside it, then rename); throws Error naming the file.
void write_file_bytes(const std::string& path, std::string_view bytes);
// A fresh random id (32 hex characters); programs cut it for thread names.
std::string new_id();

}  // namespace a4ps
