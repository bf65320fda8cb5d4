// Export/import: one portable tar file holding manifest.json and a snapshot of the image.
// The manifest carries sizes and sha256 sums; import verifies them and the event chain
// before the image appears at its destination.
#pragma once
#include "image/image.h"

namespace a4ps::image {

struct ExportReport {
  std::string path, image_sha256;
  uint64_t archive_bytes = 0, image_bytes = 0;
  json manifest;
};

struct ImportReport {
  std::string path;
  json manifest;
  bool base_model_present = false;  // the GGUF is referenced, not carried
};

ExportReport export_image(const Image& img, const fs::path& archive);
// Writes the image through env (nullptr: Env::Default()); export uses the source image's Env.
ImportReport import_image(const fs::path& archive, const fs::path& dest, bool overwrite = false, Env* env = nullptr);

}  // namespace a4ps::image
