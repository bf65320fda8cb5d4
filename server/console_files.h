// The console's static files (web/), embedded at build time by cmake/embed_web.cmake.
#pragma once
#include <cstddef>
#include <vector>

namespace a4ps::server {

struct ConsoleFile {
  const char* path;  // "/index.html", "/app.js", ...
  const char* data;
  size_t size;
  const char* etag;  // a quoted hash of the bytes
};
const std::vector<ConsoleFile>& console_files();

}  // namespace a4ps::server
