#include "image/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "util/env.h"
#include "util/util.h"

#ifndef A4PS_VERSION
#define A4PS_VERSION "0.0.0"
#endif

namespace a4ps::image {
namespace {

constexpr const char* kFormat = "a4ps-image-export";
constexpr int kFormatVersion = 1;
constexpr const char* kImageEntry = "image.a4ps";

// Removes a set of scratch paths however we leave the scope.
struct Scratch {
  std::vector<fs::path> paths;
  ~Scratch() {
    std::error_code ec;
    for (auto& p : paths) fs::remove_all(p, ec);
  }
};

fs::path sibling_tmp(const fs::path& p, const char* tag) {
  fs::path t = p;
  t += std::string(".") + tag + "-" + std::to_string(getpid());
  return t;
}

// libarchive writes the archive through the image's Env, so a full disk can be simulated;
// the first error is kept to be reported as it was raised.
struct Sink {
  WritableFile* file;
  std::string error;
};

la_ssize_t sink_write(struct archive* a, void* data, const void* buf, size_t n) {
  auto* s = static_cast<Sink*>(data);
  try {
    s->file->append({static_cast<const char*>(buf), n});
    return static_cast<la_ssize_t>(n);
  } catch (const std::exception& e) {
    if (s->error.empty()) s->error = e.what();
    archive_set_error(a, EIO, "%s", e.what());  // libarchive has no message of its own for it
    return -1;
  }
}

void add_entry(struct archive* a, const std::string& name, const std::string& data, const fs::path& dest) {
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, name.c_str());
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  bool ok = archive_write_header(a, e) == ARCHIVE_OK &&
            archive_write_data(a, data.data(), data.size()) == static_cast<la_ssize_t>(data.size());
  archive_entry_free(e);
  if (!ok) throw Error("writing " + dest.string() + " failed: " + archive_error_string(a));
}

}  // namespace

ExportReport export_image(const Image& img, const fs::path& archive_path) {
  std::error_code ec;
  if (fs::exists(archive_path, ec)) throw Error(archive_path.string() + " already exists; choose another path");
  Scratch scratch;
  fs::path snap = sibling_tmp(archive_path, "snapshot");
  fs::path tmp = sibling_tmp(archive_path, "tmp");
  scratch.paths = {snap, fs::path(snap.string() + "-wal"), fs::path(snap.string() + "-shm"), tmp};
  img.save_as(snap);  // a consistent snapshot even while the image is in use
  Info info = Image::open(snap, {.read_only = true}).info();
  std::string data = read_file(snap);
  ExportReport r;
  r.image_sha256 = sha256_hex(data);
  r.image_bytes = data.size();
  r.manifest = {
      {"format", kFormat},
      {"format_version", kFormatVersion},
      {"exported_at", now_utc()},
      {"exported_by", "a4ps " A4PS_VERSION},
      {"image", {{"id", info.id}, {"name", info.name}, {"schema_version", info.schema_version},
                 {"created_at", info.created_at}, {"parent_id", info.parent_id},
                 {"head_seq", info.head_seq}, {"head_hash", info.head_hash}}},
      {"base_model", {{"path", info.base_model_path}, {"sha256", info.base_model_sha256},
                      {"note", "referenced, not included"}}},
      {"files", json::array({{{"path", kImageEntry}, {"size", data.size()}, {"sha256", r.image_sha256}}})}};

  Env* env = img.env();
  auto file = env->new_writable_file(tmp);
  Sink sink{file.get(), ""};
  struct archive* a = archive_write_new();
  std::unique_ptr<struct archive, int (*)(struct archive*)> guard(a, archive_write_free);
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);  // a regular file: no padding to a whole block
  if (archive_write_open(a, &sink, nullptr, sink_write, nullptr) != ARCHIVE_OK)
    throw Error("cannot write " + archive_path.string() + ": " + archive_error_string(a));
  try {
    add_entry(a, "manifest.json", r.manifest.dump(2) + "\n", archive_path);
    add_entry(a, kImageEntry, data, archive_path);
    if (archive_write_close(a) != ARCHIVE_OK)
      throw Error("writing " + archive_path.string() + " failed: " + archive_error_string(a));
    file->close();
  } catch (const Error&) {
    if (sink.error.empty()) throw;
    throw naming(Error(sink.error), tmp, archive_path);  // the file's own error says more
  }
  env->rename_file(tmp, archive_path);
  r.path = archive_path.string();
  r.archive_bytes = fs::file_size(archive_path);
  return r;
}

