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
#include <vector>

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
  // The rest of what `a4ps image info` shows.
  std::string created_at, parent_id;  // parent: the image it was forked from ("" none)
  int schema_version = 0;
  std::string journal_mode;
  uint64_t file_bytes = 0;
  std::string base_model_sha256;
  int64_t codex = 0, adapters = 0, checkpoints = 0, proposals = 0;
  int64_t head_seq = 0;  // the newest event of the hash-chained log
  std::string head_hash;
};

// For create_image (below): what a new image file is made with.
struct CreateImageOptions {
  std::string name;        // "" the file's stem
  std::string base_model;  // a GGUF recorded by path + sha256 (not copied); "" none
  bool overwrite = false;  // replace an existing file (else that is an Error)
  bool full_sync = true;   // fsync every commit (survives power loss); false: survives crashes
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
  friend Image create_image(const std::string& path, const CreateImageOptions& options);
  explicit Image(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// --- whole image files (what `a4ps image` does) ---

// Makes a new image file and opens it for writing (guarded by its codex); full_sync
// stays the handle's commit durability.
Image create_image(const std::string& path, const CreateImageOptions& options = {});

// An online backup of image at dest (safe while others write); dest must not exist.
void save_image_as(const Image& image, const std::string& dest);
// A copy of the image at src under a new identity that records its parent; name "" the
// file's stem. Returns the fork's info.
ImageInfo fork_image(const std::string& src, const std::string& dest, const std::string& name = "");

struct CheckResult {
  bool ok = true;
  std::vector<std::string> problems;  // empty when ok
  int64_t events_verified = 0, blobs_verified = 0;
  int64_t codex_states_verified = 0;  // saved codex states that a replay of the log reached
};
// SQLite's integrity check, the whole hash-chained event log, every blob's hash, and the
// codex state an open starts from (saved every 1,000 events) against a replay of the log.
CheckResult check_image(const Image& image);

struct ImageDiff {
  bool empty = true;  // the images hold the same personas, tools, codex, adapters, memories, settings
  std::string text;   // readable, with unified diffs of each changed object
  std::string json;   // the same as JSON (what `a4ps image diff --json` prints)
};
ImageDiff diff_images(const Image& a, const Image& b);

struct ExportResult {
  std::string path, image_sha256;
  uint64_t archive_bytes = 0, image_bytes = 0;
  std::string manifest_json;
};
// Writes one portable tar file: a manifest (sizes, sha256 sums) and a snapshot of the image.
ExportResult export_image(const Image& image, const std::string& archive);

struct ImportResult {
  std::string path;
  std::string manifest_json;
  std::string base_model;           // the GGUF it names ("" none): referenced, not carried
  bool base_model_present = false;  // whether that file is on this machine
};
// Unpacks an exported archive into a new image at dest, verifying checksums and the event
// chain first; nothing appears at dest when that fails.
ImportResult import_image(const std::string& archive, const std::string& dest, bool overwrite = false);

}  // namespace a4ps
