// An image: the one file (*.a4ps) that holds everything the agent is — personas, tools,
// the codex, memories, conversations, adapters and the audit log of every change. Open
// one, then talk to it through a Session (session.h), or reach its tools, memory and
// learning loop (tools.h, memory.h, learn.h).
//
// Contract: every write goes through the image's codex (its rules see each event before
// it is committed) and lands in one transaction with its event; a failed call leaves
// the image as it was. An Image is used from one thread at a time.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "a4ps/error.h"

namespace a4ps {

struct ImageOptions {
  bool create_if_missing = true;  // like `ollama run`: a new image on first use
  bool read_only = false;
  std::string base_model;         // for a new image: a GGUF it remembers by path + sha256
};

struct ImageInfo {
  std::string path, id, name, base_model;
  int64_t personas = 0, tools = 0, memories = 0, threads = 0, proposals_pending = 0, events = 0;
};

class Image {
 public:
  // Opens (or creates) the image at `path`; throws Error when it is not an image.
  static Image open(const std::string& path, const ImageOptions& options = {});
  Image(Image&&) noexcept;
  Image& operator=(Image&&) noexcept;
  ~Image();

  const std::string& path() const;
  ImageInfo info() const;
  // SQLite's integrity check, the whole hash-chained event log and every blob's hash.
  bool check(std::string* problem = nullptr) const;
  std::string setting(const std::string& key) const;  // "" when unset
  void set_setting(const std::string& key, const std::string& value);

  struct Impl;  // the library's side; not for programs
  Impl& impl() const { return *impl_; }

 private:
  explicit Image(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace a4ps