ImportReport import_image(const fs::path& archive_path, const fs::path& dest, bool overwrite, Env* env) {
  if (!env) env = Env::Default();
  std::error_code ec;
  const std::string ap = archive_path.string();
  if (!fs::is_regular_file(archive_path, ec)) throw Error("no export archive at " + ap + "; check the path");
  if (fs::exists(dest, ec) && !overwrite)
    throw Error(dest.string() + " already exists; choose another path or pass --force to replace it");
  Scratch scratch;
  fs::path tmp = sibling_tmp(dest, "import");
  scratch.paths = {tmp, fs::path(tmp.string() + "-wal"), fs::path(tmp.string() + "-shm")};

  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  std::unique_ptr<struct archive, int (*)(struct archive*)> guard(a, archive_read_free);
  if (archive_read_open_filename(a, archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw Error(ap + " is not an A4PS export (" + archive_error_string(a) + ")");
  ImportReport r;
  bool have_image = false;
  std::string got_sum;
  uint64_t got_size = 0;
  archive_entry* e = nullptr;
  int rc;
  while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(e);
    if (name == "manifest.json") {
      std::string text;
      char buf[8192];
      la_ssize_t n;
      while ((n = archive_read_data(a, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
      r.manifest = json::parse(text, nullptr, false);
      if (r.manifest.is_discarded() || r.manifest.value("format", "") != kFormat)
        throw Error(ap + " is not an A4PS export (bad manifest.json)");
      if (r.manifest.value("format_version", 0) > kFormatVersion)
        throw Error(ap + " was written by a newer a4ps (export format " +
                    std::to_string(r.manifest.value("format_version", 0)) + "); upgrade a4ps");
    } else if (name == kImageEntry) {
      if (r.manifest.is_null()) throw Error(ap + " is not an A4PS export (manifest.json must come first)");
      Sha256 h;
      char buf[1 << 16];
      la_ssize_t n = 0;
      try {
        auto out = env->new_writable_file(tmp);
        while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
          h.update(buf, static_cast<size_t>(n));
          out->append({buf, static_cast<size_t>(n)});
          got_size += static_cast<uint64_t>(n);
        }
        out->close();
      } catch (const Error& err) {
        throw naming(err, tmp, dest);
      }
      if (n < 0) throw Error(ap + " is damaged (" + archive_error_string(a) + "); export it again");
      got_sum = h.hex();
      have_image = true;
    } else {
      throw Error(ap + " holds an unexpected entry '" + name + "'; it is not an A4PS export");
    }
  }
  if (rc != ARCHIVE_EOF) throw Error(ap + " is damaged (" + archive_error_string(a) + "); export it again");
  if (!have_image) throw Error(ap + " holds no image (is it truncated?); export it again");
  const json* file = nullptr;
  for (auto& f : r.manifest["files"])
    if (f.value("path", "") == kImageEntry) file = &f;
  if (!file || file->value("sha256", "") != got_sum || file->value("size", uint64_t{0}) != got_size)
    throw Error(ap + " is damaged: " + kImageEntry + " does not match the manifest's size/sha256; export it again");
  {
    Image img = Image::open(tmp, {.read_only = true});
    CheckReport c = img.check();
    if (!c.ok) throw Error(ap + ": the imported image fails its check: " + c.problems.front());
    if (img.meta("head_hash") != r.manifest["image"].value("head_hash", ""))
      throw Error(ap + ": the image's event chain does not end where the manifest says; export it again");
  }
  env->rename_file(tmp, dest);
  r.path = dest.string();
  std::string base = r.manifest["base_model"].value("path", "");
  r.base_model_present = !base.empty() && fs::exists(base, ec);
  return r;
}

}  // namespace a4ps::image
