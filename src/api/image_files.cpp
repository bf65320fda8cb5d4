// The public whole-image operations: create, back up, fork, check, diff, export, import.
#include <filesystem>

#include "api/internal.h"
#include "codex/codex.h"
#include "image/archive.h"
#include "image/diff.h"

namespace a4ps {

namespace fs = std::filesystem;

ImageInfo info_of(const image::Info& i) {
  const auto& c = i.counts;
  ImageInfo o{.path = i.path, .id = i.id, .name = i.name, .base_model = i.base_model_path, .personas = c.personas,
              .tools = c.tools, .memories = c.memories, .threads = c.threads, .proposals_pending = c.proposals_pending,
              .events = c.events};
  o.created_at = i.created_at;
  o.parent_id = i.parent_id;
  o.schema_version = i.schema_version;
  o.journal_mode = i.journal_mode;
  o.file_bytes = i.file_bytes;
  o.base_model_sha256 = i.base_model_sha256;
  o.codex = c.codex;
  o.adapters = c.adapters;
  o.checkpoints = c.checkpoints;
  o.proposals = c.proposals;
  o.head_seq = i.head_seq;
  o.head_hash = i.head_hash;
  return o;
}

Image create_image(const std::string& path, const CreateImageOptions& o) {
  auto img = image::Image::create(path, {.name = o.name, .base_model = o.base_model, .overwrite = o.overwrite,
                                         .sync = o.full_sync ? image::Sync::Full : image::Sync::Normal});
  img.set_guard(codex::guard(codex::image_codex(img)));  // every write passes the codex, as after open()
  return Image(std::make_unique<Image::Impl>(Image::Impl{path, std::move(img), false}));
}

void save_image_as(const Image& image, const std::string& dest) { image.impl().img.save_as(dest); }

ImageInfo fork_image(const std::string& src, const std::string& dest, const std::string& name) {
  return info_of(image::fork(src, dest, name).info());
}

CheckResult check_image(const Image& image) {
  auto r = image.impl().img.check();
  CheckResult out{.ok = r.ok, .problems = r.problems, .events_verified = r.events_verified, .blobs_verified = r.blobs_verified};
  if (!r.ok) return out;  // a damaged log is not replayed
  auto s = codex::check_saved_states(image.impl().img);
  out.codex_states_verified = s.verified;
  out.problems.insert(out.problems.end(), s.problems.begin(), s.problems.end());
  out.ok = out.problems.empty();
  return out;
}

ImageDiff diff_images(const Image& a, const Image& b) {
  auto r = image::diff(a.impl().img, b.impl().img);
  return {.empty = r.empty(), .text = r.to_text(), .json = r.to_json().dump()};
}

ExportResult export_image(const Image& image, const std::string& archive) {
  auto r = image::export_image(image.impl().img, archive);
  return {.path = r.path, .image_sha256 = r.image_sha256, .archive_bytes = r.archive_bytes, .image_bytes = r.image_bytes,
          .manifest_json = r.manifest.dump()};
}

ImportResult import_image(const std::string& archive, const std::string& dest, bool overwrite) {
  auto r = image::import_image(archive, dest, overwrite);
  std::string base;
  if (r.manifest.is_object() && r.manifest.value("base_model", nlohmann::json()).is_object())
    base = r.manifest["base_model"].value("path", "");
  return {.path = r.path, .manifest_json = r.manifest.dump(), .base_model = base, .base_model_present = r.base_model_present};
}

}  // namespace a4ps
