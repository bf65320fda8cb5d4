// Small shared helpers: the project's error type, hashing, time and files.
#pragma once
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

#include "a4ps/error.h"

namespace a4ps {

// a4ps::Error (one line: what was wrong and what to do) is the public API's own.

// Incremental SHA-256 (OpenSSL underneath); hex output, lower case.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256& update(std::string_view data);
  Sha256& update(const void* data, size_t n);
  std::string hex();  // finishes; the object is spent afterwards
 private:
  void* ctx_;
};

std::string sha256_hex(std::string_view data);
std::string sha256_file(const std::filesystem::path& path);  // throws Error

// Through Env::Default() (util/env.h); code that holds an Env* calls it instead.
std::string now_utc();          // ISO-8601 with milliseconds, e.g. 2026-11-25T16:30:00.123Z
std::string random_id();        // 128-bit random id as 32 hex chars
std::string read_file(const std::filesystem::path& path);  // throws Error
std::string human_bytes(uint64_t n);
// Standard base64 (RFC 4648, padded) to bytes; throws Error on anything else.
std::string base64_decode(std::string_view b64);
// Writes bytes to path atomically (a temporary beside it, then rename); throws Error.
void write_file(const std::filesystem::path& path, std::string_view bytes);

// UTF-8 (JSON and SQLite text want it valid; model output can split or invent characters).
// True when s is valid; otherwise *bad (when given) is the offset of the first bad byte.
bool utf8_valid(std::string_view s, size_t* bad = nullptr);
// s with every invalid sequence replaced by U+FFFD.
std::string utf8_clean(std::string_view s);
// At most max bytes of s, cut at a character boundary, with mark appended when cut.
std::string utf8_clip(std::string_view s, size_t max, std::string_view mark = "…");

}  // namespace a4ps
