// The public Imagefile API: builds with the layer cache, pruning it, and the reverse
// (an Imagefile that rebuilds an image).
#include "a4ps/build.h"

#include <filesystem>

#include "api/internal.h"
#include "imagefile/build.h"

namespace a4ps {

namespace fs = std::filesystem;

namespace {

BuildStep step_of(const imagefile::Step& s) {
  return {.index = s.index, .total = s.total, .text = s.text, .layer = s.layer, .cached = s.cached, .seconds = s.seconds};
}

}  // namespace

BuildResult build_image(const BuildOptions& o) {
  if (o.output.empty() && o.tag.empty()) throw Error("a build needs an output file or a tag (or both)");
  imagefile::BuildOptions b{.imagefile = o.imagefile, .output = o.output, .tag = o.tag, .no_cache = o.no_cache,
                            .cache_dir = o.cache_dir, .reviewer = o.reviewer, .sandbox = o.sandbox, .threads = o.threads};
  if (o.on_start) b.on_start = [f = o.on_start](const imagefile::Step& s) { f(step_of(s)); };
  if (o.on_step) b.on_step = [f = o.on_step](const imagefile::Step& s) { f(step_of(s)); };
  imagefile::BuildResult r;
  try {
    r = imagefile::build(b);
  } catch (const imagefile::ParseError& e) {
    throw BuildError(e.what());  // already located: FILE:LINE:COL: error: ...
  }
  BuildResult out{.layer = r.layer, .imagefile_sha256 = r.imagefile_sha256, .cached = r.cached};
  for (auto& s : r.steps) out.steps.push_back(step_of(s));
  for (auto& a : r.approvals) out.approvals.push_back({a.proposal, a.kind, a.target, a.reviewer, a.reason});
  return out;
}

PruneResult prune_build_cache(const std::string& cache_dir) {
  auto r = imagefile::prune(cache_dir);
  return {.removed = r.removed, .kept = r.kept, .bytes_freed = r.bytes_freed};
}

std::string tagged_image(const std::string& tag, const std::string& cache_dir) {
  return imagefile::tag_path(tag, cache_dir).string();
}

std::string write_imagefile(const std::string& image_or_tag, const std::string& dir) {
  // A path that does not exist and names no folder is taken as a build tag.
  std::error_code ec;
  fs::path p = image_or_tag;
  if (!fs::exists(p, ec) && image_or_tag.find('/') == std::string::npos) p = imagefile::tag_path(image_or_tag);
  Image img = Image::open(p.string(), {.create_if_missing = false, .read_only = true});
  return imagefile::write_imagefile(img.impl().img, dir).string();
}

}  // namespace a4ps
